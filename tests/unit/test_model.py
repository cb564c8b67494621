"""Model safety with real PMML files: verify on load, refuse what cannot be served."""
import json

import pytest

from job.model import ModelError, check_inputs, load_spec, open_scorer, verification, verify_scores
from job.schema import feature_row
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def scorer():
    spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    opened = open_scorer(spec)
    yield opened
    opened.close()


def test_fixture_verifies_and_scores_missing_inputs(scorer):
    check = verification(scorer_spec().pmml_text, "probability(1)")
    assert len(check.inputs) >= 10 and scorer.verify(check) < 1e-6
    for row in (feature_row(None, None), feature_row({"age": 30, "man": 1, "woman": 0}, None),
                feature_row(None, {"cat36": 1})):
        assert 0 < scorer.score(row) < 1


def scorer_spec():
    return load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")


def test_baseline_model_uses_only_age_and_sex():
    spec = load_spec(FIXTURES / "baseline.pmml", FIXTURES / "baseline.json")
    assert set(check_inputs(spec.pmml_text)) <= {"age", "man", "woman"}
    open_scorer(spec).close()


def test_threshold_from_metadata_or_override():
    meta = json.loads((FIXTURES / "model.json").read_text())
    assert scorer_spec().threshold == meta["threshold"]
    assert load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json", threshold=0.5).threshold == 0.5


def test_missing_model_fails_with_the_path(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        load_spec(tmp_path / "nope.pmml", tmp_path / "nope.json")


def test_pmml_that_does_not_match_its_metadata_is_refused(fixture_model):
    pmml, meta = fixture_model
    pmml.write_text(pmml.read_text().replace("<Header", "<!-- edited --><Header", 1))
    with pytest.raises(ModelError, match="pmml_sha256 differs"):
        load_spec(pmml, meta)


def _unpinned(fixture_model, edit):
    """Edit the PMML and drop the checksum, as someone hand-editing a model would."""
    pmml, meta = fixture_model
    pmml.write_text(edit(pmml.read_text()))
    data = json.loads(meta.read_text())
    data.pop("pmml_sha256", None)
    meta.write_text(json.dumps(data))
    return load_spec(pmml, meta)


def test_corrupt_pmml_is_refused(fixture_model):
    spec = _unpinned(fixture_model, lambda text: text[: len(text) // 2])
    with pytest.raises(ModelError, match="not well-formed XML"):
        open_scorer(spec)


def test_model_whose_verification_fails_is_refused(fixture_model):
    spec = _unpinned(fixture_model, lambda text: text.replace("<data:probability_1>0.", "<data:probability_1>0.9", 1))
    with pytest.raises(ModelError, match="verification row"):
        open_scorer(spec)


def test_model_without_verification_data_is_refused(fixture_model):
    def strip(text):
        start, end = text.index("<ModelVerification"), text.index("</ModelVerification>")
        return text[:start] + text[end + len("</ModelVerification>"):]
    with pytest.raises(ModelError, match="no verification data"):
        open_scorer(_unpinned(fixture_model, strip))


def test_model_with_inputs_the_messages_lack_is_refused(fixture_model):
    spec = _unpinned(fixture_model, lambda text: text.replace('name="age"', 'name="income"'))
    with pytest.raises(ModelError, match="input fields the messages do not carry"):
        open_scorer(spec)


def test_verify_scores_rule():
    assert verify_scores([0.5, 0.0], [0.5000001, 1e-17], precision=1e-6, zero=1e-16) == pytest.approx(1e-7)
    with pytest.raises(ModelError, match="row 0"):
        verify_scores([0.5], [0.51], precision=1e-6, zero=1e-16)
    with pytest.raises(ModelError, match="no score"):
        verify_scores([0.5], [None], precision=1e-6, zero=1e-16)
