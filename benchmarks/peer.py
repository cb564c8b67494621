"""The benchmark's peer: what a user would write instead of Flink, one plain Python process.

    python -m benchmarks.peer [--set section.key=value ...] [--batch 500]

One confluent-kafka consumer on both input topics, the job's Python parser (job/inputs.py
with job/shapes.py's fast path, the rules the job runs on the JVM), a dict join with the
job's own rules (job/sessions.py, event time from the record
timestamps: a session waits for its other half until the lower of the two topics' newest
timestamps, less the out-of-orderness, passes its first half + the timeout; with nothing
read for ``join.valve_ms`` every waiting session is decided), scoring with pypmml on
each polled micro-batch, and a producer writing the same prediction messages. Nothing is
checkpointed and its join state is never evicted: a benchmark run is bounded, and
fault tolerance is what the comparison leaves out on purpose, so the peer sets a floor
on what the job's machinery is allowed to cost.
"""

from __future__ import annotations

import argparse
import heapq
import signal
import sys
import time
from typing import Optional

from confluent_kafka import Consumer, Producer

from job import outputs
from job.config import Config, ConfigError, load_config, parse_set_flags, read_token
from job.decision import decide
from job.engines import open_scorer
from job.inputs import Rejection, parse_demographic, parse_historic
from job.model import load_spec
from job.pmml import ModelError
from job.sessions import NO_WATERMARK, Clock, JoinedSession, Rules, Session

FAR_FUTURE = 2**62


class PeerJoin:
    """The job's join rules on a dict, with a heap of deadlines instead of timers."""

    def __init__(self, cfg: Config):
        self.rules = Rules(cfg.join.timeout_ms, cfg.join.valve_ms)
        self.lateness = cfg.join.watermarks.out_of_orderness_ms
        self.state: dict[int, Session] = {}
        self.deadlines: list[tuple[int, int]] = []  # (deadline ms, uuid)
        self.newest: dict[str, int] = {}  # topic -> newest record timestamp read

    def watermark(self, topics: tuple[str, str]) -> int:
        if len(self.newest) < len(topics):
            return NO_WATERMARK
        return min(self.newest[t] for t in topics) - self.lateness

    def arrive(self, topic: str, half, timestamp: int) -> Optional[JoinedSession]:
        """The Clock's watermark, time and count feed the job's valve timers, which the
        peer replaces by deciding everything after valve_ms without records."""
        self.newest[topic] = max(self.newest.get(topic, NO_WATERMARK), timestamp)
        step = self.rules.on_arrival(self.state.get(half.uuid), half, Clock(timestamp, NO_WATERMARK, 0, 0))
        if step.state is not None:
            self.state[half.uuid] = step.state
        if step.deadline is not None:
            heapq.heappush(self.deadlines, (step.deadline, half.uuid))
        return step.emit

    def expire(self, watermark: int) -> list[JoinedSession]:
        """Decide the sessions whose deadline the watermark passed (FAR_FUTURE: all)."""
        out = []
        while self.deadlines and self.deadlines[0][0] <= watermark:
            deadline, uuid = heapq.heappop(self.deadlines)
            step = self.rules.on_deadline(self.state.get(uuid), uuid, deadline)
            if step is not None:
                self.state[uuid] = step.state
                out.append(step.emit)
        return out


def run(cfg: Config, token: str, batch: int) -> None:
    spec = load_spec(cfg.model.pmml, cfg.model.metadata, cfg.model.threshold, "pypmml")
    scorer = open_scorer(spec)
    topics = (cfg.kafka.topics.demographic, cfg.kafka.topics.historic)
    parsers = {topics[0]: parse_demographic, topics[1]: parse_historic}
    consumer = Consumer(
        cfg.kafka.client(
            **{
                "group.id": f"{cfg.kafka.group_id}-peer",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
                "fetch.wait.max.ms": 10,
            }
        )
    )
    producer = Producer(cfg.kafka.client(**{"linger.ms": 5}))
    consumer.subscribe(list(topics))
    join, last_read = PeerJoin(cfg), time.monotonic()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    print(f"peer: {topics[0]} + {topics[1]} -> {cfg.kafka.topics.prediction} (pypmml, batches of {batch})", flush=True)
    try:
        while not stopping:
            decided: list[JoinedSession] = []
            records = consumer.consume(batch, 0.05)
            for record in records:
                if record.error():
                    continue
                parsed = parsers[record.topic()](record.value() or b"", cfg.max_message_bytes)
                if isinstance(parsed, Rejection):
                    continue
                emitted = join.arrive(record.topic(), parsed, record.timestamp()[1])
                if emitted is not None:
                    decided.append(emitted)
            if records:
                last_read = time.monotonic()
                decided += join.expire(join.watermark(topics))
            elif time.monotonic() - last_read > cfg.join.valve_ms / 1000:  # the valve: nothing moves
                decided += join.expire(FAR_FUTURE)
            publish(producer, cfg, scorer, spec.threshold, decided, token)
            producer.poll(0)
    finally:
        consumer.close()
        producer.flush(10)
        scorer.close()


def publish(
    producer: Producer, cfg: Config, scorer, threshold: float, sessions: list[JoinedSession], token: str
) -> None:
    """Score the micro-batch in one pypmml call and write one prediction per session."""
    if not sessions:
        return
    scored = [s for s in sessions if not (s.timed_out and cfg.join.on_timeout == "default")]
    scores = scorer.score_batch([s.feature_row() for s in scored]).tolist()
    probabilities = dict(zip((s.uuid for s in scored), scores))
    for session in sessions:
        value = decide(probabilities.get(session.uuid), threshold, cfg.model.safe_default)
        producer.produce(
            cfg.kafka.topics.prediction, key=str(session.uuid), value=outputs.prediction(session.uuid, value, token)
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--batch", type=int, default=500, help="most records per poll, scored in one call")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(overrides=parse_set_flags(args.set))
        run(cfg, read_token(cfg), args.batch)
    except (ConfigError, ModelError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
