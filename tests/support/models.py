"""Model entries and activations the control, registry and console tests build their cases from."""

from __future__ import annotations

from job import control
from job.control import ModelEntry

SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


def entry(name="model", version="1", sha=SHA_A, threshold=0.2) -> ModelEntry:
    return ModelEntry(name, version, f"/models/{sha}.pmml", sha, threshold, "probability(1)")


def activate(e: ModelEntry, share: float = 1.0, mid: str = "m") -> control.ControlMessage:
    return control.activate(mid, 1, e, share)
