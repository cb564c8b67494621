"""The per-customer join as a pure state machine; job/join.py wraps it in Flink state.

A session is the pair (demographic, historic) for one uuid. Rules (README "Join"):
- the first half starts the session and its one deadline timer (now + join timeout);
- the other half completes it: the joined session is emitted once;
- the same half again before the decision replaces the earlier one (latest wins);
- at the deadline an incomplete session is emitted with what is known (timed out);
- after the decision, the key remembers only "decided" until the state TTL expires:
  halves arriving meanwhile are late duplicates and dropped, so each session gets
  exactly one decision; a uuid seen after the TTL starts a new session.
One state read and at most one write per element, one timer per session: state round
trips and timers are what limits a PyFlink keyed operator.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Union

from job.records import Demographic, Historic

Half = Union[Demographic, Historic]

STARTED = "started"
JOINED = "joined"
REPLACED = "replaced"
LATE = "late"
TIMED_OUT = "timed_out"
EVENTS = (STARTED, JOINED, REPLACED, LATE, TIMED_OUT)


@dataclass(frozen=True)
class Session:
    demographic: Optional[Demographic] = None
    historic: Optional[Historic] = None
    decided: bool = False


DECIDED = Session(decided=True)


@dataclass(frozen=True)
class JoinedSession:
    uuid: int
    demographic: Optional[Demographic]
    historic: Optional[Historic]
    timed_out: bool


@dataclass(frozen=True)
class Step:
    event: str
    state: Optional[Session]  # state to write; None means leave it as it is
    emit: Optional[JoinedSession] = None
    start_timer: bool = False


def on_arrival(state: Optional[Session], half: Half) -> Step:
    if state is not None and state.decided:
        return Step(LATE, None)
    side = "demographic" if isinstance(half, Demographic) else "historic"
    if state is None:
        return Step(STARTED, replace(Session(), **{side: half}), start_timer=True)
    if getattr(state, side) is not None:
        return Step(REPLACED, replace(state, **{side: half}))
    complete = replace(state, **{side: half})
    return Step(JOINED, DECIDED, emit=JoinedSession(half.uuid, complete.demographic, complete.historic, False))


def on_deadline(state: Optional[Session], uuid: int) -> Optional[Step]:
    """None when there is nothing to do: the session was decided before its deadline."""
    if state is None or state.decided:
        return None
    return Step(TIMED_OUT, DECIDED, emit=JoinedSession(uuid, state.demographic, state.historic, True))
