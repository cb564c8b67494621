"""Probability → show (1) / don't show (0)."""

from __future__ import annotations

from typing import Optional


def decide(probability: Optional[float], threshold: float, safe_default: int) -> int:
    """Show iff P(buy) >= threshold; no probability (scoring failed) falls back to the default.

    The threshold comes from training (pmml/model.json), where it maximises expected
    revenue under conf/economics.yaml, not accuracy.
    """
    if probability is None or probability != probability:  # None or NaN
        return safe_default
    return 1 if probability >= threshold else 0
