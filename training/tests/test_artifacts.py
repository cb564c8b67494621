"""The committed models (pmml/) and the job's fixtures (tests/fixtures/) are consistent and verified."""

import hashlib
import json
from pathlib import Path

import pytest

from contract.schema import FEATURES
from training import export

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = [ROOT / "pmml" / f"{arm}.pmml" for arm in ("model", "baseline")] + [
    ROOT / "tests" / "fixtures" / f"{arm}.pmml" for arm in ("model", "baseline")
]


@pytest.mark.parametrize("pmml", ARTIFACTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_pmml_matches_its_metadata_and_verification_data(pmml):
    if not pmml.exists():
        pytest.skip(f"{pmml} not built")
    meta = json.loads(pmml.with_suffix(".json").read_text())
    assert meta["pmml_sha256"] == hashlib.sha256(pmml.read_bytes()).hexdigest()
    assert meta["features"] == export.pmml_input_fields(pmml)
    assert set(meta["features"]) <= set(FEATURES)
    assert meta["output_field"] == export.OUTPUT_FIELD
    # the verification rows recorded xgboost's probabilities; pypmml must reproduce them
    assert export.verification_difference(pmml) <= 1e-6
