"""Reading a settings file, shared by the job, the experiment, the console and training
(whose own virtualenv has neither PyFlink nor the job's dependencies, so it cannot import
job.config): one rule for a missing file and for a file that is not a mapping."""

from __future__ import annotations

from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the key and what is expected."""


def read_yaml(path: Path | str) -> dict:
    """A config file's top-level mapping (a fresh copy, safe to override in place)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return raw
