"""Patch for PyFlink 2.0's Kafka wrapper, applied once before any KafkaSource is built.

PyFlink's wrapper names Kafka classes under the shaded package
``org.apache.flink.kafka.shaded.org.apache.kafka`` while the official connector jar
(flink-connector-kafka 4.0.1-2.0) ships them unshaded, so
``KafkaOffsetsInitializer.committed_offsets()`` fails with a Py4J "not a class" error.
The two converters below name the real classes. Remove this module when PyFlink's
wrapper matches the connector (checked by tests/unit/test_kafka_compat.py).
"""
from __future__ import annotations

from pyflink.datastream.connectors import kafka
from pyflink.java_gateway import get_gateway


def _topic_partition(self):
    return get_gateway().jvm.org.apache.kafka.common.TopicPartition(self._topic, self._partition)


def _reset_strategy(self):
    return getattr(get_gateway().jvm.org.apache.kafka.clients.consumer.OffsetResetStrategy, self.name)


def apply() -> None:
    kafka.KafkaTopicPartition._to_j_topic_partition = _topic_partition
    kafka.KafkaOffsetResetStrategy._to_j_offset_reset_strategy = _reset_strategy
