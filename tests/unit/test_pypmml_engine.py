"""job/pypmml_engine.py: the JSON call pypmml is fed scores as its list call."""

import math

import numpy as np

from job.engines import open_scorer
from job.model import load_spec
from job.parity import sample_rows
from job.pmml import split_values
from tests.support.fixtures import FIXTURES


def test_pypmml_json_calls_score_exactly_as_its_list_calls():
    """The reference engine now sends JSON; its list call (per field over Py4J) is the
    unambiguous original, including infinities and NaN."""
    spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    reference = open_scorer(spec, "pypmml")
    try:
        rows = sample_rows(60, seed=5, splits=split_values(spec.pmml_text))
        rows[0] = {**rows[0], "age": math.inf, "cat36": -math.inf, "man": math.nan}
        names, index = reference.model.inputNames, reference.model.outputNames.index(spec.output_field)
        listed = [
            reference.model.predict([None if row.get(n) != row.get(n) else row.get(n) for n in names])[index]
            for row in rows
        ]
        assert np.array_equal(reference.score_batch(rows), np.array(listed, dtype=float))
        assert reference.score(rows[0]) == listed[0]
    finally:
        reference.close()
