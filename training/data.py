"""Loading, validating and hashing training data.

Rows are shaped by the same rules as the streaming job (``contract.schema``) so that the
model is trained on what it will score: duplicate product columns merge with "any
purchase wins", a product flag left empty beside other known flags is 0 (the customer
has a history, that category is simply absent), and a side with no value at all stays
missing.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from contract.population import LABEL, population
from contract.schema import AGE_MAX, AGE_MIN, DEMOGRAPHIC_FIELDS, PRODUCT_FIELDS


class DataError(ValueError):
    """The training data cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Dataset:
    X: pd.DataFrame  # float64 features, NaN = missing
    y: pd.Series  # 0/1 int label
    sha256: str
    source: str


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_csv(path: str | Path, features: Sequence[str], label: str) -> Dataset:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"training data not found: {path}")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path} is empty")
    header = next(csv.reader([raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")]))
    try:
        frame = pd.read_csv(io.BytesIO(raw), header=0, low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not a readable CSV: {error}") from error
    frame.columns = [name.strip() for name in header]
    return Dataset(*validate(frame, features, label, str(path)), sha256=sha256_bytes(raw), source=str(path))


def from_frame(frame: pd.DataFrame, features: Sequence[str], label: str, source: str) -> Dataset:
    """A dataset from an in-memory frame (the synthetic sample), hashed as its CSV text."""
    digest = sha256_bytes(frame.to_csv(index=False).encode())
    return Dataset(*validate(frame, features, label, source), sha256=digest, source=source)


def validate(frame: pd.DataFrame, features: Sequence[str], label: str, source: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features and label checked and shaped like serving rows; raises DataError."""
    if len(frame) == 0:
        raise DataError(f"{source} has a header but no rows")
    frame = _merge_duplicate_columns(frame, source)
    missing = [name for name in (*features, label) if name not in frame.columns]
    if missing:
        more = f" and {len(missing) - 12} more" if len(missing) > 12 else ""
        raise DataError(f"{source} lacks required column(s): {', '.join(missing[:12])}{more}")
    y = _binary_label(frame[label], label, source)
    X = _numeric_features(frame, features, source)
    _check_ranges(X, source)
    return _apply_missing_rules(X), y


def _merge_duplicate_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Repeated product columns collapse with "any purchase wins", as in merge_product_flags."""
    duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
    if not duplicated:
        return frame
    not_products = [name for name in duplicated if name not in PRODUCT_FIELDS]
    if not_products:
        raise DataError(f"{source} repeats non-product column(s): {', '.join(not_products)}")
    merged = {name: frame.loc[:, frame.columns == name].max(axis=1) for name in duplicated}
    frame = frame.loc[:, ~frame.columns.duplicated()].copy()
    for name, column in merged.items():
        frame[name] = column
    return frame


def _binary_label(column: pd.Series, label: str, source: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce")
    bad = column[values.isna() | ~values.isin([0, 1])]
    if len(bad):
        examples = ", ".join(repr(v) for v in pd.unique(bad)[:5])
        raise DataError(
            f"{source}: label {label!r} must be 0 or 1 on every row; {len(bad)} row(s) are not, e.g. {examples}"
        )
    if values.nunique() < 2:
        raise DataError(f"{source}: label {label!r} has a single class ({int(values.iloc[0])}); nothing to learn")
    return values.astype(np.int64).rename(label)


def _numeric_features(frame: pd.DataFrame, features: Sequence[str], source: str) -> pd.DataFrame:
    X = frame[list(features)].apply(pd.to_numeric, errors="coerce").astype("float64")
    not_numeric = [name for name in features if (X[name].isna() & frame[name].notna()).any()]
    if not_numeric:
        name = not_numeric[0]
        example = frame.loc[X[name].isna() & frame[name].notna(), name].iloc[0]
        raise DataError(f"{source}: non-numeric values in {', '.join(not_numeric)} (e.g. {name}={example!r})")
    return X


def _check_ranges(X: pd.DataFrame, source: str) -> None:
    flags = [name for name in X.columns if name != "age"]
    bad_flags = [name for name in flags if not X[name].dropna().isin([0, 1]).all()]
    if bad_flags:
        raise DataError(f"{source}: flag column(s) with values other than 0/1: {', '.join(bad_flags)}")
    if "age" in X.columns:
        age = X["age"].dropna()
        if len(age) and (age.min() < AGE_MIN or age.max() > AGE_MAX):
            raise DataError(f"{source}: age outside [{AGE_MIN}, {AGE_MAX}] (min {age.min()}, max {age.max()})")


def _apply_missing_rules(X: pd.DataFrame) -> pd.DataFrame:
    """A known history with an empty category cell means "not bought" (0), as in feature_row."""
    products = [name for name in X.columns if name in PRODUCT_FIELDS]
    if products:
        has_history = X[products].notna().any(axis=1)
        X.loc[has_history, products] = X.loc[has_history, products].fillna(0.0)
    return X


def blank_sides(X: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.DataFrame:
    """A copy with some rows' history or demographics blanked out.

    The real data has no missing values, yet the job scores customers with no history
    and customers with no demographics. Without such rows the trees' default branches
    for a missing value would be arbitrary; blanking a random share teaches the model
    that "unknown" means "average over that side".
    """
    rng = np.random.default_rng(seed)
    X = X.copy()
    sides = {
        "no_history": [c for c in X.columns if c in PRODUCT_FIELDS],
        "no_demographics": [c for c in X.columns if c in DEMOGRAPHIC_FIELDS],
    }
    for side, share in fractions.items():
        if side not in sides:
            raise ValueError(f"unknown side {side!r}; expected one of {sorted(sides)}")
        if sides[side] and share > 0:
            rows = rng.random(len(X)) < share
            X.loc[rows, sides[side]] = np.nan
    return X


def load_dataset(config: Mapping[str, Any], data_path: str | None) -> Dataset:
    data = config["data"]
    columns = list(dict.fromkeys([*data["features"], *config["baseline"]["features"]]))  # both arms' inputs
    if data_path:
        return load_csv(data_path, columns, data["label"])
    frame = population(int(data["synthetic_rows"]), seed=config["seed"]).rename(columns={LABEL: data["label"]})
    return from_frame(frame, columns, data["label"], f"synthetic population(n={len(frame)}, seed={config['seed']})")
