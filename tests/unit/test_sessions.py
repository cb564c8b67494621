"""The join state machine in event time: both orders, the timeout between the halves'
timestamps, replacement, late halves, the deadline timer and the valve."""

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from job.inputs import Demographic, Historic
from job.sessions import (
    DECIDED,
    JOINED,
    LATE,
    NO_WATERMARK,
    REPLACED,
    STARTED,
    TIMED_OUT,
    VALVE,
    Clock,
    Rules,
    Session,
)

RULES = Rules(timeout_ms=3000, valve_ms=10_000)
DEMO = Demographic(5, 40.0, 1, 0)
HIST = Historic.of(5, {"cat1": 1})


def at(timestamp, watermark=NO_WATERMARK, now=1_000_000, received=0):
    return Clock(timestamp, watermark, now, received)


def run(arrivals):
    """(half, record timestamp) in arrival order → final state, emitted sessions, events."""
    state, emitted, events = None, [], []
    for half, timestamp in arrivals:
        step = RULES.on_arrival(state, half, at(timestamp))
        events += step.events
        state = step.state if step.state is not None else state
        if step.emit:
            emitted.append(step.emit)
    return state, emitted, events


def test_both_orders_emit_the_same_joined_session_once():
    for arrivals in ([(DEMO, 100), (HIST, 900)], [(HIST, 900), (DEMO, 100)]):
        state, emitted, events = run(arrivals)
        assert events == [STARTED, JOINED]
        assert len(emitted) == 1 and emitted[0].demographic == DEMO and emitted[0].historic == HIST
        assert not emitted[0].timed_out and state.decided


def test_the_first_half_sets_its_deadline_by_its_timestamp_and_a_valve_by_the_clock():
    first = RULES.on_arrival(None, DEMO, at(5_000, watermark=4_000, now=77))
    assert (first.deadline, first.valve) == (8_000, 10_077)
    assert (first.state.started_ms, first.state.valve_due_ms, first.state.valve_mark) == (5_000, 10_077, (4_000, 0))
    second = RULES.on_arrival(first.state, HIST, at(6_000))
    assert (second.deadline, second.valve) == (None, None)


def test_the_timeout_is_measured_between_the_record_timestamps_either_way():
    started = RULES.on_arrival(None, DEMO, at(10_000)).state
    for timestamp in (7_000, 13_000):  # exactly the timeout apart, before or after: joined
        assert RULES.on_arrival(started, HIST, at(timestamp)).events == (JOINED,)
    # Beyond it the earlier-written half's deadline came first in event time: it decides
    # alone and the later one is late, whichever the job read first.
    for timestamp, decides in ((13_001, (DEMO, None)), (6_999, (None, HIST))):
        step = RULES.on_arrival(started, HIST, at(timestamp))
        assert step.events == (TIMED_OUT, LATE) and step.state == DECIDED
        assert step.emit.timed_out and (step.emit.demographic, step.emit.historic) == decides


def test_same_half_twice_before_the_join_latest_wins():
    newer = Demographic(5, 41.0, 1, 0)
    _, emitted, events = run([(DEMO, 0), (newer, 500), (HIST, 1000)])
    assert events == [STARTED, REPLACED, JOINED]
    assert emitted[0].demographic == newer


def test_same_half_again_beyond_the_timeout_decides_the_first():
    _, emitted, events = run([(DEMO, 0), (Demographic(5, 41.0, 1, 0), 3001)])
    assert events == [STARTED, TIMED_OUT, LATE] and emitted[0].demographic == DEMO


def test_halves_after_the_decision_are_late_and_dropped():
    state, emitted, events = run([(DEMO, 0), (HIST, 0), (HIST, 1), (DEMO, 2)])
    assert events[2:] == [LATE, LATE] and len(emitted) == 1


def test_deadline_emits_what_is_known_once():
    started = RULES.on_arrival(None, HIST, at(1_000)).state
    step = RULES.on_deadline(started, 5, 4_000)
    assert step.events == (TIMED_OUT,) and step.emit.timed_out
    assert step.emit.demographic is None and step.emit.historic == HIST
    assert RULES.on_deadline(step.state, 5, 4_000) is None  # decided: the timer of a joined session is a no-op
    assert RULES.on_arrival(step.state, DEMO, at(2_000)).events == (LATE,)


def test_a_deadline_of_an_earlier_session_of_the_uuid_does_nothing():
    started = RULES.on_arrival(None, HIST, at(700_000)).state
    assert RULES.on_deadline(started, 5, 4_000) is None


def test_deadline_without_state_does_nothing():
    assert RULES.on_deadline(None, 5, 3_000) is None
    assert RULES.on_deadline(Session(decided=True), 5, 3_000) is None


def test_the_valve_waits_while_the_watermark_moves_or_records_come_in():
    started = RULES.on_arrival(None, DEMO, at(1_000, watermark=500, now=0, received=7)).state
    moved = RULES.on_valve(started, 5, Clock(10_000, watermark=900, now=10_002, received=7))
    # A backlog: thousands of records between two watermarks of the source, the join busy
    # with them for longer than the valve.
    reading = RULES.on_valve(started, 5, Clock(10_000, watermark=500, now=10_002, received=4_000))
    for step, mark in ((moved, (900, 7)), (reading, (500, 4_000))):
        assert step.events == () and step.emit is None and step.valve == 20_002
        assert (step.state.valve_due_ms, step.state.valve_mark) == (20_002, mark)
        assert step.state.demographic == DEMO and not step.state.decided


def test_the_valve_decides_when_nothing_moved():
    started = RULES.on_arrival(None, DEMO, at(1_000, watermark=500, now=0, received=7)).state
    step = RULES.on_valve(started, 5, Clock(10_000, watermark=500, now=10_002, received=7))
    assert step.events == (VALVE,) and step.state == DECIDED
    assert step.emit.timed_out and (step.emit.demographic, step.emit.historic) == (DEMO, None)


def test_after_a_restore_the_valve_waits_for_the_sources_to_read_again():
    # Flink does not checkpoint watermarks or the operator's count: a restored job starts
    # from neither, and its overdue processing-time timers fire at once, before the
    # sources have read anything.
    started = RULES.on_arrival(None, DEMO, at(1_000, watermark=500, now=0, received=7)).state
    step = RULES.on_valve(started, 5, Clock(10_000, watermark=NO_WATERMARK, now=60_000, received=0))
    assert step.events == () and step.state.valve_mark == (NO_WATERMARK, 0) and step.valve == 70_000


def test_a_stale_or_needless_valve_does_nothing():
    started = RULES.on_arrival(None, DEMO, at(1_000, watermark=500, now=0)).state
    still = Clock(10_000, 500, 10_000, 0)
    assert RULES.on_valve(replace(started, valve_due_ms=20_000), 5, still) is None
    assert RULES.on_valve(DECIDED, 5, still) is None
    assert RULES.on_valve(None, 5, still) is None


# Property: whatever order halves (with any timestamps), repeats, the deadline and the valve
# come in, a session is decided at most once, from the latest half of each side known at that
# moment (or from a half written more than the timeout before the first, alone); joined
# exactly when both sides arrived within the timeout of the first half's timestamp;
# and once a deadline or a stalled valve has fired, it has been decided.

arrivals = st.lists(st.tuples(st.sampled_from(["demo", "hist"]), st.integers(0, 8_000)), min_size=1, max_size=10)
timers = st.lists(st.sampled_from(["deadline", "valve moved", "valve still"]), max_size=3)


@given(arrivals, timers, st.data())
def test_a_session_is_decided_once_from_the_latest_halves(halves, fired, data):
    timeline = list(halves)
    for timer in fired:  # timers fire only after the first half set them
        timeline.insert(data.draw(st.integers(1, len(timeline))), timer)
    state, known, emitted, terminal = None, {}, [], False
    for i, event in enumerate(timeline):
        if event == "deadline":
            step = RULES.on_deadline(state, 5, state.started_ms + RULES.timeout_ms)
        elif event in ("valve moved", "valve still"):
            watermark, received = state.valve_mark
            step = RULES.on_valve(
                state, 5, Clock(state.valve_due_ms, watermark, state.valve_due_ms, received + (event == "valve moved"))
            )
        else:
            side, timestamp = event
            half = Demographic(5, float(i), 1, 0) if side == "demo" else Historic.of(5, {"cat1": i % 2})
            step = RULES.on_arrival(state, half, at(timestamp))
            if state is not None and not state.decided and abs(timestamp - state.started_ms) > RULES.timeout_ms:
                terminal = True
                if timestamp < state.started_ms:  # the earlier-written half decides alone
                    known = {side: (half, timestamp)}
            elif not emitted:
                known[side] = (half, timestamp)
        terminal |= event in ("deadline", "valve still")
        if step is None:
            continue
        if step.emit:
            emitted.append(step.emit)
        state = step.state if step.state is not None else state
    assert len(emitted) == int(terminal or len(known) == 2)
    if emitted:
        (decision,) = emitted
        joined = len(known) == 2
        assert decision.timed_out == (not joined)
        assert (decision.demographic, decision.historic) == tuple(
            known[s][0] if s in known else None for s in ("demo", "hist")
        )
        if joined:
            assert all(abs(timestamp - halves[0][1]) <= RULES.timeout_ms for _, timestamp in known.values())
