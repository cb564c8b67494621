"""Load, check and score the PMML model: fail loudly at start, never serve a default silently.

The model travels as PMML text: the client reads and verifies it before submission (a
bad model fails ``make submit`` with a message, not a TaskManager minutes later), then
ships the text inside the operator, so TaskManagers need no shared filesystem; each
operator verifies it again when it loads it in ``open()``.

Two engines score it. pypmml (PMML4S in a JVM) is the reference; "compiled"
(job/compiled_engine.py) evaluates the same PMML in-process, faster than pypmml
(benchmarks/scoring.py), and is only trusted where it matches pypmml: at submission
``job.parity.check_model`` compares the two on the PMML's verification rows and a
generated sample. This module holds what names a model (``ModelSpec``); job/pmml.py reads
the PMML, job/engines.py opens an engine on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from job.pmml import ModelError, read_pmml

ENGINES = ("compiled", "pypmml")


DEFAULT_ENGINE = "compiled"  # parity with pypmml holds on pmml/ and tests/fixtures/ (tests/unit/test_tree_engine.py)


REFERENCE_ENGINE = "pypmml"


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
