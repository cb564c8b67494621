"""Traffic on a schedule, and reading results back: halves that must arrive at chosen
moments (join edge cases), or a stream that keeps flowing while faults are injected."""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from job.topic_reader import TopicReader
from local.traffic import Message, produce


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the schedule starts
    messages: tuple[Message, ...]


def as_stream(messages: list[Message], seed: int, window: int = 20) -> list[Message]:
    """Sessions in uuid order, shuffled only within ``window`` messages: the two halves of
    a session arrive within a fraction of a second of each other, as from live enrichment
    pipelines (plan_sessions shuffles a whole run, which suits a backlog, not a stream)."""
    rng = random.Random(seed)
    ordered = sorted(messages, key=lambda m: -1 if m.uuid is None else m.uuid)
    chunks = [ordered[i : i + window] for i in range(0, len(ordered), window)]
    return [message for chunk in chunks for message in rng.sample(chunk, len(chunk))]


def send_schedule(bootstrap: str, topics: dict[str, str], steps: list[Step]) -> None:
    start = time.monotonic()
    for step in sorted(steps, key=lambda s: s.at):
        time.sleep(max(0.0, start + step.at - time.monotonic()))
        produce(bootstrap, topics, step.messages)


class Background(threading.Thread):
    """Runs ``send`` in a thread; ``join()`` re-raises what it raised."""

    def __init__(self, send: Callable[[], None]):
        super().__init__(daemon=True)
        self.send, self.error = send, None

    def run(self) -> None:
        try:
            self.send()
        except BaseException as err:  # noqa: BLE001 - handed to the test thread by join()
            self.error = err

    def join(self, timeout: Optional[float] = None) -> None:
        super().join(timeout)
        if self.error:
            raise self.error


def read_until(
    reader: TopicReader, enough: Callable[[list[dict]], bool], idle: float, linger: float = 2.0
) -> list[dict]:
    """``reader.read_until`` with JSON bodies, each with ``_at``: when the job wrote it (the
    record's CreateTime, in seconds), since a test may read long after the fact."""
    bodies: list[dict] = []

    def enough_pairs(pairs: list) -> bool:
        bodies.extend(_body(message) for _, message in pairs[len(bodies) :])
        return enough(bodies)

    return [_body(message) for _, message in reader.read_until(enough_pairs, idle, linger)]


def _body(message) -> dict:
    return json.loads(message.value()) | {"_at": message.timestamp()[1] / 1000}
