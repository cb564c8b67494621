"""Shared fixtures: one small end-to-end training run reused by the tests that inspect its output."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import load_economics, load_training
from training.train import run


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds (still run by default)")


@pytest.fixture(scope="session")
def economics():
    return load_economics()


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, economics) -> dict:
    """The fixture profile (small synthetic sample, 25 trees) trained end to end, with a report."""
    out = tmp_path_factory.mktemp("pmml")
    config = load_training(profile="fixture")
    summary = run(config, economics, None, out, out / "report", progress=lambda _: None)
    return {"out": Path(out), "config": config, "summary": summary}
