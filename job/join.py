"""Flink operator around job/sessions.py: keyed ValueState with TTL, an event-time timer
(the session's deadline) and a processing-time timer (the valve) per session.

The inputs must carry event time: the Kafka record timestamps, with watermarks, from the
sources (job/pipeline.py ``source_watermarks``); ``ctx.timestamp()`` is that timestamp.
"""

from __future__ import annotations

from pyflink.common import Time, Types
from pyflink.datastream import TimeDomain
from pyflink.datastream.functions import KeyedCoProcessFunction, RuntimeContext
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from job import sessions
from job.inputs import Demographic, Historic


class SessionJoin(KeyedCoProcessFunction):
    """Input 1: demographic records, input 2: historic records, both keyed by uuid, as
    their columns (job/pipeline.py ``record_type``)."""

    def __init__(self, rules: sessions.Rules, state_ttl_ms: int):
        self.rules = rules
        self.state_ttl_ms = state_ttl_ms

    def open(self, runtime_context: RuntimeContext):
        # State TTL is processing time in Flink: here only a bound on memory, longer than
        # any wait for the other half (job/config.py checks it against timeout + valve).
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
        self.received = 0  # the valve's sign of reading (sessions.Clock); not state: a restore starts it again

    def process_element1(self, value, ctx):
        yield from self._arrive(Demographic.from_columns(value), ctx)

    def process_element2(self, value, ctx):
        yield from self._arrive(Historic.from_columns(value), ctx)

    def _arrive(self, half, ctx):
        self.received += 1
        timers = ctx.timer_service()
        yield from self._apply(
            self.rules.on_arrival(self.session.value(), half, self._clock(ctx.timestamp(), timers)), timers
        )

    def on_timer(self, timestamp, ctx):
        state, key, timers = self.session.value(), ctx.get_current_key(), ctx.timer_service()
        if ctx.time_domain() == TimeDomain.EVENT_TIME:
            step = self.rules.on_deadline(state, key, timestamp)
        else:
            step = self.rules.on_valve(state, key, self._clock(timestamp, timers))
        if step is not None:
            yield from self._apply(step, timers)

    def _apply(self, step: sessions.Step, timers):
        for event in step.events:
            self.counters[event].inc()
        if step.state is not None:
            self.session.update(step.state)
        if step.deadline is not None:
            timers.register_event_time_timer(step.deadline)
        if step.valve is not None:
            timers.register_processing_time_timer(step.valve)
        if step.emit is not None:
            yield step.emit

    def _clock(self, timestamp: int, timers) -> sessions.Clock:
        return sessions.Clock(timestamp, timers.current_watermark(), timers.current_processing_time(), self.received)
