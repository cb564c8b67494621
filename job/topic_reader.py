"""Reading a topic without a consumer group: the model CLI reads the model status topic
with it, and the demo, tests and benchmarks read the job's outputs."""

from __future__ import annotations

import time
from typing import Callable, Optional


class TopicReader:
    """Reads a whole topic, or what comes after its current end, with assign(): a reader
    that wants every partition from a known offset needs no group coordination. It
    reads committed records only (librdkafka's default isolation.level, made explicit):
    a transactional (exactly-once) sink's aborted writes are never seen. ``extra``:
    more librdkafka settings, e.g. ``KafkaConfig.security.librdkafka()``."""

    def __init__(self, bootstrap: str, topic: str, extra: Optional[dict] = None, from_end: bool = False):
        """``from_end``: skip what the topic holds now. The end offsets are fetched before
        returning, so nothing produced afterwards is missed."""
        from confluent_kafka import Consumer, TopicPartition

        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "silocompro-reader",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
                "isolation.level": "read_committed",
                **(extra or {}),
            }
        )
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        starts = {p: self._end(TopicPartition(topic, p)) if from_end else 0 for p in partitions}
        self.consumer.assign([TopicPartition(topic, p, offset) for p, offset in starts.items()])

    def _end(self, partition, seconds: float = 30) -> int:
        """A partition's end offset; a partition whose leader is still being elected (a
        topic just created, a broker just restarted) answers a retriable error first."""
        from confluent_kafka import KafkaError, KafkaException

        electing = {
            KafkaError.NOT_LEADER_FOR_PARTITION,
            KafkaError.LEADER_NOT_AVAILABLE,
            KafkaError.UNKNOWN_TOPIC_OR_PART,
        }
        deadline = time.monotonic() + seconds
        while True:
            try:
                return self.consumer.get_watermark_offsets(partition, timeout=10)[1]
            except KafkaException as err:
                if err.args[0].code() not in electing or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def poll(self, seconds: float) -> list:
        """Messages that arrive within ``seconds``, with their receive time."""
        found, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.consumer.poll(min(0.2, max(0.0, deadline - time.monotonic())))
            if message is not None and not message.error():
                found.append((time.time(), message))
        return found

    def read_until(self, enough: Callable[[list], bool], idle: float, linger: float = 1.0) -> list:
        """(receive time, message) pairs until ``enough(pairs)`` or ``idle`` seconds without
        a new message, then ``linger`` seconds more, so that duplicates trailing the last
        wanted message are seen too."""
        found, deadline = [], time.monotonic() + idle
        while time.monotonic() < deadline and not enough(found):
            batch = self.poll(0.5)
            found += batch
            if batch:
                deadline = time.monotonic() + idle
        return found + self.poll(linger)

    def close(self) -> None:
        self.consumer.close()
