"""An engine other than the reference is trusted only where it matches pypmml: on the
PMML's verification rows and on generated records shaped like the job's, with the split
values and out-of-range values where engines may disagree."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from contract.schema import DEMOGRAPHIC_FIELDS, FEATURES, PRODUCT_FIELDS, feature_row
from job.engines import open_scorer
from job.model import REFERENCE_ENGINE, ModelSpec
from job.pmml import ModelError, split_values, verification

# |compiled - pypmml| allowed on any record. The compiled engine follows PMML4S's double
# arithmetic and summation order, so it is normally 0; 1e-9 leaves room for exp() in the
# JVM and in C differing in the last bit.
PARITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Parity:
    rows: int
    max_abs_difference: float


def check_parity(spec: ModelSpec, sample: int = 1000, seed: int = 0, tolerance: float = PARITY_TOLERANCE) -> Parity:
    """The spec's engine against pypmml on the verification rows and ``sample`` generated
    rows (``sample_rows``); ModelError names the worst row if they differ by more than
    ``tolerance`` anywhere."""
    rows = verification(spec.pmml_text, spec.output_field).inputs
    embedded = len(rows)
    rows = rows + sample_rows(sample, seed, split_values(spec.pmml_text))
    scores = []
    for engine in (spec.engine, REFERENCE_ENGINE):
        scorer = open_scorer(spec, engine)
        try:
            scores.append(np.asarray(scorer.score_batch(rows), dtype=np.float64))
        finally:
            scorer.close()
    differences = np.abs(scores[0] - scores[1])
    both_missing = np.isnan(scores[0]) & np.isnan(scores[1])
    differences = np.where(both_missing, 0.0, np.where(np.isnan(differences), np.inf, differences))
    worst = int(np.argmax(differences))
    if not differences[worst] <= tolerance:
        where = f"verification row {worst}" if worst < embedded else f"sample row {worst - embedded} (seed {seed})"
        raise ModelError(
            f"engine {spec.engine!r} differs from pypmml by {differences[worst]:.3g} (> {tolerance:g}) on {where} "
            f"[{describe_row(rows[worst])}]: {scores[0][worst]!r} vs {scores[1][worst]!r}; "
            f"score this model with model.engine: pypmml"
        )
    return Parity(len(rows), float(differences[worst]))


def check_model(spec: ModelSpec) -> str:
    """The submission check: the spec's engine loads and verifies the model, and an engine
    other than the reference matches it (``check_parity``). Returns a summary line."""
    if spec.engine == REFERENCE_ENGINE:
        open_scorer(spec).close()
        return f"engine {spec.engine}"
    parity = check_parity(spec)
    return (
        f"engine {spec.engine}, max |difference| from pypmml {parity.max_abs_difference:.1g} over {parity.rows} records"
    )


def describe_row(row: Mapping[str, Optional[float]]) -> str:
    """A record in an error message: its non-zero inputs, and which are missing."""
    missing = [name for name in FEATURES if row.get(name) is None or row.get(name) != row.get(name)]
    shown = [f"{name}={row[name]!r}" for name in FEATURES if name not in missing and row.get(name) != 0]
    if len(missing) > 5:
        missing = [f"{len(missing)} fields"]
    return ", ".join(shown + ([f"missing {', '.join(missing)}"] if missing else [])) or "all zero"


# Values outside the data contract that an engine must still score as pypmml does.
_ODD_VALUES = (-1.0, -0.0, 0.5, 0.999999999, 1.000000001, 2.0, 7.0, 130.0, 1e9, -1e9, math.inf, -math.inf, math.nan)


def sample_rows(count: int, seed: int, splits: Mapping[str, Sequence[float]]) -> list[dict[str, Optional[float]]]:
    """Deterministic records shaped like the job's, and the hard cases for an engine.

    40 % both halves, 15 % each half alone (the other never arrived: all its fields
    None), 30 % scrambled: every field, with probability 1/2, replaced by None, a split
    value, the double just below or above one, or an out-of-range value (``_ODD_VALUES``).
    Ages are whole years or a split value.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for kind in rng.choice(4, size=count, p=[0.4, 0.15, 0.15, 0.3]):
        age_splits = splits.get("age") or [float(rng.integers(0, 121))]
        age = float(rng.integers(0, 121)) if rng.random() < 0.7 else _near(rng, age_splits)
        sex = [(1, 0), (0, 1), (0, 0)][rng.integers(3)]
        demographic = None if kind == 2 else dict(zip(DEMOGRAPHIC_FIELDS, (age, *sex)))
        products = None if kind == 1 else {name: int(rng.random() < 0.15) for name in PRODUCT_FIELDS}
        row = feature_row(demographic, products)
        if kind == 3:
            for name in FEATURES:
                if rng.random() < 0.5:
                    row[name] = _scrambled(rng, splits.get(name, ()))
        rows.append(row)
    return rows


def _near(rng: np.random.Generator, splits: Sequence[float]) -> float:
    value = float(splits[rng.integers(len(splits))])
    return [value, math.nextafter(value, -math.inf), math.nextafter(value, math.inf)][rng.integers(3)]


def _scrambled(rng: np.random.Generator, splits: Sequence[float]) -> Optional[float]:
    choice = rng.integers(3 if splits else 2)
    if choice == 0:
        return None
    if choice == 1:
        return _ODD_VALUES[rng.integers(len(_ODD_VALUES))]
    return _near(rng, splits)
