"""job/engines.py: every engine loads, verifies and scores the real PMML files; which engine serves."""

import pytest

from contract.schema import feature_row
from job.compiled_engine import CompiledScorer
from job.config import ConfigError, load_config
from job.engines import open_scorer
from job.model import ENGINES, load_spec
from job.pmml import ModelError, check_inputs, verification
from job.pypmml_engine import PypmmlScorer
from tests.support.fixtures import FIXTURES, fixture_spec, unpinned


@pytest.fixture(scope="module", params=ENGINES)
def scorer(request):
    spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    opened = open_scorer(spec, request.param)
    yield opened
    opened.close()


def test_fixture_verifies_and_scores_missing_inputs(scorer):
    check = verification(fixture_spec().pmml_text, "probability(1)")
    assert len(check.inputs) >= 10 and scorer.verify(check) < 1e-6
    for row in (
        feature_row(None, None),
        feature_row({"age": 30, "man": 1, "woman": 0}, None),
        feature_row(None, {"cat36": 1}),
    ):
        assert 0 < scorer.score(row) < 1


def test_baseline_model_uses_only_age_and_sex():
    spec = load_spec(FIXTURES / "baseline.pmml", FIXTURES / "baseline.json")
    assert set(check_inputs(spec.pmml_text)) <= {"age", "man", "woman"}
    open_scorer(spec).close()


def test_model_whose_verification_fails_is_refused(fixture_model):
    spec = unpinned(fixture_model, lambda text: text.replace("<data:probability_1>0.", "<data:probability_1>0.9", 1))
    with pytest.raises(ModelError, match="verification row"):
        open_scorer(spec)


def test_engine_comes_from_the_spec_or_the_call():
    spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    assert spec.engine == "compiled" and isinstance(open_scorer(spec), CompiledScorer)
    pypmml_spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json", engine="pypmml")
    reference = open_scorer(pypmml_spec)
    assert isinstance(reference, PypmmlScorer)
    reference.close()
    with pytest.raises(ModelError, match="unknown scoring engine 'jpmml'"):
        load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json", engine="jpmml")
    with pytest.raises(ModelError, match="unknown scoring engine 'jpmml'"):
        open_scorer(spec, "jpmml")


def test_config_chooses_the_engine():
    assert load_config(environ={}).model.engine == "compiled"
    assert load_config(overrides={"model.engine": "pypmml"}, environ={}).model.engine == "pypmml"
    with pytest.raises(ConfigError, match="model.engine: expected one of compiled, pypmml, got 'fast'"):
        load_config(overrides={"model.engine": "fast"}, environ={})
