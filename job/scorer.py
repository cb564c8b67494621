"""What the job uses of a scoring engine (job/engines.py opens one)."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from job.pmml import Verification, verify_scores


class Scorer:
    """What the job uses of an engine. Missing inputs are None (or NaN, or absent); a
    record the model predicts nothing for scores NaN."""

    def score(self, row: Mapping[str, Optional[float]]) -> float:
        raise NotImplementedError

    def score_batch(self, rows: Sequence[Mapping[str, Optional[float]]]) -> np.ndarray:
        raise NotImplementedError

    def verify(self, check: Verification) -> float:
        actual = self.score_batch(check.inputs).tolist()
        return verify_scores(check.expected, actual, check.precision, check.zero_threshold)

    def close(self) -> None:
        """Release what the engine holds."""
