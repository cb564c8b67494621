"""Model safety with real PMML files: verify on load, refuse what cannot be served."""
import json

import pytest

import math

import numpy as np

from job.config import ConfigError, load_config
from job.model import (
    ENGINES, CompiledScorer, ModelError, PypmmlScorer, check_inputs, check_model, check_parity, load_spec, open_scorer,
    sample_rows, split_values, verification, verify_scores,
)
from job.schema import feature_row
from tests.conftest import FIXTURES


@pytest.fixture(scope="module", params=ENGINES)
def scorer(request):
    spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    opened = open_scorer(spec, request.param)
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


def test_submission_check_reports_parity_with_pypmml():
    spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    assert check_model(spec).startswith("engine compiled, max |difference| from pypmml")
    assert check_model(load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json", engine="pypmml")) == "engine pypmml"


def test_parity_failure_names_the_worst_row_and_difference(monkeypatch):
    spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    honest = CompiledScorer.score_batch

    def off_on_row_17(self, rows):
        scores = honest(self, rows)
        if len(rows) > 100:  # the parity sample, not the load-time verification
            scores[17] += 2e-9
            scores[40] += 1e-9
        return scores

    monkeypatch.setattr(CompiledScorer, "score_batch", off_on_row_17)
    expected = r"engine 'compiled' differs from pypmml by 2e-09 \(> 1e-09\) on verification row 17 \[age="
    with pytest.raises(ModelError, match=expected):
        check_parity(spec, sample=200)


def test_pypmml_json_calls_score_exactly_as_its_list_calls():
    """The reference engine now sends JSON; its list call (per field over Py4J) is the
    unambiguous original, including infinities and NaN."""
    spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    reference = open_scorer(spec, "pypmml")
    try:
        rows = sample_rows(60, seed=5, splits=split_values(spec.pmml_text))
        rows[0] = {**rows[0], "age": math.inf, "cat36": -math.inf, "man": math.nan}
        names, index = reference.model.inputNames, reference.model.outputNames.index(spec.output_field)
        listed = [reference.model.predict([None if row.get(n) != row.get(n) else row.get(n) for n in names])[index]
                  for row in rows]
        assert np.array_equal(reference.score_batch(rows), np.array(listed, dtype=float))
        assert reference.score(rows[0]) == listed[0]
    finally:
        reference.close()


def test_sample_rows_are_deterministic_and_cover_the_hard_cases():
    splits = split_values((FIXTURES / "model.pmml").read_text())
    rows = sample_rows(400, seed=11, splits=splits)
    assert rows == sample_rows(400, seed=11, splits=splits)
    values = [value for row in rows for value in row.values()]
    assert any(value is None for value in values) and any(value == math.inf for value in values)
    assert any(row["age"] is None and row["cat0"] is not None for row in rows)
    assert any(row["cat0"] is None and row["age"] is not None for row in rows)
    assert any(math.nextafter(split, math.inf) == row["age"] for row in rows for split in splits["age"])
