"""The model's reference profile for live monitoring (job/monitoring), written next to the
PMML as ``<name>.profile.json`` and checksummed in ``<name>.json`` like the PMML.

Inputs are profiled on every row of the training data as customers arrive (before the
training-only blanking of sides), because that is the population the model was fitted
to; the score and the share shown on the held-out rows, because scores on rows the model
was fitted on are overconfident and would make every live window look drifted.

``python -m training.profile --data ../shared/data/training.csv`` profiles an existing
model without retraining it: the held-out rows are the same split (seed and test size
from conf/training.yaml) and are scored with pypmml; its report, if any, is redrawn with
the profile.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from contract.schema import FEATURES
from job.monitoring.profile import Profile, profile_path, reference_profile, write_profile


def build(X_all: pd.DataFrame, held_out_scores: np.ndarray, metadata: Mapping[str, Any], source: str) -> Profile:
    columns = {name: [None if pd.isna(v) else float(v) for v in X_all[name]] for name in FEATURES if name in X_all}
    return reference_profile(
        columns,
        [float(s) for s in held_out_scores],
        threshold=float(metadata["threshold"]),
        pmml_sha256=metadata["pmml_sha256"],
        source=source,
    )


def publish(profile: Profile, pmml_path: Path) -> dict[str, Any]:
    """Write the profile and record its name and sha256 in the model's metadata."""
    path = profile_path(pmml_path)
    digest = write_profile(profile, path)
    json_path = pmml_path.with_suffix(".json")
    metadata = json.loads(json_path.read_text())
    metadata.update({"profile": path.name, "profile_sha256": digest})
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(json.dumps(metadata, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, json_path)
    return metadata


def main(argv: Sequence[str] | None = None) -> int:
    from sklearn.model_selection import train_test_split

    from training.config import TRAINING_CONFIG, load_training
    from training.data import load_dataset
    from training.export import pmml_probabilities

    parser = argparse.ArgumentParser(prog="python -m training.profile", description=__doc__)
    parser.add_argument("--data", help="the training CSV the model was trained on (default: synthetic)")
    parser.add_argument("--model", default="pmml/model.pmml")
    parser.add_argument("--config", default=str(TRAINING_CONFIG))
    args = parser.parse_args(argv)
    config = load_training(args.config)
    pmml = Path(args.model)
    metadata = json.loads(pmml.with_suffix(".json").read_text())
    dataset = load_dataset(config, args.data)
    if dataset.sha256 != metadata.get("training_data_sha256"):
        parser.error(f"{dataset.source} is not the data {pmml} was trained on (sha256 differs)")
    _, X_test, _, _ = train_test_split(
        dataset.X, dataset.y, test_size=config["split"]["test_size"], stratify=dataset.y, random_state=config["seed"]
    )
    scores = pmml_probabilities(pmml, X_test[metadata["features"]])
    profile = build(
        dataset.X, scores, metadata, f"{dataset.source} ({len(dataset.X)} rows; score: {len(X_test)} held-out rows)"
    )
    publish(profile, pmml)
    figures = pmml.parent / "report" / "figures.json"
    if figures.is_file():  # the report shows the profile too, redrawn from its own figures
        from training import report

        report.write(
            {**json.loads(figures.read_text()), "reference_profile": report.profile_figures(profile)}, figures.parent
        )
    print(
        f"{profile_path(pmml)}: {len(profile.fields)} fields, score on {len(scores)} held-out rows, "
        f"expected shown share {profile.shown_share:.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
