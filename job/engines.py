"""The scoring engines by name (``job.model.ENGINES``), each loaded and verified before it
may serve."""

from __future__ import annotations

from typing import Optional

from job.compiled_engine import CompiledScorer
from job.model import ENGINES, ModelSpec
from job.pmml import ModelError, verification
from job.pypmml_engine import PypmmlScorer
from job.scorer import Scorer

_SCORERS = {"compiled": CompiledScorer, "pypmml": PypmmlScorer}


def open_scorer(spec: ModelSpec, engine: Optional[str] = None) -> Scorer:
    """Load and verify with ``engine`` (default: the spec's), or raise ModelError: an
    unverifiable model must never serve."""
    chosen = engine or spec.engine
    if chosen not in _SCORERS:
        raise ModelError(f"unknown scoring engine {chosen!r}: expected one of {', '.join(ENGINES)}")
    scorer = _SCORERS[chosen](spec)
    try:
        scorer.verify(verification(spec.pmml_text, spec.output_field))
    except ModelError:
        scorer.close()
        raise
    return scorer
