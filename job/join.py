"""The keyed half of the decision operator (job/serving.py's ``JoinAndServe``): keyed
ValueState with TTL and one timer per session around the pure job/sessions.py.

Not a Flink function of its own: joining and scoring run in one Python operator, because
as two operators every joined session was pickled and shipped once more between them.
"""
from __future__ import annotations

from typing import Iterator

from pyflink.common import Time, Types
from pyflink.datastream.functions import RuntimeContext
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from job import sessions
from job.sessions import Half, JoinedSession


class SessionJoin:
    """Halves of either side in, keyed by uuid; each joined or timed-out session out once."""

    def __init__(self, timeout_ms: int, state_ttl_ms: int):
        self.timeout_ms = timeout_ms
        self.state_ttl_ms = state_ttl_ms

    def open(self, runtime_context: RuntimeContext):
        # Background TTL cleanup fails in thread mode on a TaskManager (PYFLINK_NOTES.md);
        # expired entries are dropped on access and by incremental cleanup instead.
        ttl = (
            StateTtlConfig.new_builder(Time.milliseconds(self.state_ttl_ms))
            .update_ttl_on_create_and_write()
            .never_return_expired()
            .disable_cleanup_in_background()
            .cleanup_incrementally(10, False)
            .build()
        )
        descriptor = ValueStateDescriptor("session", Types.PICKLED_BYTE_ARRAY())
        descriptor.enable_time_to_live(ttl)
        self.session = runtime_context.get_state(descriptor)
        metrics = runtime_context.get_metrics_group()
        self.counters = {event: metrics.counter(f"sessions_{event}") for event in sessions.EVENTS}

    def arrive(self, half: Half, ctx) -> Iterator[JoinedSession]:
        step = sessions.on_arrival(self.session.value(), half)
        if step.start_timer:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + self.timeout_ms)
        yield from self._apply(step)

    def deadline(self, ctx) -> Iterator[JoinedSession]:
        step = sessions.on_deadline(self.session.value(), ctx.get_current_key())
        if step is not None:
            yield from self._apply(step)

    def _apply(self, step: sessions.Step):
        self.counters[step.event].inc()
        if step.state is not None:
            self.session.update(step.state)
        if step.emit is not None:
            yield step.emit
