"""A small training run end to end: files, metadata, parity, refusal to publish a bad model."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from contract.schema import FEATURES, LABEL, feature_row
from training import export
from training.data import load_dataset

pytestmark = pytest.mark.slow

REQUIRED = {
    "name",
    "version",
    "features",
    "threshold",
    "output_field",
    "economics",
    "metrics",
    "training_data_sha256",
    "library_versions",
    "created_at",
    "pmml_sha256",
}


def metadata(small_run, arm):
    return json.loads((small_run["out"] / f"{arm}.json").read_text())


def test_writes_models_metadata_and_report(small_run):
    out = small_run["out"]
    for name in (
        "model.pmml",
        "model.json",
        "baseline.pmml",
        "baseline.json",
        "report/report.html",
        "report/figures.json",
        "report/gain_vs_threshold.png",
        "report/calibration.png",
        "report/gain_chart.png",
        "report/reference_profile.png",
        "model.profile.json",
    ):
        assert (out / name).stat().st_size > 0, name
    page = (out / "report" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and 'src="http' not in page
    assert "Model &minus; baseline" in page  # the headline: chosen threshold's gain against the baseline
    figures = json.loads((out / "report" / "figures.json").read_text())
    assert set(figures["arms"]) == {"model", "baseline"}


def test_the_reference_profile_is_versioned_with_the_model(small_run):
    """The job's monitoring reads it (job/monitoring/profile.py) and checks its sha256."""
    from job.monitoring.profile import read_profile

    meta = metadata(small_run, "model")
    profile = read_profile(small_run["out"] / meta["profile"], meta["profile_sha256"])
    assert set(profile.fields) == set(FEATURES) and profile.pmml_sha256 == meta["pmml_sha256"]
    assert profile.score.present == meta["rows"]["held_out"]
    assert profile.shown_share == pytest.approx(meta["metrics"]["shown_share"])
    assert profile.fields["age"].present == meta["rows"]["train"] + meta["rows"]["held_out"]


@pytest.mark.parametrize("arm", ["model", "baseline"])
def test_metadata(small_run, arm, economics):
    meta = metadata(small_run, arm)
    assert REQUIRED <= set(meta)
    assert meta["output_field"] == "probability(1)"
    assert meta["pmml_sha256"] == hashlib.sha256((small_run["out"] / f"{arm}.pmml").read_bytes()).hexdigest()
    assert meta["economics"]["gain_if_buy"] == economics.gain_if_buy
    assert meta["economics"]["loss_if_not"] == economics.loss_if_not
    assert 0 < meta["threshold"] <= 1
    assert {"roc_auc", "log_loss", "brier", "gain_per_customer"} <= set(meta["metrics"])
    assert meta["parity"]["max_abs_difference"] <= 1e-6
    # PMML inputs are raw message fields, in message order (the converter drops unused ones)
    assert meta["features"] == [name for name in FEATURES if name in meta["features"]]
    assert set(meta["features"]) <= set(meta["message_fields"])
    dataset = load_dataset(small_run["config"], None)
    assert meta["training_data_sha256"] == dataset.sha256
    assert {"xgboost", "sklearn2pmml", "scikit-learn", "pypmml"} <= set(meta["library_versions"])


def test_thresholds_follow_their_rules(small_run):
    model, baseline = metadata(small_run, "model"), metadata(small_run, "baseline")
    assert model["threshold_rule"] == "optimal"
    assert baseline["threshold_rule"] == "original_cost"
    assert model["metrics"]["out_of_fold_gain"] >= 0  # showing nobody is always available


def test_pmml_parity_with_xgboost_on_held_out_rows(small_run):
    """pypmml on the exported file == xgboost's own probabilities, missing values included."""
    X_test, _ = small_run["summary"]["held_out"]
    for arm in ("model", "baseline"):
        pipeline = small_run["summary"]["arms"][arm].pipeline
        features = small_run["summary"]["arms"][arm].features
        rows = export.verification_rows(X_test[features], len(X_test), seed=0)  # held-out, and without each side
        expected = pipeline.predict_proba(rows)[:, 1]
        actual = export.pmml_probabilities(small_run["out"] / f"{arm}.pmml", rows)
        assert np.max(np.abs(actual - expected)) <= 1e-6


def test_serving_rows_score(small_run):
    """The job's feature_row output, None for unknown sides, is accepted one record at a time."""
    from pypmml import Model

    meta = metadata(small_run, "model")
    model = Model.load(str(small_run["out"] / "model.pmml"))
    for row in (
        feature_row(None, None),
        feature_row({"age": 30, "man": 0, "woman": 0}, None),
        feature_row(None, {"cat36": 1}),
        feature_row({"age": 50, "man": 1, "woman": 0}, {"u8": 1}),
    ):
        probability = model.predict(row)[meta["output_field"]]
        assert 0 < probability < 1


def test_refuses_to_overwrite_with_a_model_failing_verification(small_run, tmp_path, monkeypatch):
    before = {name: (small_run["out"] / name).read_bytes() for name in ("model.pmml", "model.json")}
    for name, content in before.items():
        (tmp_path / name).write_bytes(content)
    pipeline = small_run["summary"]["arms"]["model"].pipeline
    X_test, _ = small_run["summary"]["held_out"]
    real = export.pmml_probabilities
    monkeypatch.setattr(export, "pmml_probabilities", lambda path, X: real(path, X) + 1e-5)
    with pytest.raises(export.VerificationError, match="kept the existing model"):
        export.publish(
            pipeline,
            export.verification_rows(X_test, 5, 0),
            X_test.head(50),
            {"name": "x", "threshold": 0.5},
            tmp_path / "model.pmml",
        )
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.pmml"]  # no temp files left


def test_cli_reports_bad_csv(tmp_path, capsys):
    from training.__main__ import main

    bad = tmp_path / "bad.csv"
    pd.DataFrame({"uuid": [1, 2], "age": [30, 40], LABEL: [0, 1]}).to_csv(bad, index=False)
    assert main(["--data", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "lacks required column(s): man, woman, cat0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
