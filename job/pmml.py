"""Reading a PMML file and what it says about itself: well-formed, the inputs it needs
(only fields the messages carry), the split values an engine must get right, and the
verification rows sklearn2pmml embedded, with PMML's acceptance rule for them."""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from contract.schema import FEATURES


class ModelError(RuntimeError):
    """The model cannot be served; the message says which file and why."""


@dataclass(frozen=True)
class Verification:
    inputs: list[dict[str, Optional[float]]]
    expected: list[float]
    precision: float
    zero_threshold: float


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
