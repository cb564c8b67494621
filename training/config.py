"""Configuration: conf/training.yaml and conf/economics.yaml, a named profile, then CLI overrides.

Users change the economics, so they live in a file of their own and every number can
also be given on the command line for a what-if run.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

from contract.schema import FEATURES
from contract.settings import read_yaml
from training.evaluate import Economics

ROOT = Path(__file__).resolve().parent.parent
TRAINING_CONFIG = ROOT / "conf" / "training.yaml"
ECONOMICS_CONFIG = ROOT / "conf" / "economics.yaml"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_training(
    path: str | Path = TRAINING_CONFIG, profile: str | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    config = read_yaml(path)
    profiles = config.pop("profiles", {}) or {}
    if profile is not None:
        if profile not in profiles:
            raise ValueError(f"{path}: no profile {profile!r} (have: {', '.join(profiles) or 'none'})")
        config = deep_merge(config, profiles[profile])
    config = deep_merge(config, overrides or {})
    if not config["data"].get("features"):
        config["data"]["features"] = list(FEATURES)
    return config


def load_economics(path: str | Path = ECONOMICS_CONFIG, overrides: Mapping[str, Any] | None = None) -> Economics:
    values = deep_merge(read_yaml(path), overrides or {})
    try:
        return Economics(**{key: float(value) for key, value in values.items()})
    except TypeError as error:
        raise ValueError(f"{path}: {error}") from error
