"""PMML export with embedded verification data, a parity check, and atomic publication.

A model is only published if the PMML, scored by an independent engine (pypmml), gives
xgboost's own probabilities; otherwise the previous model stays in place untouched.
The PMML and its metadata are written to temporary files beside their targets and
renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import xml.etree.ElementTree as ElementTree
from contextlib import contextmanager, redirect_stdout
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
from sklearn2pmml import sklearn2pmml
from sklearn2pmml.pipeline import PMMLPipeline

from contract.schema import DEMOGRAPHIC_FIELDS, FEATURES, PRODUCT_FIELDS
from training.data import sha256_bytes

OUTPUT_FIELD = "probability(1)"  # sklearn2pmml's name for P(label = 1)


class VerificationError(RuntimeError):
    """The exported PMML does not reproduce the trained model; nothing was published."""


def verification_rows(X: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """Sample rows plus the same customers with no history and with no demographics.

    The embedded verification data then also covers the missing-value branches that
    the real data never exercises but serving does.
    """
    sample = X.sample(min(rows, len(X)), random_state=seed)
    no_history = sample.copy()
    no_history[[c for c in X.columns if c in PRODUCT_FIELDS]] = np.nan
    no_demographics = sample.copy()
    no_demographics[[c for c in X.columns if c in DEMOGRAPHIC_FIELDS]] = np.nan
    return pd.concat([sample, no_history, no_demographics], ignore_index=True)


def pmml_probabilities(path: str | Path, X: pd.DataFrame) -> np.ndarray:
    """P(label = 1) from the PMML file as pypmml scores it, in batch."""
    from pypmml import Model

    model = Model.load(str(path))
    return model.predict(X)[OUTPUT_FIELD].to_numpy(dtype=float)


def embedded_verification(path: str | Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The verification inputs and the P(label = 1) recorded with them inside a PMML file.

    An empty cell is a missing input, as the converter writes it.
    """
    verification = ElementTree.parse(path).getroot().find(".//{*}ModelVerification")
    if verification is None:
        raise VerificationError(f"{Path(path).name}: no embedded verification data")
    columns = {
        field.get("column").split(":")[-1]: field.get("field")
        for field in verification.iter()
        if field.tag.endswith("}VerificationField")
    }
    records = [
        {columns[cell.tag.split("}")[-1]]: float(cell.text) for cell in row}
        for row in verification.iter()
        if row.tag.endswith("}row")
    ]
    frame = pd.DataFrame.from_records(records, columns=list(columns.values()))
    expected = frame.pop(OUTPUT_FIELD).to_numpy()
    inputs = frame.drop(columns=[name for name in frame.columns if name.startswith("probability(")])
    return inputs, expected


def verification_difference(path: str | Path) -> float:
    """Max |pypmml - recorded xgboost| probability over a PMML file's embedded verification rows."""
    inputs, expected = embedded_verification(path)
    return float(np.max(np.abs(pmml_probabilities(path, inputs) - expected)))


# The relative precision embedded in ModelVerification, which every PMML consumer checks
# on load (the job does). sklearn2pmml's default 1e-13 holds only for float32 engines
# like JPMML; pypmml scores in double and differs from xgboost's float32 sums by ~1e-7
# absolute, i.e. up to a few 1e-6 relative on small probabilities. The absolute parity
# bound of the issue (publish's ``tolerance``, 1e-6) is checked separately below.
VERIFICATION_PRECISION = 1e-5


def pmml_input_fields(path: str | Path) -> list[str]:
    """The PMML's input fields in message order; the converter drops fields no tree uses."""
    from pypmml import Model

    names = set(Model.load(str(path)).inputNames)
    return [name for name in FEATURES if name in names] + sorted(names - set(FEATURES))


def publish(
    pipeline: PMMLPipeline,
    X_verify: pd.DataFrame,
    X_parity: pd.DataFrame,
    metadata: Mapping[str, Any],
    pmml_path: str | Path,
    *,
    tolerance: float = 1e-6,
) -> dict[str, Any]:
    """Export, verify and atomically write ``<name>.pmml`` and ``<name>.json``; return the metadata."""
    pmml_path = Path(pmml_path)
    json_path = pmml_path.with_suffix(".json")
    pmml_path.parent.mkdir(parents=True, exist_ok=True)
    pipeline.verify(X_verify, precision=VERIFICATION_PRECISION, zeroThreshold=tolerance)
    with _temporary(pmml_path) as candidate:
        _convert(pipeline, candidate)
        text = candidate.read_bytes()
        checked = pd.concat([X_parity, X_verify], ignore_index=True)
        difference = max(
            verification_difference(candidate),
            float(np.max(np.abs(pmml_probabilities(candidate, checked) - pipeline.predict_proba(checked)[:, 1]))),
        )
        if not difference <= tolerance:
            raise VerificationError(
                f"{pmml_path.name}: PMML and xgboost probabilities differ by up to "
                f"{difference:.3g} (> {tolerance:g}); kept the existing model"
            )
        created = datetime.now(timezone.utc)
        digest = sha256_bytes(text)
        full = {
            "name": metadata["name"],
            "version": f"{created:%Y%m%dT%H%M%SZ}-{digest[:12]}",
            "features": pmml_input_fields(candidate),
            "threshold": metadata["threshold"],
            "output_field": OUTPUT_FIELD,
            **metadata,
            "pmml_sha256": digest,
            "created_at": created.isoformat(timespec="seconds"),
            "parity": {"rows": int(len(checked)), "max_abs_difference": difference, "tolerance": tolerance},
        }
        with _temporary(json_path) as candidate_json:
            candidate_json.write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
            os.replace(candidate, pmml_path)
            os.replace(candidate_json, json_path)
    return full


def _convert(pipeline: PMMLPipeline, path: Path) -> None:
    """sklearn2pmml, with the converter's log and banner shown only when it fails."""
    log = io.StringIO()
    try:
        with redirect_stdout(log):
            sklearn2pmml(pipeline, str(path))
    except RuntimeError as error:
        raise VerificationError(f"{path.name}: PMML conversion failed: {error}\n{log.getvalue()}") from error


@contextmanager
def _temporary(target: Path) -> Iterator[Path]:
    """A scratch file in the target's directory (same file system, so rename is atomic)."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    path = Path(name)
    path.chmod(0o644)  # mkstemp's 0600 would hide published models from other users
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
