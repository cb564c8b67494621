"""The rules behind the table's "lost" and "duplicated", and the dead-letter matching."""

import base64

from local.traffic import Message
from tests.support.accounting import Row, Tally, format_table, match_letters, tally
from tests.support.timeline import as_stream


def test_tally_counts_sessions_not_uuids():
    expected = {1: 1, 2: 2, 3: 1}  # uuid 2 came back after the state TTL: two sessions
    assert tally(expected, {1: 2, 2: 1, 4: 1}) == Tally(sessions=4, decided=2, lost=2, duplicated=1, unexpected=1)
    assert tally(expected, {1: 1, 2: 2, 3: 1}) == Tally(4, 4, 0, 0, 0)


def test_letters_match_payload_and_reason_as_often_as_sent():
    text = {"payload": "x" * 3, "payload_base64": None, "reason": "too_large"}
    binary = {"payload": None, "payload_base64": base64.b64encode(b"\xff").decode(), "reason": "not_utf8"}
    sent = [(b"x" * 10, "too_large"), (b"\xff", "not_utf8"), (b"\xff", "not_utf8")]
    letters = match_letters(sent, [text, binary, {**binary, "reason": "malformed"}], keep_bytes=3)
    assert letters.matched == 2
    assert letters.missing == [(b"\xff", "not_utf8")] and letters.unexpected == [(b"\xff", "malformed")]


def test_table_has_a_totals_line():
    rows = [Row("a", 1, Tally(10, 9, 1, 2, 0), 3, 3, 0), Row("b", 0, Tally(5, 5, 0, 0, 0), 0, 0, 1)]
    lines = format_table(rows).splitlines()
    assert lines[0].split()[:3] == ["scenario", "faults", "injected"]
    assert lines[-1].split() == ["total", "1", "15", "14", "1", "2", "3", "3", "1"]


def test_stream_keeps_the_halves_of_a_session_close():
    messages = [Message(side, uuid, b"") for uuid in range(100) for side in ("demographic", "historic")]
    stream = as_stream(messages[::-1], seed=1, window=10)
    positions = {}
    for i, message in enumerate(stream):
        positions.setdefault(message.uuid, []).append(i)
    assert sorted(stream, key=lambda m: (m.uuid, m.side)) == sorted(messages, key=lambda m: (m.uuid, m.side))
    assert max(b - a for a, b in positions.values()) < 10
