"""Hyper-parameter search for the XGBoost classifier, and the fits built on its result.

Random search with stratified k-fold cross-validation under both a trial and a
wall-clock budget: on 2 cores a grid would not finish, and the first trial is a known
sensible point so even a budget of one trial gives a usable model. Each fold stops
boosting early on its own validation part; the final tree count is the folds' mean,
and the final model is refitted on all training rows with exactly that many trees, so
the exported PMML and xgboost's own predictions describe the same ensemble.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from sklearn2pmml.pipeline import PMMLPipeline
from xgboost import XGBClassifier

N_JOBS = 2


@dataclass(frozen=True)
class Trial:
    params: dict[str, Any]
    log_loss: float
    n_estimators: int
    seconds: float


@dataclass(frozen=True)
class SearchResult:
    best: Trial
    trials: list[Trial] = field(default_factory=list)


def sample_params(space: Mapping[str, Mapping[str, list]], rng: np.random.Generator) -> dict[str, Any]:
    """One draw from ``{name: {int|uniform|log: [low, high]}}``."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        ((kind, (low, high)),) = spec.items()
        if kind == "int":
            params[name] = int(rng.integers(low, high + 1))
        elif kind == "uniform":
            params[name] = float(rng.uniform(low, high))
        elif kind == "log":
            params[name] = float(math.exp(rng.uniform(math.log(low), math.log(high))))
        else:
            raise ValueError(f"search space {name!r}: unknown distribution {kind!r} (int, uniform or log)")
    return params


def make_classifier(params: Mapping[str, Any], seed: int, **extra: Any) -> XGBClassifier:
    return XGBClassifier(
        objective="binary:logistic",
        eval_metric="logloss",
        tree_method="hist",
        random_state=seed,
        n_jobs=N_JOBS,
        **params,
        **extra,
    )


def cross_validate(
    X: pd.DataFrame,
    y: pd.Series,
    params: Mapping[str, Any],
    *,
    folds: int,
    seed: int,
    max_estimators: int,
    early_stopping_rounds: int,
) -> tuple[float, int]:
    """Mean validation log loss at each fold's early-stopping point, and the mean tree count."""
    losses, trees = [], []
    for train, valid in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        model = make_classifier(params, seed, n_estimators=max_estimators, early_stopping_rounds=early_stopping_rounds)
        model.fit(X.iloc[train], y.iloc[train], eval_set=[(X.iloc[valid], y.iloc[valid])], verbose=False)
        losses.append(model.best_score)
        trees.append(model.best_iteration + 1)
    return float(np.mean(losses)), max(1, round(float(np.mean(trees))))


def search(
    X: pd.DataFrame, y: pd.Series, cfg: Mapping[str, Any], seed: int, progress: Callable[[str], None] = print
) -> SearchResult:
    """Trials until ``max_trials`` or ``time_budget_seconds`` runs out, best by CV log loss."""
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    trials: list[Trial] = []
    best: Trial | None = None
    while len(trials) < cfg["max_trials"]:
        elapsed = time.monotonic() - started
        if trials and elapsed >= cfg["time_budget_seconds"]:
            progress(f"  time budget of {cfg['time_budget_seconds']}s reached after {len(trials)} trial(s)")
            break
        params = dict(cfg["start"]) if not trials else sample_params(cfg["space"], rng)
        t0 = time.monotonic()
        loss, n_trees = cross_validate(
            X,
            y,
            params,
            folds=cfg["folds"],
            seed=seed,
            max_estimators=cfg["max_estimators"],
            early_stopping_rounds=cfg["early_stopping_rounds"],
        )
        trial = Trial(params, loss, n_trees, time.monotonic() - t0)
        trials.append(trial)
        if best is None or trial.log_loss < best.log_loss:
            best = trial
        progress(
            f"  trial {len(trials):>2}/{cfg['max_trials']} [{time.monotonic() - started:5.0f}s"
            f"/{cfg['time_budget_seconds']}s] cv log loss {loss:.5f} ({n_trees} trees)"
            f"{'  * best' if best is trial else f'  best {best.log_loss:.5f}'}  {_short(params)}"
        )
    return SearchResult(best=best, trials=trials)


def final_params(trial: Trial) -> dict[str, Any]:
    return {**trial.params, "n_estimators": trial.n_estimators}


def fit_pipeline(X: pd.DataFrame, y: pd.Series, params: Mapping[str, Any], seed: int) -> PMMLPipeline:
    """The exported object: a PMMLPipeline whose column names become the PMML input fields."""
    pipeline = PMMLPipeline([("classifier", make_classifier(params, seed))])
    pipeline.fit(X, y)
    return pipeline


def out_of_fold(X: pd.DataFrame, y: pd.Series, params: Mapping[str, Any], *, folds: int, seed: int) -> np.ndarray:
    """Honest training-set probabilities for choosing a threshold without touching the held-out rows."""
    predictions = np.empty(len(X))
    for train, valid in StratifiedKFold(folds, shuffle=True, random_state=seed + 1).split(X, y):
        model = make_classifier(params, seed).fit(X.iloc[train], y.iloc[train])
        predictions[valid] = model.predict_proba(X.iloc[valid])[:, 1]
    return predictions


def _short(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
