"""Load, check and score the PMML model: fail loudly at start, never serve a default silently.

The model travels as PMML text: the client reads and verifies it before submission (a
bad model fails ``make submit`` with a message, not a TaskManager minutes later), then
ships the text inside the operator, so TaskManagers need no shared filesystem; each
operator verifies it again when it loads it in ``open()``.

Two engines score it. pypmml (PMML4S in a JVM) is the reference; "compiled"
(job/tree_engine.py) evaluates the same PMML in-process, 20-35x faster than pypmml's
single-record call (benchmarks/scoring.py), and is only trusted where it matches pypmml:
at submission ``check_model`` compares the two on the PMML's verification rows and a
generated sample.
"""
from __future__ import annotations

import hashlib
import json
import math
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from job.schema import DEMOGRAPHIC_FIELDS, FEATURES, PRODUCT_FIELDS, feature_row

ENGINES = ("compiled", "pypmml")
DEFAULT_ENGINE = "compiled"  # parity with pypmml holds on pmml/ and tests/fixtures/ (tests/unit/test_tree_engine.py)
REFERENCE_ENGINE = "pypmml"
# |compiled - pypmml| allowed on any record. The compiled engine follows PMML4S's double
# arithmetic and summation order, so it is normally 0; 1e-9 leaves room for exp() in the
# JVM and in C differing in the last bit.
PARITY_TOLERANCE = 1e-9


class ModelError(RuntimeError):
    """The model cannot be served; the message says which file and why."""


@dataclass(frozen=True)
class ModelSpec:
    """Everything an operator needs to rebuild the scorer, small enough to pickle."""

    name: str
    version: str
    pmml_text: str
    pmml_sha256: str
    output_field: str
    threshold: float
    engine: str = DEFAULT_ENGINE


@dataclass(frozen=True)
class Verification:
    inputs: list[dict[str, Optional[float]]]
    expected: list[float]
    precision: float
    zero_threshold: float


def load_spec(
    pmml_path: Path, metadata_path: Path, threshold: Optional[float] = None, engine: str = DEFAULT_ENGINE
) -> ModelSpec:
    """Read model + metadata; ``threshold`` (from conf) overrides the metadata's."""
    if engine not in ENGINES:
        raise ModelError(f"unknown scoring engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if not pmml_path.is_file():
        raise ModelError(f"model file not found: {pmml_path} (run `make train`, or set model.pmml)")
    meta = read_metadata(metadata_path)
    text, sha = read_pmml(pmml_path)
    if meta.get("pmml_sha256") not in (None, sha):
        raise ModelError(f"{pmml_path} does not match {metadata_path} (pmml_sha256 differs): retrain or fix the pair")
    chosen = meta["threshold"] if threshold is None else threshold
    if not isinstance(chosen, (int, float)) or not 0 <= chosen <= 1:
        raise ModelError(f"threshold {chosen!r} is not a probability")
    return ModelSpec(str(meta["name"]), str(meta["version"]), text, sha, meta["output_field"], float(chosen), engine)


def read_metadata(metadata_path: Path) -> dict:
    """The JSON training writes next to a PMML: name, version, output field, threshold."""
    if not metadata_path.is_file():
        raise ModelError(f"model metadata not found: {metadata_path} (written by `make train` next to the PMML)")
    try:
        meta = json.loads(metadata_path.read_text())
    except ValueError as err:
        raise ModelError(f"{metadata_path}: not valid JSON ({err})") from None
    missing = [k for k in ("name", "version", "output_field", "threshold") if k not in meta]
    if missing:
        raise ModelError(f"{metadata_path}: missing keys {missing}")
    return meta


def read_pmml(pmml_path: Path, expected_sha256: Optional[str] = None) -> tuple[str, str]:
    """(text, sha256 of the bytes); ModelError if unreadable, not UTF-8, or not the expected bytes."""
    try:
        pmml_bytes = pmml_path.read_bytes()
    except OSError as err:
        raise ModelError(f"cannot read model file {pmml_path}: {err.strerror or err}") from None
    sha = hashlib.sha256(pmml_bytes).hexdigest()
    if expected_sha256 is not None and sha != expected_sha256:
        raise ModelError(f"{pmml_path}: sha256 {sha} does not match the published checksum {expected_sha256}")
    try:
        return pmml_bytes.decode("utf-8"), sha
    except UnicodeDecodeError:
        raise ModelError(f"{pmml_path}: not UTF-8 text, not a PMML file") from None


def pmml_root(pmml_text: str) -> ET.Element:
    try:
        root = ET.fromstring(pmml_text)
    except ET.ParseError as err:
        raise ModelError(f"model is not well-formed XML: {err}") from None
    if not root.tag.endswith("PMML"):
        raise ModelError(f"model root element is {root.tag}, not PMML")
    return root


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def input_fields(pmml_text: str) -> list[str]:
    """The active fields of the model's MiningSchema: what a scoring row must provide."""
    root = pmml_root(pmml_text)
    model = next((el for el in root if local_name(el.tag).endswith("Model")), None)
    if model is None:
        raise ModelError("PMML has no model element")
    schema = next((el for el in model if local_name(el.tag) == "MiningSchema"), None)
    if schema is None:
        raise ModelError("PMML model has no MiningSchema")
    return [
        el.get("name")
        for el in schema
        if local_name(el.tag) == "MiningField" and el.get("usageType", "active") == "active"
    ]


def check_inputs(pmml_text: str) -> list[str]:
    """Refuse a model that needs fields the messages do not carry."""
    fields = input_fields(pmml_text)
    unknown = [f for f in fields if f not in FEATURES]
    if unknown:
        raise ModelError(
            f"model needs input fields the messages do not carry: {unknown[:10]} "
            f"(messages provide age, man, woman, cat0..cat98, u0..u9)"
        )
    if not fields:
        raise ModelError("model declares no active input fields")
    return fields


def verification(pmml_text: str, output_field: str) -> Verification:
    """The ModelVerification rows sklearn2pmml's ``verify()`` embedded in the PMML."""
    root = pmml_root(pmml_text)
    block = next((el for el in root.iter() if local_name(el.tag) == "ModelVerification"), None)
    if block is None:
        raise ModelError("model has no verification data (export it with PMMLPipeline.verify())")
    columns: dict[str, str] = {}
    precision, zero = 1e-6, 1e-16  # PMML 4.4 defaults for VerificationField
    for field in block.iter():
        if local_name(field.tag) == "VerificationField":
            column = field.get("column", field.get("field"))
            columns[column.rsplit(":", 1)[-1]] = field.get("field")  # "data:age" → element <data:age>
            if field.get("field") == output_field:
                precision = float(field.get("precision", precision))
                zero = float(field.get("zeroThreshold", zero))
    if output_field not in columns.values():
        raise ModelError(f"verification data has no expected values for {output_field!r}")
    inputs, expected = [], []
    for row in (el for el in block.iter() if local_name(el.tag) == "row"):
        values = {columns.get(local_name(cell.tag), local_name(cell.tag)): cell.text for cell in row}
        target = values.pop(output_field, None)
        if target is None:
            continue
        expected.append(float(target))
        inputs.append({k: _number(v) for k, v in values.items() if k in FEATURES})
    if not inputs:
        raise ModelError("verification data has no rows")
    return Verification(inputs, expected, precision, zero)


def _number(text: Optional[str]) -> Optional[float]:
    if text is None or text.strip() in ("", "NaN", "nan", "NA", "N/A"):
        return None
    return float(text)


def verify_scores(expected: Sequence[float], actual: Sequence[Optional[float]], precision: float, zero: float) -> float:
    """PMML's acceptance rule: relative error within precision, or both near zero.

    Returns the max absolute difference, raising ModelError on the first mismatch.
    """
    worst = 0.0
    for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
        if got is None or math.isnan(got):
            raise ModelError(f"verification row {i}: model returned no score (expected {want})")
        diff = abs(want - got)
        worst = max(worst, diff)
        near_zero = abs(want) <= zero and abs(got) <= zero
        if not near_zero and diff > precision * abs(want):
            raise ModelError(f"verification row {i}: expected {want}, model scored {got} (precision {precision})")
    return worst


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


class CompiledScorer(Scorer):
    """job/tree_engine.py: the PMML's trees compiled to numpy bit masks, no JVM."""

    def __init__(self, spec: ModelSpec):
        from job.tree_engine import TreeEnsemble  # not at the top: the engine imports this module

        check_inputs(spec.pmml_text)
        self.ensemble = TreeEnsemble.from_pmml(spec.pmml_text, spec.output_field)

    def score(self, row: Mapping[str, Optional[float]]) -> float:
        return self.ensemble.score(row)

    def score_batch(self, rows: Sequence[Mapping[str, Optional[float]]]) -> np.ndarray:
        return self.ensemble.score_rows(rows)


class PypmmlScorer(Scorer):
    """pypmml (PMML4S over a Py4J JVM): the reference engine every other engine must match.

    Records go over as one JSON string per call: given a list, pypmml converts it with a
    Py4J round trip per element (~11 ms for a record of 112 inputs, against ~0.8 ms).
    """

    _lock = threading.Lock()
    _open = 0

    def __init__(self, spec: ModelSpec):
        from pypmml import Model  # imported lazily: starts a JVM

        self.fields = check_inputs(spec.pmml_text)
        try:
            self.model = Model.fromString(spec.pmml_text)
        except Exception as err:  # pypmml surfaces Java errors as generic exceptions
            raise ModelError(f"pypmml cannot load model {spec.name} {spec.version}: {err}") from None
        self.output_field = spec.output_field
        if self.output_field not in self.model.outputNames:
            raise ModelError(f"model has no output field {self.output_field!r}; it has {self.model.outputNames}")
        self._names = list(self.model.inputNames)
        self._columns = json.dumps(self._names)
        with PypmmlScorer._lock:
            PypmmlScorer._open += 1

    def score(self, row: Mapping[str, Optional[float]]) -> float:
        return float(self.score_batch([row])[0])

    def score_batch(self, rows: Sequence[Mapping[str, Optional[float]]]) -> np.ndarray:
        if not rows:
            return np.empty(0)
        data = ",".join("[" + ",".join(_json_number(row.get(name)) for name in self._names) + "]" for row in rows)
        result = json.loads(self.model.predict(f'{{"columns":{self._columns},"data":[{data}]}}'))
        index = result["columns"].index(self.output_field)
        return np.array([math.nan if values[index] is None else values[index] for values in result["data"]],
                        dtype=np.float64)

    def close(self) -> None:
        """Stop pypmml's JVM with the last scorer of this interpreter.

        pypmml keeps one gateway JVM per Python process; in thread mode every operator of
        a TaskManager shares that process, and the JVM otherwise outlives each job.
        """
        from pypmml import Model

        with PypmmlScorer._lock:
            PypmmlScorer._open -= 1
            if PypmmlScorer._open == 0:
                Model.close()


def _json_number(value: Optional[float]) -> str:
    """An input as PMML4S reads it from JSON: None and NaN are missing (null); JSON has no
    infinity, but PMML4S reads 1e400 as one; repr() round-trips every other double."""
    if value is None or value != value:
        return "null"
    number = float(value)
    if math.isinf(number):
        return "1e400" if number > 0 else "-1e400"
    return repr(number)


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
    return (f"engine {spec.engine}, max |difference| from pypmml {parity.max_abs_difference:.1g} "
            f"over {parity.rows} records")


def describe_row(row: Mapping[str, Optional[float]]) -> str:
    """A record in an error message: its non-zero inputs, and which are missing."""
    missing = [name for name in FEATURES if row.get(name) is None or row.get(name) != row.get(name)]
    shown = [f"{name}={row[name]!r}" for name in FEATURES if name not in missing and row.get(name) != 0]
    if len(missing) > 5:
        missing = [f"{len(missing)} fields"]
    return ", ".join(shown + ([f"missing {', '.join(missing)}"] if missing else [])) or "all zero"


def split_values(pmml_text: str) -> dict[str, list[float]]:
    """Every number a SimplePredicate compares a field with: where engines may disagree."""
    found: dict[str, set[float]] = {}
    for el in pmml_root(pmml_text).iter():
        if local_name(el.tag) == "SimplePredicate" and _is_number(el.get("value")):
            found.setdefault(el.get("field"), set()).add(float(el.get("value")))
    return {name: sorted(values) for name, values in found.items()}


def _is_number(text: Optional[str]) -> bool:
    try:
        return math.isfinite(float(text))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


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
