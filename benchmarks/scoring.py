"""Scoring engines side by side on one PMML and the same records, measured in one run.

    python -m benchmarks.scoring [--pmml pmml/model.pmml] [--records 10000] [--seed 0]

The records are ``job.parity.sample_rows``: the job's shapes (both halves, one half
missing) plus fields at split values, one ulp either side and out of range, so the
differences reported are parity on hard cases, not only on typical traffic. Every engine
is warmed up on the first records before it is timed, and the variants take turns on
slices of the records (``run``); the reference for speed-up and difference is pypmml
scoring one record per call, as the job's operator would.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from job.engines import open_scorer
from job.model import load_spec
from job.parity import sample_rows
from job.pmml import split_values

REPO = Path(__file__).resolve().parent.parent
WARM_UP = 200
ROUNDS = 5

Score = Callable[[Sequence[dict]], np.ndarray]


def run(
    pmml_path: Path | str = REPO / "pmml" / "model.pmml", records: int = 10000, seed: int = 0, rounds: int = ROUNDS
) -> dict:
    """Time each engine on the same records; {"engines": [{"engine", "load_s", "us_per_record", ...}]}.

    The records are scored in ``rounds`` slices, every variant on a slice before any goes
    on to the next, and a variant's speed is that of its median slice: on a shared machine
    a burst of other work then slows one slice of every variant alike, rather than the
    whole run of whichever variant it happened to hit.
    """
    pmml_path = Path(pmml_path)
    load_before = os.getloadavg()[0]
    spec = load_spec(pmml_path, pmml_path.with_suffix(".json"), engine="compiled")
    rows = sample_rows(records, seed, split_values(spec.pmml_text))
    bounds = np.linspace(0, len(rows), rounds + 1).astype(int)
    slices = [rows[start:end] for start, end in zip(bounds, bounds[1:])]
    scorers = []
    try:
        variants: list[tuple[str, float, Score]] = []
        for engine in ("pypmml", "compiled"):
            started = time.perf_counter()
            scorers.append(open_scorer(spec, engine))  # loads and checks the embedded verification rows
            scorer, load_s = scorers[-1], time.perf_counter() - started
            variants += [
                (f"{engine} per-record", load_s, _one_at_a_time(scorer)),
                (f"{engine} batched" + (" (JSON)" if engine == "pypmml" else ""), load_s, scorer.score_batch),
            ]
            if engine == "pypmml":
                variants.append(("pypmml batched (DataFrame)", load_s, _dataframe_scorer(scorer)))
        for _, _, score in variants:
            score(rows[:WARM_UP])
        timings: dict[str, list[tuple[float, np.ndarray]]] = {name: [] for name, _, _ in variants}
        for batch in slices:
            for name, _, score in variants:
                timings[name].append(_timed(score, batch))
    finally:
        for scorer in scorers:
            scorer.close()
    reference = np.concatenate([scores for _, scores in timings[variants[0][0]]])
    results = [
        _result(name, load_s, timings[name], [len(batch) for batch in slices], reference)
        for name, load_s, _ in variants
    ]
    base = results[0]["records_per_s"]
    for result in results:
        result["speedup"] = result["records_per_s"] / base
    return {
        "pmml": str(pmml_path),
        "records": len(rows),
        "seed": seed,
        "rounds": rounds,
        "engines": results,
        "load_average_1m": [load_before, os.getloadavg()[0]],
    }


def _one_at_a_time(scorer) -> Score:
    return lambda batch: np.array([scorer.score(row) for row in batch])


def _dataframe_scorer(scorer) -> Callable[[Sequence[dict]], np.ndarray]:
    """pypmml's own batch call: a DataFrame, which it sends as JSON via pandas' to_json
    (10 significant digits, so inputs within 1e-10 of a split can land on its other side)."""
    names = scorer.model.inputNames

    def score(batch: Sequence[dict]) -> np.ndarray:
        frame = pd.DataFrame([[row.get(name) for name in names] for row in batch], columns=names, dtype=float)
        return scorer.model.predict(frame)[scorer.output_field].to_numpy(dtype=float)

    return score


def _timed(score: Score, rows: Sequence[dict]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    scores = np.asarray(score(rows), dtype=float)
    return time.perf_counter() - started, scores


def _result(
    name: str, load_s: float, timings: list[tuple[float, np.ndarray]], sizes: list[int], reference: np.ndarray
) -> dict:
    scores = np.concatenate([scored for _, scored in timings])
    both_missing = np.isnan(scores) & np.isnan(reference)
    difference = np.where(both_missing, 0.0, np.abs(scores - reference))
    seconds = statistics.median(elapsed / size for (elapsed, _), size in zip(timings, sizes))
    return {
        "engine": name,
        "load_s": round(load_s, 3),
        "seconds": round(sum(elapsed for elapsed, _ in timings), 4),
        "records_per_s": 1 / seconds,
        "us_per_record": seconds * 1e6,
        "max_abs_difference": float(np.nan_to_num(difference, nan=np.inf).max()),
    }


def table(report: dict) -> str:
    lines = [
        f"{report['records']} records from {report['pmml']} (seed {report['seed']}) in {report['rounds']} "
        "interleaved slices, median slice; "
        "speed-up and difference against pypmml per-record; load average (1 min) "
        + " -> ".join(f"{load:.2f}" for load in report["load_average_1m"]),
        f"{'engine':<28}{'load s':>8}{'records/s':>12}{'us/record':>11}{'speed-up':>10}{'max |diff|':>12}",
    ]
    for r in report["engines"]:
        lines.append(
            f"{r['engine']:<28}{r['load_s']:>8.2f}{r['records_per_s']:>12,.0f}{r['us_per_record']:>11.1f}"
            f"{r['speedup']:>9.1f}x{r['max_abs_difference']:>12.1e}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pmml", default=str(REPO / "pmml" / "model.pmml"), help="PMML file (its .json beside it)")
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(table(run(args.pmml, args.records, args.seed)))


if __name__ == "__main__":
    main()
