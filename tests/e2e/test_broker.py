"""The local Apache Kafka broker behaves as Kafka: exact end offsets after a batch, consumer
groups through subscribe(), and a log on disk that outlives a restart."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from local.broker import create_topics
from local.jobprocess import free_port
from local.kafka import KafkaNode

pytestmark = pytest.mark.slow

RECORDS = 100


def consume_as_group(bootstrap: str, topic: str, group: str, wanted: int, seconds: float = 60) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values, deadline = [], time.monotonic() + seconds
    try:
        while len(values) < wanted and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                values.append(message.value())
    finally:
        consumer.close()
    return values


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = KafkaNode(tmp_path_factory.mktemp("kafka-node"), "127.0.0.1", free_port(), free_port())
    node.start()
    yield node
    node.stop()


def test_a_batch_of_records_gives_the_exact_high_watermark(node):
    create_topics(node.bootstrap, ["batch"], partitions=1)
    producer = Producer({"bootstrap.servers": node.bootstrap, "linger.ms": 50})
    for i in range(RECORDS):
        producer.produce("batch", value=str(i).encode())
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": node.bootstrap, "group.id": "hwm"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition("batch", 0), timeout=10) == (0, RECORDS)
    finally:
        consumer.close()


def test_a_consumer_group_receives_the_records_through_subscribe(node):
    values = consume_as_group(node.bootstrap, "batch", "subscribers", RECORDS)
    assert sorted(int(v) for v in values) == list(range(RECORDS))


def test_records_survive_a_broker_restart(node):
    node.stop()
    node.start()
    values = consume_as_group(node.bootstrap, "batch", "after-restart", RECORDS)
    assert sorted(int(v) for v in values) == list(range(RECORDS))
