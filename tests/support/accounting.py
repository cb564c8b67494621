"""What a reliability run sent against what came back: pure functions, so the rules that
decide "lost" and "duplicated" are tested on their own (test_accounting.py)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping


@dataclass(frozen=True)
class Tally:
    sessions: int  # sessions sent; a uuid that returns after the state TTL is two sessions
    decided: int  # sessions that got their decision
    lost: int  # sessions that did not
    duplicated: int  # decisions beyond one per session
    unexpected: int  # decisions for uuids that were never sent


def tally(expected: Mapping[int, int], received: Mapping[int, int]) -> Tally:
    """``expected``: decisions each uuid must get (its sessions); ``received``: how many came."""
    decided = sum(min(n, received.get(uuid, 0)) for uuid, n in expected.items())
    sessions = sum(expected.values())
    return Tally(
        sessions=sessions,
        decided=decided,
        lost=sessions - decided,
        duplicated=sum(max(0, received.get(uuid, 0) - n) for uuid, n in expected.items()),
        unexpected=sum(n for uuid, n in received.items() if uuid not in expected),
    )


def letter_payload(letter: dict) -> bytes:
    """The rejected payload as the job kept it (text if it was UTF-8, else base64)."""
    if letter["payload"] is not None:
        return letter["payload"].encode()
    return base64.b64decode(letter["payload_base64"])


@dataclass(frozen=True)
class Letters:
    matched: int  # dead letters that are a rejected payload sent, with its reason
    missing: list[tuple]  # (payload head, reason) sent and rejected, but never dead-lettered
    unexpected: list[tuple]  # (payload head, reason) dead-lettered but not expected


def match_letters(expected: Iterable[tuple[bytes, str]], letters: Iterable[dict], keep_bytes: int) -> Letters:
    """Pair every dead letter with a payload that was expected to be rejected for that
    reason, as often as it was sent. Letters keep ``keep_bytes`` of the payload."""
    want = Counter((payload[:keep_bytes], reason) for payload, reason in expected)
    got = Counter((letter_payload(letter), letter["reason"]) for letter in letters)
    head = lambda key: (key[0][:80], key[1])  # noqa: E731 - keep failure messages short
    return Letters(
        matched=sum((want & got).values()),
        missing=[head(key) for key in (want - got).elements()],
        unexpected=[head(key) for key in (got - want).elements()],
    )


def decisions_by_uuid(bodies: Iterable[dict]) -> Counter:
    return Counter(body["uuid"] for body in bodies)


@dataclass(frozen=True)
class Row:
    """One line of the `make reliability` table."""

    scenario: str
    faults: int
    tally: Tally
    malformed: int
    dead_lettered: int
    job_failures: int


COLUMNS = (
    "scenario",
    "faults injected",
    "sessions sent",
    "decided",
    "lost",
    "duplicated",
    "malformed sent",
    "dead-lettered",
    "job failures",
)


def row_cells(row: Row) -> list:
    t = row.tally
    return [
        row.scenario,
        row.faults,
        t.sessions,
        t.decided,
        t.lost,
        t.duplicated,
        row.malformed,
        row.dead_lettered,
        row.job_failures,
    ]


def format_table(rows: list[Row]) -> str:
    if not rows:
        return ""
    body = [row_cells(row) for row in rows]
    totals = ["total", *(sum(cells[i] for cells in body) for i in range(1, len(COLUMNS)))]
    lines = [list(COLUMNS), *body, totals]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(COLUMNS))]

    def fmt(line):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(line, widths)))

    rule = "-" * len(fmt(lines[0]))
    return "\n".join([fmt(lines[0]), rule, *map(fmt, body), rule, fmt(totals)])


def json_lines(messages: Iterable) -> list[dict]:
    """Kafka messages (confluent_kafka) → their JSON bodies."""
    return [json.loads(message.value()) for message in messages]
