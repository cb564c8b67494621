"""The join state machine: both orders, replacement, late halves, timeouts."""
from hypothesis import given, strategies as st

from job.records import Demographic, Historic
from job.sessions import JOINED, LATE, REPLACED, STARTED, TIMED_OUT, Session, on_arrival, on_deadline

DEMO = Demographic(5, 40.0, 1, 0)
HIST = Historic.of(5, {"cat1": 1})


def run(halves):
    state, emitted, events = None, [], []
    for half in halves:
        step = on_arrival(state, half)
        events.append(step.event)
        state = step.state if step.state is not None else state
        if step.emit:
            emitted.append(step.emit)
    return state, emitted, events


def test_both_orders_emit_the_same_joined_session_once():
    for halves in ([DEMO, HIST], [HIST, DEMO]):
        state, emitted, events = run(halves)
        assert events == [STARTED, JOINED]
        assert len(emitted) == 1 and emitted[0].demographic == DEMO and emitted[0].historic == HIST
        assert not emitted[0].timed_out and state.decided


def test_only_the_first_half_starts_a_timer():
    first = on_arrival(None, DEMO)
    assert first.start_timer
    assert not on_arrival(first.state, HIST).start_timer


def test_same_half_twice_before_the_join_latest_wins():
    newer = Demographic(5, 41.0, 1, 0)
    _, emitted, events = run([DEMO, newer, HIST])
    assert events == [STARTED, REPLACED, JOINED]
    assert emitted[0].demographic == newer


def test_halves_after_the_decision_are_late_and_dropped():
    state, emitted, events = run([DEMO, HIST, HIST, DEMO])
    assert events[2:] == [LATE, LATE] and len(emitted) == 1


def test_deadline_emits_what_is_known_once():
    step = on_deadline(on_arrival(None, HIST).state, 5)
    assert step.event == TIMED_OUT and step.emit.timed_out
    assert step.emit.demographic is None and step.emit.historic == HIST
    assert on_deadline(step.state, 5) is None  # decided: the timer of a joined session is a no-op
    assert on_arrival(step.state, DEMO).event == LATE


def test_deadline_without_state_does_nothing():
    assert on_deadline(None, 5) is None
    assert on_deadline(Session(decided=True), 5) is None


# Property: whatever order halves, repeats and the deadline come in, a session is decided
# exactly once, from the latest half of each side known at that moment.

events = st.lists(st.sampled_from(["demo", "hist", "deadline"]), min_size=1, max_size=12)


@given(events, st.integers(0, 11))
def test_a_session_is_decided_once_from_the_latest_halves(sequence, deadline_after):
    state, known, emitted, started = None, {}, [], False
    # The timer fires once, some time after the first half; "deadline" events before the
    # first half have no session to end, and stand for nothing.
    arrivals = [e for e in sequence if e != "deadline"]
    if not arrivals:
        return
    timeline = arrivals[:deadline_after + 1] + ["deadline"] + arrivals[deadline_after + 1:]
    for i, event in enumerate(timeline):
        if event == "deadline":
            step = on_deadline(state, 5)
        else:
            half = Demographic(5, float(i), 1, 0) if event == "demo" else Historic.of(5, {"cat1": i % 2})
            step = on_arrival(state, half)
            started |= step.start_timer
            if not emitted:
                known[event] = half
        if step is None:
            continue
        if step.emit:
            emitted.append((step.emit, event == "deadline"))
        state = step.state if step.state is not None else state
    assert started and len(emitted) == 1
    decision, by_deadline = emitted[0]
    assert decision.timed_out == by_deadline
    assert (decision.demographic, decision.historic) == (known.get("demo"), known.get("hist"))
