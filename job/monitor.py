"""Live monitoring as a Flink operator: the scoring operator's monitoring side output,
keyed by the deciding model's id, cut into windows (job/monitoring/windows.py) and
compared with the reference profile.

A separate operator, so the hot path pays only for building a small sample and a side
output (``monitoring.sample`` of the sessions). Keying by model id gives each serving
model its own windows: a model swap brings a new id, which starts a new profile, and the
old model's window closes when a later sample's event time passes its end. That, not the
watermark, is what closes windows in a running job: scoring's watermark is the smaller
of the sessions' and the control topic's, and the control source makes none, so the
event-time timer here only fires at the end of a bounded input (the tests).

The open windows live in memory, not in Flink state: a window is a statistic, not a
decision, and keeping 113 histograms in state would cost a state round trip per sample.
After a restore the interrupted window starts again from the next sample.
"""

from __future__ import annotations

import json
import math
from typing import Optional

from pyflink.common import Row
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext

from job.monitoring.drift import SEVERITY, Thresholds
from job.monitoring.profile import SCORE, Profile, Sample
from job.monitoring.windows import Monitors, WindowSpec

UNJUDGED = -1  # a level before the first window, or a field the window could not judge


class Level:
    """A metric that holds a value, set from the operator's own thread.

    A counter moved to the value, not a gauge: PyFlink's gauges in thread mode are Python
    callables that Flink's metrics thread invokes through PemJa, and one such call
    crashed a TaskManager (SIGSEGV in ``pthread_mutex_lock`` under
    ``MetricGauge.getValue``, while the REST API fetched metrics during a failover,
    PyFlink 2.2.1). A counter's value lives in Java, so reading it runs no Python."""

    def __init__(self, counter, value: int):
        self.counter, self.value = counter, 0
        self.set(value)

    def set(self, value: int) -> None:
        if value != self.value:
            self.counter.inc(value - self.value)
            self.value = value


class MonitorModels(KeyedProcessFunction):
    """Input: ``Sample``s keyed by model id; output: one (model id, JSON) row per window.

    Metrics (group ``monitoring``), each holding a level (``Level``): ``psi_milli_<field>``,
    the field's PSI x 1000 in the latest window of any model, and ``status`` (0
    insufficient data, 1 ok, 2 warn, 3 alert; -1 before the first window)."""

    def __init__(self, reference: Profile, spec: WindowSpec, thresholds: Thresholds, reference_model: Optional[str]):
        self.reference, self.spec, self.thresholds = reference, spec, thresholds
        self.reference_model = reference_model  # the model whose score the reference profiles

    def open(self, runtime_context: RuntimeContext):
        self.monitors = Monitors(self.reference, self.spec, self.thresholds, self.reference_model)
        group = runtime_context.get_metrics_group().add_group("monitoring")
        self.psi = {
            name: Level(group.counter(f"psi_milli_{name}"), UNJUDGED) for name in (*self.reference.fields, SCORE)
        }
        self.status = Level(group.counter("status"), UNJUDGED)
        self.closed = group.counter("windows")
        self.alerting = group.counter("windows_alerting")

    def process_element(self, sample: Sample, ctx: KeyedProcessFunction.Context):
        records = self.monitors.add(sample)
        windows = self.monitors.of(sample.model)
        if windows.counts is not None and windows.counts.sessions == 1 and windows.end_ms is not None:
            ctx.timer_service().register_event_time_timer(windows.end_ms)  # once per window
        yield from self._emit(records)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        yield from self._emit(self.monitors.of(ctx.get_current_key()).close_due(timestamp))

    def _emit(self, records: list[dict]):
        for record in records:
            self.closed.inc()
            if record["status"] == "alert":
                self.alerting.inc()
            self.status.set(SEVERITY[record["status"]])
            judged = {**record["fields"], SCORE: record["score"]}
            for name, level in self.psi.items():
                psi = judged.get(name, {}).get("psi")
                level.set(UNJUDGED if psi is None else round(psi * 1000))
            yield Row(record["model"], json.dumps(finite(record), sort_keys=True, allow_nan=False))


def finite(value):
    """NaN and infinities as null: the record must be strict JSON for any reader."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
