"""job/model.py: a model is its PMML and metadata, read together or refused with the path."""

import json

import pytest

from job.model import load_spec
from job.pmml import ModelError
from tests.support.fixtures import FIXTURES, fixture_spec


def test_threshold_from_metadata_or_override():
    meta = json.loads((FIXTURES / "model.json").read_text())
    assert fixture_spec().threshold == meta["threshold"]
    assert load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json", threshold=0.5).threshold == 0.5


def test_missing_model_fails_with_the_path(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        load_spec(tmp_path / "nope.pmml", tmp_path / "nope.json")


def test_pmml_that_does_not_match_its_metadata_is_refused(fixture_model):
    pmml, meta = fixture_model
    pmml.write_text(pmml.read_text().replace("<Header", "<!-- edited --><Header", 1))
    with pytest.raises(ModelError, match="pmml_sha256 differs"):
        load_spec(pmml, meta)
