"""Join edge cases as timed traffic, each with its documented outcome
(docs/reliability.md): the sessions its uuids make, the halves that decide each session, and
what it adds to the job's ``sessions_*`` metrics.

The join runs in event time: a deadline passes when records written after it have been
read on both topics (or one topic, the other idle). So a clock of complete sessions,
both halves every half second, runs under the cases until the last deadline has passed,
and every timeout is decided in event time; only the last case, sent after the clock
stops, waits for the valve, because nothing moves the watermark any more."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

from contract.schema import PRODUCT_FIELDS, feature_row
from job.decision import decide
from local.traffic import DEMOGRAPHIC, HISTORIC, Message, customers, demographic_message, historic_message
from tests.support.timeline import Step

TIMEOUT_MS, VALVE_MS, TTL_MS = 2500, 3000, 6000
FLAGS = [f"join.timeout_ms={TIMEOUT_MS}", f"join.valve_ms={VALVE_MS}", f"join.state_ttl_ms={TTL_MS}"]
# Sent this long after a session's first half, a half finds the session's state expired:
# the timeout, then the TTL counted from the decision, then a margin for a busy machine.
AFTER_TTL = (TIMEOUT_MS + TTL_MS) / 1000 + 3.0
PER_CASE = 5
TICK = 0.5  # seconds between the clock's sessions
# The clock runs until the deadline of a half sent at AFTER_TTL has passed, with a margin
# for the watermark's out-of-orderness bound and its periodic emission.
CLOCK_S = AFTER_TTL + TIMEOUT_MS / 1000 + 2.0
CASE_COUNT = 7
VARIANTS = [(age, *sex) for age in range(18, 91, 4) for sex in ((1, 0), (0, 1), (0, 0))]

Halves = tuple[Optional[dict], Optional[dict]]  # (demographic, historic) customer rows


@dataclass
class EdgeCase:
    name: str
    outcome: str
    steps: list[Step] = field(default_factory=list)
    sessions: dict[int, list[Halves]] = field(default_factory=dict)  # uuid → its sessions, in order
    metrics: Counter = field(default_factory=Counter)


def demographic(row: dict) -> dict:
    return {"age": float(row["age"]), "man": int(row["man"]), "woman": int(row["woman"])}


def historic(row: dict) -> dict:
    return {name: 1 for name in PRODUCT_FIELDS if row[name]}


def expected_value(halves: Halves, score: Callable[[dict], float], threshold: float) -> int:
    demo, hist = halves
    row = feature_row(demographic(demo) if demo else None, historic(hist) if hist else None)
    return decide(score(row), threshold, 0)


def event_clock(uuid_base: int, seed: int, seconds: float) -> EdgeCase:
    """Complete sessions every TICK for ``seconds``: event time keeps moving on both topics."""
    rng = random.Random(seed)
    clock = EdgeCase("event time keeps moving", "each session joined")
    for i, row in enumerate(customers(int(seconds / TICK) + 1, seed, uuid_base)):
        pair = (
            Message(DEMOGRAPHIC, row["uuid"], demographic_message(row, rng)),
            Message(HISTORIC, row["uuid"], historic_message(row, rng)),
        )
        clock.steps.append(Step(i * TICK, pair))
        clock.sessions[row["uuid"]] = [(row, row)]
        clock.metrics.update(sessions_started=1, sessions_joined=1)
    return clock


def edge_cases(uuid_base: int, seed: int, score: Callable[[dict], float], threshold: float) -> list[EdgeCase]:
    rng = random.Random(seed)
    rows = iter(customers(400, seed, uuid_base))

    def demo(row):
        return Message(DEMOGRAPHIC, row["uuid"], demographic_message(row, rng))

    def hist(row):
        return Message(HISTORIC, row["uuid"], historic_message(row, rng))

    def case(name, outcome, build):
        made = EdgeCase(name, outcome)
        for _ in range(PER_CASE):
            build(made, next(rows))
        return made

    def one_half(c, row):
        half = rng.choice((demo, hist))
        c.steps.append(Step(0, (half(row),)))
        c.sessions[row["uuid"]] = [(row, None) if half is demo else (None, row)]
        c.metrics.update(sessions_started=1, sessions_timed_out=1)

    def same_half_twice(c, row):
        while (second := _flipped(row, score, threshold)) is None:
            row = next(rows)
        c.steps += [Step(0, (demo(row),)), Step(0.3, (demo(second),)), Step(0.8, (hist(row),))]
        c.sessions[row["uuid"]] = [(second, row)]
        c.metrics.update(sessions_started=1, sessions_replaced=1, sessions_joined=1)

    def late_half(c, row):
        c.steps += [Step(0, (demo(row), hist(row))), Step(3.0, (demo(row),))]
        c.sessions[row["uuid"]] = [(row, row)]
        c.metrics.update(sessions_started=1, sessions_joined=1, sessions_late=1)

    def half_after_ttl(c, row):
        c.steps += [Step(0, (demo(row),)), Step(AFTER_TTL, (hist(row),))]
        c.sessions[row["uuid"]] = [(row, None), (None, row)]
        c.metrics.update(sessions_started=2, sessions_timed_out=2)

    def pipelines_stop(c, row):
        half = rng.choice((demo, hist))
        c.steps.append(Step(CLOCK_S + 1.0, (half(row),)))
        c.sessions[row["uuid"]] = [(row, None) if half is demo else (None, row)]
        c.metrics.update(sessions_started=1, sessions_valve=1)

    def returning_uuid(c, row):
        later = {**next(rows), "uuid": row["uuid"]}
        c.steps += [Step(0, (demo(row), hist(row))), Step(AFTER_TTL, (hist(later), demo(later)))]
        c.sessions[row["uuid"]] = [(row, row), (later, later)]
        c.metrics.update(sessions_started=2, sessions_joined=2)

    return [
        case("only one half ever arrives", "decided from that half at the join timeout", one_half),
        case(
            "same half twice, different content", "latest wins, one decision when the other half comes", same_half_twice
        ),
        case("a half again after the decision", "dropped as late: still one decision", late_half),
        case(
            "second half after the state TTL", "two sessions, each decided from its half at the timeout", half_after_ttl
        ),
        case("uuid returns after the state TTL", "a new session and a new decision", returning_uuid),
        event_clock(uuid_base + 500, seed, CLOCK_S),
        case("both pipelines stop after a half", "decided from that half by the valve", pipelines_stop),
    ]


def _flipped(row: dict, score, threshold) -> Optional[dict]:
    """Another demographic half for ``row`` that the model decides differently, so the
    decision shows which half the join used; None if no age and sex does that."""
    first = expected_value((row, row), score, threshold)
    for age, man, woman in VARIANTS:
        candidate = {**row, "age": age, "man": man, "woman": woman}
        if expected_value((candidate, row), score, threshold) != first:
            return candidate
    return None
