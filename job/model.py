"""Load, check and score the PMML model: fail loudly at start, never serve a default silently.

The model travels as PMML text: the client reads and verifies it before submission (a
bad model fails ``make submit`` with a message, not a TaskManager minutes later), then
ships the text inside the operator, so TaskManagers need no shared filesystem; each
operator verifies it again when it loads it in ``open()``.
"""
from __future__ import annotations

import hashlib
import json
import math
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from job.schema import FEATURES


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


@dataclass(frozen=True)
class Verification:
    inputs: list[dict[str, Optional[float]]]
    expected: list[float]
    precision: float
    zero_threshold: float


def load_spec(pmml_path: Path, metadata_path: Path, threshold: Optional[float] = None) -> ModelSpec:
    """Read model + metadata; ``threshold`` (from conf) overrides the metadata's."""
    if not pmml_path.is_file():
        raise ModelError(f"model file not found: {pmml_path} (run `make train`, or set model.pmml)")
    if not metadata_path.is_file():
        raise ModelError(f"model metadata not found: {metadata_path} (written by `make train` next to the PMML)")
    pmml_bytes = pmml_path.read_bytes()
    try:
        meta = json.loads(metadata_path.read_text())
    except ValueError as err:
        raise ModelError(f"{metadata_path}: not valid JSON ({err})") from None
    missing = [k for k in ("name", "version", "output_field", "threshold") if k not in meta]
    if missing:
        raise ModelError(f"{metadata_path}: missing keys {missing}")
    sha = hashlib.sha256(pmml_bytes).hexdigest()
    if meta.get("pmml_sha256") not in (None, sha):
        raise ModelError(f"{pmml_path} does not match {metadata_path} (pmml_sha256 differs): retrain or fix the pair")
    chosen = meta["threshold"] if threshold is None else threshold
    if not isinstance(chosen, (int, float)) or not 0 <= chosen <= 1:
        raise ModelError(f"threshold {chosen!r} is not a probability")
    try:
        text = pmml_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError(f"{pmml_path}: not UTF-8 text, not a PMML file") from None
    return ModelSpec(str(meta["name"]), str(meta["version"]), text, sha, meta["output_field"], float(chosen))


def _xml(pmml_text: str) -> ET.Element:
    try:
        root = ET.fromstring(pmml_text)
    except ET.ParseError as err:
        raise ModelError(f"model is not well-formed XML: {err}") from None
    if not root.tag.endswith("PMML"):
        raise ModelError(f"model root element is {root.tag}, not PMML")
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def input_fields(pmml_text: str) -> list[str]:
    """The active fields of the model's MiningSchema: what a scoring row must provide."""
    root = _xml(pmml_text)
    model = next((el for el in root if _local(el.tag).endswith("Model")), None)
    if model is None:
        raise ModelError("PMML has no model element")
    schema = next((el for el in model if _local(el.tag) == "MiningSchema"), None)
    if schema is None:
        raise ModelError("PMML model has no MiningSchema")
    return [
        el.get("name")
        for el in schema
        if _local(el.tag) == "MiningField" and el.get("usageType", "active") == "active"
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
    root = _xml(pmml_text)
    block = next((el for el in root.iter() if _local(el.tag) == "ModelVerification"), None)
    if block is None:
        raise ModelError("model has no verification data (export it with PMMLPipeline.verify())")
    columns: dict[str, str] = {}
    precision, zero = 1e-6, 1e-16  # PMML 4.4 defaults for VerificationField
    for field in block.iter():
        if _local(field.tag) == "VerificationField":
            column = field.get("column", field.get("field"))
            columns[column.rsplit(":", 1)[-1]] = field.get("field")  # "data:age" → element <data:age>
            if field.get("field") == output_field:
                precision = float(field.get("precision", precision))
                zero = float(field.get("zeroThreshold", zero))
    if output_field not in columns.values():
        raise ModelError(f"verification data has no expected values for {output_field!r}")
    inputs, expected = [], []
    for row in (el for el in block.iter() if _local(el.tag) == "row"):
        values = {columns.get(_local(cell.tag), _local(cell.tag)): cell.text for cell in row}
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


class PypmmlScorer:
    """pypmml (PMML4S over a Py4J JVM): the reference engine every other engine must match."""

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
        self._index = self.model.outputNames.index(self.output_field)
        with PypmmlScorer._lock:
            PypmmlScorer._open += 1

    def score(self, row: dict[str, Optional[float]]) -> float:
        result = self.model.predict([row.get(name) for name in self.model.inputNames])
        return float(result[self._index])

    def verify(self, check: Verification) -> float:
        actual = [self.score(row) for row in check.inputs]
        return verify_scores(check.expected, actual, check.precision, check.zero_threshold)

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


def open_scorer(spec: ModelSpec) -> PypmmlScorer:
    """Load and verify, or raise ModelError: an unverifiable model must never serve."""
    scorer = PypmmlScorer(spec)
    try:
        scorer.verify(verification(spec.pmml_text, spec.output_field))
    except ModelError:
        scorer.close()
        raise
    return scorer
