"""One training run: data -> search -> model and baseline -> held-out evaluation -> PMML + report.

Three disjoint uses of the data keep the reported numbers honest: the search and the
threshold choice only see the training split (the threshold through out-of-fold
predictions), and the held-out split is touched once, to report what the chosen
threshold earns.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from job.monitoring.profile import read_profile
from training import evaluate, export, profile, search
from training.data import blank_sides, load_dataset
from training.evaluate import Economics

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Arm:
    """A trained scorer and the threshold it will be served with."""

    name: str
    description: str
    features: list[str]
    result: search.SearchResult
    pipeline: Any
    threshold: float
    threshold_rule: str
    training_gain: float  # out-of-fold gain at the threshold, $/customer


def train_arm(
    name: str,
    description: str,
    features: Sequence[str],
    X: pd.DataFrame,
    y: pd.Series,
    search_cfg: Mapping[str, Any],
    threshold_rule: str,
    config: Mapping[str, Any],
    economics: Economics,
    progress: Progress,
) -> Arm:
    seed = config["seed"]
    progress(f"[{name}] search on {len(X)} rows x {len(features)} features")
    result = search.search(X[list(features)], y, search_cfg, seed, progress)
    params = search.final_params(result.best)
    progress(f"[{name}] refit with {params['n_estimators']} trees; out-of-fold scores for the threshold")
    pipeline = search.fit_pipeline(X[list(features)], y, params, seed)
    oof = search.out_of_fold(X[list(features)], y, params, folds=config["threshold_folds"], seed=seed)
    threshold, gain = choose_threshold(y.to_numpy(), oof, threshold_rule, economics)
    progress(f"[{name}] threshold {threshold:.4f} ({threshold_rule}); out-of-fold gain {gain:+.3f} $/customer")
    return Arm(name, description, list(features), result, pipeline, threshold, threshold_rule, gain)


def choose_threshold(y: np.ndarray, scores: np.ndarray, rule: str, economics: Economics) -> tuple[float, float]:
    """``optimal`` maximises revenue; ``original_cost`` reproduces the original system's stated cost."""
    curve = evaluate.gain_curve(y, scores, economics)
    if rule == "optimal":
        return evaluate.best_threshold(curve)
    if rule == "original_cost":
        return evaluate.threshold_for_gain(curve, -economics.baseline_cost_per_customer)
    raise ValueError(f"unknown threshold rule {rule!r} (optimal or original_cost)")


def held_out(arm: Arm, X: pd.DataFrame, y: np.ndarray, economics: Economics) -> dict[str, Any]:
    scores = arm.pipeline.predict_proba(X[arm.features])[:, 1]
    curve = evaluate.gain_curve(y, scores, economics)
    best, best_gain = evaluate.best_threshold(curve)
    return {
        "scores": scores,
        "curve": curve,
        "metrics": {
            **evaluate.scores_summary(y, scores),
            "threshold": arm.threshold,
            "gain_per_customer": evaluate.gain_at(y, scores, arm.threshold, economics),
            "shown_share": float(np.mean(scores >= arm.threshold)),
            "hindsight_best_threshold": best,
            "hindsight_best_gain": best_gain,
            "out_of_fold_gain": arm.training_gain,
        },
    }


def run(
    config: Mapping[str, Any],
    economics: Economics,
    data_path: str | None,
    out_dir: str | Path,
    report_dir: str | Path | None,
    progress: Progress = print,
) -> dict[str, Any]:
    started = time.monotonic()
    seed = config["seed"]
    dataset = load_dataset(config, data_path)
    progress(
        f"data: {dataset.source}: {len(dataset.y)} rows, positive rate {dataset.y.mean():.3f}, "
        f"sha256 {dataset.sha256[:12]}"
    )
    X_train, X_test, y_train, y_test = train_test_split(
        dataset.X, dataset.y, test_size=config["split"]["test_size"], stratify=dataset.y, random_state=seed
    )
    X_fit = blank_sides(X_train, config["missing_augmentation"], seed)

    features = config["data"]["features"]
    model = train_arm(
        "model",
        "XGBoost on the customer's message fields",
        features,
        X_fit,
        y_train,
        config["search"],
        "optimal",
        config,
        economics,
        progress,
    )
    baseline_search = {**config["search"], "start": config["baseline"]["params"], "max_trials": 1}
    baseline = train_arm(
        "baseline",
        "original system: XGBoost on age and sex only",
        config["baseline"]["features"],
        X_fit,
        y_train,
        baseline_search,
        config["baseline"]["threshold"],
        config,
        economics,
        progress,
    )

    y = y_test.to_numpy()
    results = {arm.name: held_out(arm, X_test, y, economics) for arm in (model, baseline)}
    comparison = compare(y, results, economics, config, baseline)
    progress(
        f"held-out: model {results['model']['metrics']['gain_per_customer']:+.3f} $/customer, "
        f"baseline {results['baseline']['metrics']['gain_per_customer']:+.3f}, "
        f"difference {comparison['model_minus_baseline']['mean']:+.3f} "
        f"[{comparison['model_minus_baseline']['ci_low']:+.3f}, {comparison['model_minus_baseline']['ci_high']:+.3f}]"
    )

    common = {
        "label": dataset.y.name,
        "economics": economics.as_dict(),
        "training_data_sha256": dataset.sha256,
        "training_data": dataset.source,
        "rows": {"train": int(len(y_train)), "held_out": int(len(y_test))},
        "seed": seed,
        "library_versions": library_versions(),
    }
    published = {}
    for arm in (model, baseline):
        progress(f"[{arm.name}] export to {Path(out_dir) / (arm.name + '.pmml')} with verification and parity check")
        metadata = {
            "name": f"new-category-{arm.name}",
            "description": arm.description,
            "message_fields": arm.features,
            "threshold": arm.threshold,
            "threshold_rule": arm.threshold_rule,
            **common,
            "metrics": {**results[arm.name]["metrics"], "comparison": comparison},
            "hyperparameters": search.final_params(arm.result.best),
            "search": {"trials": len(arm.result.trials), "cv_log_loss": arm.result.best.log_loss},
        }
        X_verify = export.verification_rows(X_test[arm.features], config["verification"]["rows"], seed)
        published[arm.name] = export.publish(
            arm.pipeline,
            X_verify,
            X_test[arm.features],
            metadata,
            Path(out_dir) / f"{arm.name}.pmml",
            tolerance=config["verification"]["tolerance"],
        )
    published["model"] = profile.publish(
        profile.build(dataset.X, results["model"]["scores"], published["model"], dataset.source),
        Path(out_dir) / "model.pmml",
    )
    progress(f"[model] reference profile for monitoring: {Path(out_dir) / published['model']['profile']}")
    summary = {
        "seconds": round(time.monotonic() - started, 1),
        "published": published,
        "arms": {arm.name: arm for arm in (model, baseline)},
        "held_out": (X_test, y_test),
    }
    if report_dir is not None:
        from training import report

        reference = read_profile(Path(out_dir) / published["model"]["profile"])
        figures = report.figures(results, y, comparison, economics, model, baseline, published, reference)
        report.write(figures, report_dir)
        progress(f"report: {Path(report_dir) / 'report.html'}")
    progress(f"done in {time.monotonic() - started:.0f}s")
    return summary


def compare(
    y: np.ndarray, results: Mapping[str, Any], economics: Economics, config: Mapping[str, Any], baseline: Arm
) -> dict[str, Any]:
    """Model vs baseline on the same held-out customers, and what an A/B test needs to see it."""
    shown = {name: r["scores"] >= r["metrics"]["threshold"] for name, r in results.items()}
    difference = evaluate.bootstrap_difference(y, shown["model"], shown["baseline"], economics, seed=config["seed"])
    baseline_optimal, baseline_optimal_gain = evaluate.best_threshold(
        evaluate.gain_curve(y, results["baseline"]["scores"], economics)
    )
    model_gain = results["model"]["metrics"]["gain_per_customer"]
    return {
        "model_minus_baseline": difference,
        "model_vs_stated_original": model_gain + economics.baseline_cost_per_customer,
        "meets_min_effect": bool(difference["mean"] >= economics.min_effect),
        "meets_min_effect_vs_stated_original": bool(
            model_gain + economics.baseline_cost_per_customer >= economics.min_effect
        ),
        "baseline_rule": baseline.threshold_rule,
        "baseline_hindsight_optimal_gain": baseline_optimal_gain,
        "baseline_hindsight_optimal_threshold": baseline_optimal,
        "show_everybody_gain": float(np.mean(evaluate.customer_value(y, economics))),
        "break_even_probability": economics.break_even_probability,
        "ab_customers_per_arm": evaluate.ab_sample_size(economics),
    }


def library_versions() -> dict[str, str]:
    import pypmml
    import sklearn
    import sklearn2pmml
    import xgboost

    return {
        "python": platform.python_version(),
        "xgboost": xgboost.__version__,
        "sklearn2pmml": sklearn2pmml.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "pypmml": pypmml.__version__,
    }
