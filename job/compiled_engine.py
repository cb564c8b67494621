"""The compiled engine: the PMML's trees as numpy bit masks (job/tree_engine.py), no JVM."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from job.model import ModelSpec
from job.pmml import check_inputs
from job.scorer import Scorer
from job.tree_engine import TreeEnsemble


class CompiledScorer(Scorer):
    """Scores in-process; trusted where it matches pypmml (job/parity.py)."""

    def __init__(self, spec: ModelSpec):
        check_inputs(spec.pmml_text)
        self.ensemble = TreeEnsemble.from_pmml(spec.pmml_text, spec.output_field)

    def score(self, row: Mapping[str, Optional[float]]) -> float:
        return self.ensemble.score(row)

    def score_batch(self, rows: Sequence[Mapping[str, Optional[float]]]) -> np.ndarray:
        return self.ensemble.score_rows(rows)
