"""When each session starts and when its two enrichment messages reach Kafka.

The demographic and the purchase-history pipelines are independent systems: each adds
its own delay (log-normal, a median and a 99th percentile, as latency SLOs are usually
stated), so the two halves of a session arrive in either order; a pipeline now and then
publishes a record twice (at-least-once delivery) or not at all (a failed lookup). The
job must cope with all of it, and the experiment measures it while it does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from statistics import NormalDist
from typing import Optional

import numpy as np

from local.traffic import DEMOGRAPHIC, HISTORIC, Message, demographic_message, historic_message

_Z99 = NormalDist().inv_cdf(0.99)


@dataclass(frozen=True)
class Delay:
    """A log-normal delay given by its median and 99th percentile, in ms."""

    median_ms: float
    p99_ms: float

    def __post_init__(self) -> None:
        if not 0 < self.median_ms <= self.p99_ms:
            raise ValueError(f"delay needs 0 < median_ms <= p99_ms, got {self.median_ms}, {self.p99_ms}")

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        sigma = np.log(self.p99_ms / self.median_ms) / _Z99
        return self.median_ms * np.exp(sigma * rng.standard_normal(size)) / 1000.0


@dataclass(frozen=True)
class Enrichment:
    demographic: Delay
    historic: Delay
    duplicate_share: float  # of messages published twice
    missing_side_share: float  # of sessions where one pipeline publishes nothing

    def __post_init__(self) -> None:
        for name in ("duplicate_share", "missing_side_share"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"enrichment.{name} must lie in [0, 1), got {getattr(self, name)}")


@dataclass(frozen=True)
class Scheduled:
    at: float  # seconds after the experiment starts
    message: Message


@dataclass(frozen=True)
class Schedule:
    starts: np.ndarray  # session start per customer, seconds, ascending
    messages: list[Scheduled]  # sorted by ``at``
    missing_side: dict[int, str]  # uuid -> the side that was never published
    first_published: dict[tuple[int, str], float]  # (uuid, side) -> first publication, seconds

    def complete_at(self, uuid: int) -> Optional[float]:
        """When the session's second half was first published (None: it never was)."""
        if uuid in self.missing_side:
            return None
        return max(self.first_published[(uuid, DEMOGRAPHIC)], self.first_published[(uuid, HISTORIC)])

    def unseen_side(self, uuid: int, join_timeout: float) -> Optional[str]:
        """The half a job with this join timeout decides without: never published, or
        published more than ``join_timeout`` seconds after the first half."""
        if uuid in self.missing_side:
            return self.missing_side[uuid]
        demo, hist = self.first_published[(uuid, DEMOGRAPHIC)], self.first_published[(uuid, HISTORIC)]
        if abs(demo - hist) <= join_timeout:
            return None
        return DEMOGRAPHIC if demo > hist else HISTORIC


def session_starts(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson arrivals at ``rate`` sessions/s: independent exponential gaps."""
    if rate <= 0:
        raise ValueError(f"session rate must be positive, got {rate}")
    return np.cumsum(rng.exponential(1.0 / rate, size=n))


def schedule(customers: list[dict], rate: float, enrichment: Enrichment, seed: int) -> Schedule:
    rng = np.random.default_rng(seed)
    text_rng = random.Random(seed)  # the message shapes (JSON vs literal, key order)
    n = len(customers)
    starts = session_starts(n, rate, rng)
    delays = {DEMOGRAPHIC: enrichment.demographic.draw(rng, n), HISTORIC: enrichment.historic.draw(rng, n)}
    missing = rng.random(n) < enrichment.missing_side_share
    missing_pick = rng.random(n) < 0.5
    duplicate = {side: rng.random(n) < enrichment.duplicate_share for side in delays}
    redelivery = {side: delays[side] + rng.exponential(0.5, size=n) for side in delays}

    messages: list[Scheduled] = []
    missing_side: dict[int, str] = {}
    encoders = {DEMOGRAPHIC: demographic_message, HISTORIC: historic_message}
    for i, customer in enumerate(customers):
        uuid = int(customer["uuid"])
        dropped: Optional[str] = None
        if missing[i]:
            dropped = DEMOGRAPHIC if missing_pick[i] else HISTORIC
            missing_side[uuid] = dropped
        for side, encode in encoders.items():
            if side == dropped:
                continue
            message = Message(side, uuid, encode(customer, text_rng))
            messages.append(Scheduled(float(starts[i] + delays[side][i]), message))
            if duplicate[side][i]:
                messages.append(Scheduled(float(starts[i] + redelivery[side][i]), message))
    messages.sort(key=lambda s: s.at)
    first: dict[tuple[int, str], float] = {}
    for item in messages:
        first.setdefault((item.message.uuid, item.message.side), item.at)
    return Schedule(starts, messages, missing_side, first)
