"""Flink operator around job/sessions.py: keyed ValueState with TTL and one timer per session."""
from __future__ import annotations

from pyflink.common import Time, Types
from pyflink.datastream.functions import KeyedCoProcessFunction, RuntimeContext
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from job import sessions


class SessionJoin(KeyedCoProcessFunction):
    """Input 1: demographic records, input 2: historic records, both keyed by uuid."""

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

    def process_element1(self, value, ctx):
        yield from self._arrive(value, ctx)

    def process_element2(self, value, ctx):
        yield from self._arrive(value, ctx)

    def _arrive(self, half, ctx):
        step = sessions.on_arrival(self.session.value(), half)
        if step.start_timer:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + self.timeout_ms)
        yield from self._apply(step)

    def on_timer(self, timestamp, ctx):
        step = sessions.on_deadline(self.session.value(), ctx.get_current_key())
        if step is not None:
            yield from self._apply(step)

    def _apply(self, step: sessions.Step):
        self.counters[step.event].inc()
        if step.state is not None:
            self.session.update(step.state)
        if step.emit is not None:
            yield step.emit
