"""The local broker alone: produce -> consume latency on one new partition as it grows.

    python -m benchmarks.broker [--rate 660] [--seconds 30]

Both jobs' latencies include two trips through the broker (input topic, output topic), so
the broker's own share is measured here with no Flink at all: one paced producer and one
reader (the same client settings as the end-to-end benchmark's) on a fresh one-partition
topic. The last quarter of this run against its first quarter shows whether the broker's
cost per fetch grows with what a partition holds (tansu's did, which is why every latency
load of ``benchmarks.endtoend`` runs on fresh topics; Apache Kafka's should not).
"""

from __future__ import annotations

import argparse
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
from confluent_kafka import Producer

from job.topic_reader import TopicReader
from local.broker import create_topics
from local.jobprocess import PrivateBroker
from local.traffic import HISTORIC, Message, send

PAYLOAD_BYTES = 1300  # about a specification-shaped historic message (local.traffic)


def run(rate: float = 660.0, seconds: float = 30.0) -> dict:
    """{"rate", "messages", "first_quarter": {p50, p99 ms, broker_cores}, "last_quarter": {...}}."""
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as tmp:
        broker = PrivateBroker(Path(tmp) / "kafka")
        try:
            topic = "bench_broker"
            create_topics(broker.bootstrap, [topic], 1)
            latencies, cpu = _paced(broker, topic, rate, int(rate * seconds))
        finally:
            broker.stop()
    quarter = max(1, len(latencies) // 4)
    return {
        "rate": rate,
        "messages": len(latencies),
        "first_quarter": {**_percentiles(latencies[:quarter]), "broker_cores": _cores(cpu, 0.0, 0.25)},
        "last_quarter": {**_percentiles(latencies[-quarter:]), "broker_cores": _cores(cpu, 0.75, 1.0)},
    }


def _paced(broker: PrivateBroker, topic: str, rate: float, count: int) -> tuple[list[float], list[tuple]]:
    """Latency in ms of each message in publication order (each carries its send time),
    and (wall time, broker CPU seconds) samples."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1})
    reader = TopicReader(broker.bootstrap, topic)
    padding = bytes(PAYLOAD_BYTES - 8)
    latencies: list[float] = []
    start, sent = time.monotonic(), 0
    cpu = [(start, broker.cpu_seconds())]
    try:
        while len(latencies) < count and time.monotonic() - start < count / rate + 30:
            if time.monotonic() - cpu[-1][0] >= 1.0:
                cpu.append((time.monotonic(), broker.cpu_seconds()))
            due = min(count, int((time.monotonic() - start) * rate) + 1)
            for _ in range(due - sent):
                send(producer, topic, Message(HISTORIC, None, struct.pack("<d", time.time()) + padding))
            sent = due
            producer.poll(0)
            for received, message in reader.poll(0.005):
                latencies.append((received - struct.unpack_from("<d", message.value())[0]) * 1000)
    finally:
        producer.flush(10)
        reader.close()
    return latencies, cpu


def _cores(cpu: list[tuple[float, float]], start: float, end: float) -> float:
    """Cores the broker used between two fractions of the run."""
    first, last = cpu[int(start * (len(cpu) - 1))], cpu[int(end * (len(cpu) - 1))]
    return (last[1] - first[1]) / (last[0] - first[0]) if last[0] > first[0] else float("nan")


def _percentiles(latencies: list[float]) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(latencies, q)) for q in (50, 99)}


def line(report: dict) -> str:
    first, last = report["first_quarter"], report["last_quarter"]
    return (
        f"the broker alone, {report['rate']:,.0f} messages/s into one new partition ({report['messages']:,} messages): "
        f"produce->consume p50 / p99 {first['p50']:.0f} / {first['p99']:.0f} ms and the broker at "
        f"{first['broker_cores']:.2f} cores in the first quarter, {last['p50']:.0f} / {last['p99']:.0f} ms "
        f"and {last['broker_cores']:.2f} cores in the last"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=660.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    print(line(run(args.rate, args.seconds)))


if __name__ == "__main__":
    main()
