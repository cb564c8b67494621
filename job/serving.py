"""Scoring with the models the control topic names: a broadcast operator around
job/registry.py and job/routing.py.

Broadcast state holds only the registry (JSON: ids, locations, checksums, shares), so a
checkpoint never holds a model. Each parallel instance keeps the models it needs in a
``ModelCache`` and a plain-Python copy of the registry: a broadcast-state read is a state
round trip per element in PyFlink, so sessions never touch state except once after a
restore, when the registry is read back and its models reloaded (and verified again).

A new version is loaded and verified (checksum, input fields, the PMML's verification
rows) inside ``process_broadcast_element`` before the registry changes, so the swap is
atomic for this instance: every session is decided either entirely before it, by the
old version, or after it, by the new one. A version that fails is reported on the
status topic and the registry stays as it was.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Optional

from pyflink.common import Row, Types
from pyflink.datastream import OutputTag
from pyflink.datastream.functions import BroadcastProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from job import control, outputs, registry
from job.control import ModelEntry
from job.decision import decide
from job.engines import open_scorer
from job.model import ModelSpec
from job.monitoring.profile import Sample
from job.pmml import ModelError, read_pmml
from job.routing import route
from job.scorer import Scorer
from job.sessions import JoinedSession

REGISTRY_KEY = "registry"


def registry_descriptor() -> MapStateDescriptor:
    """Built per use, like every TypeInformation handed to PyFlink (see keyed_row_type)."""
    return MapStateDescriptor("model-registry", Types.STRING(), Types.STRING())


def decision_row_type():
    """(k, v) as every sink, plus the deciding model's name and version for the Kafka headers."""
    return Types.ROW_NAMED(["k", "v", "model_name", "model_version"], [Types.STRING()] * 4)


def entry_of(spec: ModelSpec, location: Path) -> ModelEntry:
    """The configured model as the registry's first entry."""
    return ModelEntry(spec.name, spec.version, str(location), spec.pmml_sha256, spec.threshold, spec.output_field)


class ModelCache:
    """Verified scorers by (id, checksum), loaded on first need. The configured model's
    text ships with the job; any other version is read from its location."""

    def __init__(self, default: ModelSpec, engine: str):
        self.default, self.engine = default, engine
        self.scorers: dict[tuple[str, str], Scorer] = {}

    def scorer(self, entry: ModelEntry) -> Scorer:
        key = (entry.id, entry.sha256)
        if key not in self.scorers:
            self.scorers[key] = open_scorer(self.spec(entry))
        return self.scorers[key]

    def spec(self, entry: ModelEntry) -> ModelSpec:
        if entry.sha256 == self.default.pmml_sha256:
            text = self.default.pmml_text
        else:
            text, _ = read_pmml(Path(entry.location), entry.sha256)
        return ModelSpec(
            entry.name, entry.version, text, entry.sha256, entry.output_field, entry.threshold, self.engine
        )

    def keep(self, entries: list[ModelEntry]) -> None:
        """Close the scorers no entry needs any more (retired or replaced versions)."""
        wanted = {(e.id, e.sha256) for e in entries}
        for key in [k for k in self.scorers if k not in wanted]:
            self.scorers.pop(key).close()

    def close(self) -> None:
        self.keep([])


def monitoring_sample(
    model_id: str, timestamp_ms: Optional[int], session: JoinedSession, probability: float, value: int
) -> Sample:
    """What monitoring needs of a decided session, compactly: the history stays its bit mask."""
    d, h = session.demographic, session.historic
    return Sample(
        model_id,
        timestamp_ms or 0,
        d.age if d else None,
        d.man if d else None,
        d.woman if d else None,
        h.products if h else None,
        probability,
        value,
    )


class ServeModels(BroadcastProcessFunction):
    """Input: joined sessions; broadcast input: control messages (wire text).

    Main output: decision rows (``decision_row_type``); side outputs: status events and
    shadow scores, both (k, v) rows.
    """

    def __init__(
        self,
        default: ModelSpec,
        default_location: Path,
        token: str,
        on_timeout: str,
        safe_default: int,
        salt: str,
        status: OutputTag,
        shadow_scores: OutputTag,
        monitoring: Optional[OutputTag] = None,
        sample: float = 1.0,
    ):
        self.default, self.default_location = default, default_location
        self.token, self.on_timeout, self.safe_default, self.salt = token, on_timeout, safe_default, salt
        self.status, self.shadow_scores = status, shadow_scores
        self.monitoring, self.sample = monitoring, sample

    def open(self, runtime_context: RuntimeContext):
        self.cache = ModelCache(self.default, self.default.engine)
        self.registry: Optional[registry.Registry] = None  # read from state at the first element
        metrics = runtime_context.get_metrics_group()
        self.decided = metrics.counter("decisions")
        self.shown = metrics.counter("decisions_shown")
        self.failed = metrics.counter("scoring_errors")
        self.shadowed = metrics.counter("shadow_scores")
        self.accepted = metrics.counter("model_messages_accepted")
        self.rejected = metrics.counter("model_messages_rejected")

    def process_element(self, session: JoinedSession, ctx):
        if self.registry is None:
            yield from self._restore(ctx.get_broadcast_state(registry_descriptor()))
        row = None
        if not (session.timed_out and self.on_timeout == "default"):
            row = session.feature_row()
        serving = self.deciders[route(session.uuid, self.registry.serving, self.salt)]
        probability = math.nan if row is None else self._probability(serving, row)
        # row None: timed out with join.on_timeout: default
        value = self.safe_default if row is None else decide(probability, serving.threshold, self.safe_default)
        self.decided.inc()
        if value:
            self.shown.inc()
        key = str(session.uuid)
        yield Row(key, outputs.prediction(session.uuid, value, self.token), serving.name, serving.version)
        if self.monitoring is not None and (self.sample >= 1.0 or random.random() < self.sample):
            # a side output from process_element: PyFlink 2.2.1 fails on side outputs from
            # keyed broadcast on_timer, and this function has no timers
            yield self.monitoring, monitoring_sample(serving.id, ctx.timestamp(), session, probability, value)
        for shadow in self.shadows:
            probability = self._probability(shadow, row) if row is not None else math.nan
            self.shadowed.inc()
            yield (
                self.shadow_scores,
                Row(
                    key,
                    outputs.shadow_score(
                        session.uuid,
                        shadow.id,
                        probability,
                        decide(probability, shadow.threshold, self.safe_default),
                        serving.id,
                    ),
                ),
            )

    def process_broadcast_element(self, value: str, ctx):
        state = ctx.get_broadcast_state(registry_descriptor())
        if self.registry is None:
            yield from self._restore(state)
        now = int(time.time() * 1000)
        message = None
        try:
            message = control.parse(outputs.from_wire(value))
            candidate = registry.apply(self.registry, message)
            self._serve(candidate)  # loads and verifies every new version first
        except Exception as err:  # anything, even an engine bug on an odd PMML: reject, never crash-loop on the log
            expected = isinstance(err, (control.ControlError, registry.RegistryError, ModelError))
            self.rejected.inc()
            yield (
                self.status,
                self._event("rejected", message, now, reason=str(err) if expected else f"{type(err).__name__}: {err}"),
            )
            return
        state.put(REGISTRY_KEY, candidate.to_json())
        self.registry = candidate
        self.cache.keep(candidate.needed())
        self.accepted.inc()
        yield self.status, self._event("accepted", message, now)

    def _restore(self, state):
        """The registry from broadcast state (after a restore), else the configured model."""
        saved = state.get(REGISTRY_KEY)
        loaded = (
            registry.Registry.from_json(saved)
            if saved
            else registry.initial(entry_of(self.default, self.default_location))
        )
        self._serve(loaded)  # a version that no longer loads fails the job loudly, it never serves silently
        self.registry = loaded
        yield self.status, self._event("restored" if saved else "started", None, int(time.time() * 1000))

    def _serve(self, candidate: registry.Registry) -> None:
        """Load every version ``candidate`` needs; only then switch the routing tables."""
        deciders = {e.id: _Decider(e, self.cache.scorer(e)) for e in candidate.needed()}
        self.deciders = {i: deciders[i] for i, _ in candidate.serving}
        self.shadows = [deciders[i] for i in candidate.shadow]

    def _probability(self, decider: "_Decider", row) -> float:
        try:
            probability = decider.scorer.score(row)
        except Exception:  # a record the engine cannot score gets the safe default, never a crash
            probability = math.nan
        if math.isnan(probability):  # failed, or the model predicts nothing for this record
            self.failed.inc()
        return probability

    def _event(self, event: str, message: Optional[control.ControlMessage], now_ms: int, reason: str = "") -> Row:
        body = {"event": event, "at_ms": now_ms, "registry": self.registry.summary() if self.registry else None}
        if message is not None:
            body.update({"message_id": message.message_id, "action": message.action, "model": message.model_id})
        if reason:
            body["reason"] = reason
        return Row(body.get("model", ""), json.dumps(body, sort_keys=True))

    def close(self):
        if hasattr(self, "cache"):
            self.cache.close()


class _Decider:
    """A loaded version and what deciding with it needs, resolved once per registry change."""

    __slots__ = ("id", "name", "version", "threshold", "scorer")

    def __init__(self, entry: ModelEntry, scorer: Scorer):
        self.id, self.name, self.version, self.threshold, self.scorer = (
            entry.id,
            entry.name,
            entry.version,
            entry.threshold,
            scorer,
        )
