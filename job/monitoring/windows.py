"""Cutting one model's live samples into windows, in event time (the sessions' record
timestamps), so a backlog or a restart gives the windows the traffic had, not the job's.

A window closes after ``sessions`` samples or when event time reaches its end
(``period_ms`` after its aligned start), whichever comes first; either may be off (None).
A sample past the end closes the window first and opens the next, aligned to the period;
``close_due`` lets the operator close a quiet model's window when the watermark passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from job.monitoring.drift import Thresholds, compare
from job.monitoring.profile import LiveCounts, Profile, Sample

SESSIONS, TIME, SWAP = "sessions", "time", "swap"


@dataclass(frozen=True)
class WindowSpec:
    sessions: Optional[int] = 5_000
    period_ms: Optional[int] = 5 * 60_000
    sample: float = 1.0

    def __post_init__(self):
        if self.sessions is None and self.period_ms is None:
            raise ValueError("a window needs sessions or period_ms (or both)")


class ModelWindows:
    """The open window of one serving model; ``add`` returns the records of windows it closed."""

    def __init__(
        self, model: str, reference: Profile, spec: WindowSpec, thresholds: Thresholds, scored_by_reference: bool
    ):
        self.model, self.reference, self.spec, self.thresholds = model, reference, spec, thresholds
        self.scored_by_reference = scored_by_reference
        self.counts: Optional[LiveCounts] = None
        self.start_ms = self.end_ms = self.first_ms = self.last_ms = 0

    def add(self, sample: Sample) -> list[dict]:
        closed = []
        if self.counts is not None and self.end_ms is not None and sample.timestamp_ms >= self.end_ms:
            closed.append(self.close(TIME))
        if self.counts is None:
            self._open(sample.timestamp_ms)
        self.counts.add(sample)
        self.first_ms = min(self.first_ms, sample.timestamp_ms)
        self.last_ms = max(self.last_ms, sample.timestamp_ms)
        if self.spec.sessions is not None and self.counts.sessions >= self.spec.sessions:
            closed.append(self.close(SESSIONS))
        return closed

    def close_due(self, watermark_ms: int) -> list[dict]:
        if self.counts is not None and self.end_ms is not None and watermark_ms >= self.end_ms:
            return [self.close(TIME)]
        return []

    def _open(self, timestamp_ms: int) -> None:
        self.counts = LiveCounts(self.reference)
        period = self.spec.period_ms
        self.start_ms = timestamp_ms - timestamp_ms % period if period else timestamp_ms
        self.end_ms = self.start_ms + period if period else None
        self.first_ms = self.last_ms = timestamp_ms

    def close(self, reason: str) -> dict:
        """The window's record (topic_model_monitoring), and the window is gone."""
        counts, self.counts = self.counts, None
        statistics = compare(self.reference, counts, self.thresholds, self.scored_by_reference)
        return {
            "model": self.model,
            "closed_by": reason,
            "sample": self.spec.sample,
            "window": {
                "start_ms": self.start_ms,
                "end_ms": self.end_ms,
                "first_ms": self.first_ms,
                "last_ms": self.last_ms,
            },
            **statistics,
        }


class Monitors:
    """Every serving model's windows, by model id. A model swap brings a new id, so its
    sessions start a profile of their own; only the model the reference was made for is
    compared on its score."""

    def __init__(self, reference: Profile, spec: WindowSpec, thresholds: Thresholds, reference_model: Optional[str]):
        self.reference, self.spec, self.thresholds, self.reference_model = reference, spec, thresholds, reference_model
        self.models: dict[str, ModelWindows] = {}

    def add(self, sample: Sample) -> list[dict]:
        """The sample's model's closed windows, and those of the other models whose end the
        sample's event time has passed: a retired or swapped-out model gets no more
        samples, and the watermark cannot close it (see job/monitor.py)."""
        closed = self.of(sample.model).add(sample)
        for model, windows in self.models.items():
            if model != sample.model:
                closed += windows.close_due(sample.timestamp_ms)
        return closed

    def of(self, model: str) -> ModelWindows:
        if model not in self.models:
            self.models[model] = ModelWindows(
                model, self.reference, self.spec, self.thresholds, model == self.reference_model
            )
        return self.models[model]
