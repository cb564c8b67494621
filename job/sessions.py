"""The per-customer join as a pure state machine; job/join.py wraps it in Flink state and timers.

A session is the pair (demographic, historic) for one uuid. Its timeout is event time:
measured between the two halves' Kafka record timestamps (when the enrichment pipelines
wrote them), never by the job's clock, so a job that reads one topic late (a slower
parser, a backlog, a restart) decides the same sessions the same way as a job that keeps
up. Rules (README "Join semantics"):
- the first half starts the session and its deadline: its own timestamp + the timeout,
  an event-time timer that fires when the watermark passes it;
- the other half completes it if the two timestamps are at most the timeout apart: the
  joined session is emitted once;
- the same half again before the decision replaces the earlier one (latest wins);
- an incomplete session is emitted with what is known (timed out) when the watermark
  passes its deadline. A half whose timestamp is more than the timeout from the first
  half's, either way, ends the session too: in event time the earlier-written half's
  deadline came before the later one was written, so the earlier decides alone and the
  later is late, whichever of them the job read first;
- the valve: a processing-time timer that decides a session when for ``valve_ms`` the
  operator has received no record and its watermark has not moved, because event time
  only advances while records arrive, and a live customer must get an answer when both
  enrichment pipelines are quiet or down. While records come in (the job is reading,
  however far behind) the valve waits. Records count, not only the watermark: in a
  backlog a source reads far ahead of the join, so thousands of records may lie between
  two of its watermarks, longer than ``valve_ms`` to get through;
- after the decision, the key remembers only "decided" until the state TTL expires:
  halves arriving meanwhile are late and dropped, so each session gets exactly one
  decision; a uuid seen after the TTL starts a new session.
One state read and at most one write per element, two timers per session: state round
trips and timers are what limits a PyFlink keyed operator.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Union

from contract.schema import feature_row
from job.inputs import Demographic, Historic

Half = Union[Demographic, Historic]

STARTED = "started"
JOINED = "joined"
REPLACED = "replaced"
LATE = "late"
TIMED_OUT = "timed_out"  # the other half was not written within the timeout (by the record timestamps)
VALVE = "valve"  # decided by the valve: the watermark stood still for valve_ms
EVENTS = (STARTED, JOINED, REPLACED, LATE, TIMED_OUT, VALVE)

NO_WATERMARK = -(2**63)  # Flink's watermark before the first one (Long.MIN_VALUE)


@dataclass(frozen=True)
class Session:
    demographic: Optional[Demographic] = None
    historic: Optional[Historic] = None
    decided: bool = False
    started_ms: int = 0  # record timestamp of the first half to arrive
    valve_due_ms: int = 0  # processing time of the valve timer that belongs to this session
    valve_mark: tuple[int, int] = (NO_WATERMARK, 0)  # the Clock's progress when that timer was set


DECIDED = Session(decided=True)


@dataclass(frozen=True)
class JoinedSession:
    uuid: int
    demographic: Optional[Demographic]
    historic: Optional[Historic]
    timed_out: bool

    def feature_row(self) -> dict[str, Optional[float]]:
        """The model's input row from whichever halves arrived (contract/schema.py)."""
        return feature_row(
            self.demographic.features() if self.demographic else None,
            self.historic.features() if self.historic else None,
        )


@dataclass(frozen=True)
class Clock:
    """Where an element or a timer meets the job: the record's timestamp (a timer's own
    time for a timer), the operator's watermark, the processing time, and how many records
    this operator instance has received since it opened."""

    timestamp: int
    watermark: int
    now: int
    received: int

    @property
    def progress(self) -> tuple[int, int]:
        """Changes while the job reads: a record received or the watermark moved."""
        return self.watermark, self.received


@dataclass(frozen=True)
class Step:
    events: tuple[str, ...]  # counted, each in its own metric
    state: Optional[Session]  # state to write; None means leave it as it is
    emit: Optional[JoinedSession] = None
    deadline: Optional[int] = None  # an event-time timer to set
    valve: Optional[int] = None  # a processing-time timer to set


@dataclass(frozen=True)
class Rules:
    """The join's two durations; its methods are the transitions, each returning the Step
    the operator applies (or None when a timer finds nothing to do)."""

    timeout_ms: int  # event time, between the halves' record timestamps
    valve_ms: int  # processing time the watermark may stand still

    def on_arrival(self, state: Optional[Session], half: Half, clock: Clock) -> Step:
        if state is not None and state.decided:
            return Step((LATE,), None)
        side = "demographic" if isinstance(half, Demographic) else "historic"
        if state is None:
            started = replace(Session(), **{side: half}, started_ms=clock.timestamp)
            return self._arm_valve(Step((STARTED,), started, deadline=clock.timestamp + self.timeout_ms), clock)
        if clock.timestamp - state.started_ms > self.timeout_ms:  # written after the deadline
            return Step((TIMED_OUT, LATE), DECIDED, emit=_incomplete(state, half.uuid))
        if state.started_ms - clock.timestamp > self.timeout_ms:  # its own deadline came before the other was written
            return Step((TIMED_OUT, LATE), DECIDED, emit=_incomplete(replace(Session(), **{side: half}), half.uuid))
        if getattr(state, side) is not None:
            return Step((REPLACED,), replace(state, **{side: half}))
        complete = replace(state, **{side: half})
        return Step((JOINED,), DECIDED, emit=JoinedSession(half.uuid, complete.demographic, complete.historic, False))

    def on_deadline(self, state: Optional[Session], uuid: int, fired_at: int) -> Optional[Step]:
        """The watermark passed ``fired_at``. None when there is nothing to do: the session
        was decided before, or the timer is an earlier session's of the same uuid."""
        if not _waiting(state) or state.started_ms + self.timeout_ms != fired_at:
            return None
        return Step((TIMED_OUT,), DECIDED, emit=_incomplete(state, uuid))

    def on_valve(self, state: Optional[Session], uuid: int, clock: Clock) -> Optional[Step]:
        """The valve timer set for ``clock.timestamp`` fired. If records came in or the
        watermark moved since it was set, the job is reading and the deadline will come in
        event time: wait another ``valve_ms``. If nothing moved, decide now with what is
        known. After a restore both start again (the count at 0, no watermark), so an
        overdue timer waits for the sources instead of deciding."""
        if not _waiting(state) or state.valve_due_ms != clock.timestamp:
            return None
        if clock.progress != state.valve_mark:
            return self._arm_valve(Step((), state), clock)
        return Step((VALVE,), DECIDED, emit=_incomplete(state, uuid))

    def _arm_valve(self, step: Step, clock: Clock) -> Step:
        due = clock.now + self.valve_ms
        return replace(step, state=replace(step.state, valve_due_ms=due, valve_mark=clock.progress), valve=due)


def _waiting(state: Optional[Session]) -> bool:
    return state is not None and not state.decided


def _incomplete(state: Session, uuid: int) -> JoinedSession:
    return JoinedSession(uuid, state.demographic, state.historic, True)
