"""job/parity.py: the compiled engine is trusted only where it matches pypmml."""

import math

import pytest

from job.compiled_engine import CompiledScorer
from job.model import load_spec
from job.parity import check_model, check_parity, sample_rows
from job.pmml import ModelError, split_values
from tests.support.fixtures import FIXTURES


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


def test_sample_rows_are_deterministic_and_cover_the_hard_cases():
    splits = split_values((FIXTURES / "model.pmml").read_text())
    rows = sample_rows(400, seed=11, splits=splits)
    assert rows == sample_rows(400, seed=11, splits=splits)
    values = [value for row in rows for value in row.values()]
    assert any(value is None for value in values) and any(value == math.inf for value in values)
    assert any(row["age"] is None and row["cat0"] is not None for row in rows)
    assert any(row["cat0"] is None and row["age"] is not None for row in rows)
    assert any(math.nextafter(split, math.inf) == row["age"] for row in rows for split in splits["age"])
