"""The reference engine: pypmml (PMML4S in a Py4J JVM)."""

from __future__ import annotations

import json
import math
import threading
from typing import Mapping, Optional, Sequence

import numpy as np

from job.model import ModelSpec
from job.pmml import ModelError, check_inputs
from job.scorer import Scorer


class PypmmlScorer(Scorer):
    """pypmml (PMML4S over a Py4J JVM): the reference engine every other engine must match.

    Records go over as one JSON string per call: given a list, pypmml converts it with a
    Py4J round trip per element (~11 ms for a record of 112 inputs, against ~0.8 ms).
    """

    _lock = threading.Lock()
    _open = 0

    def __init__(self, spec: ModelSpec):
        from pypmml import Model  # imported lazily: starts a JVM

        self.fields = check_inputs(spec.pmml_text)
        try:
            self.model = Model.fromString(spec.pmml_text)
        except Exception as err:  # pypmml surfaces Java errors as generic exceptions
            raise ModelError(f"pypmml cannot load model {spec.name} {spec.version}: {err}") from None
        self.output_field = spec.output_field
        if self.output_field not in self.model.outputNames:
            raise ModelError(f"model has no output field {self.output_field!r}; it has {self.model.outputNames}")
        self._names = list(self.model.inputNames)
        self._columns = json.dumps(self._names)
        with PypmmlScorer._lock:
            PypmmlScorer._open += 1

    def score(self, row: Mapping[str, Optional[float]]) -> float:
        return float(self.score_batch([row])[0])

    def score_batch(self, rows: Sequence[Mapping[str, Optional[float]]]) -> np.ndarray:
        if not rows:
            return np.empty(0)
        data = ",".join("[" + ",".join(_json_number(row.get(name)) for name in self._names) + "]" for row in rows)
        result = json.loads(self.model.predict(f'{{"columns":{self._columns},"data":[{data}]}}'))
        index = result["columns"].index(self.output_field)
        return np.array(
            [math.nan if values[index] is None else values[index] for values in result["data"]], dtype=np.float64
        )

    def close(self) -> None:
        """Stop pypmml's JVM with the last scorer of this interpreter.

        pypmml keeps one gateway JVM per Python process; in thread mode every operator of
        a TaskManager shares that process, and the JVM otherwise outlives each job.
        """
        from pypmml import Model

        with PypmmlScorer._lock:
            PypmmlScorer._open -= 1
            if PypmmlScorer._open == 0:
                Model.close()


def _json_number(value: Optional[float]) -> str:
    """An input as PMML4S reads it from JSON: None and NaN are missing (null); JSON has no
    infinity, but PMML4S reads 1e400 as one; repr() round-trips every other double."""
    if value is None or value != value:
        return "null"
    number = float(value)
    if math.isinf(number):
        return "1e400" if number > 0 else "-1e400"
    return repr(number)
