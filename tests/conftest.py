"""Fixtures every test package may use: a writable copy of the fixture model, and one
real Apache Kafka broker on free ports for the session (started on first use)."""

import shutil

import pytest

from local.jobprocess import PrivateBroker
from tests.support.fixtures import FIXTURES


@pytest.fixture
def fixture_model(tmp_path):
    """A writable copy of the small fixture model (model.pmml + model.json)."""
    for name in ("model.pmml", "model.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path / "model.pmml", tmp_path / "model.json"


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    running = PrivateBroker(tmp_path_factory.mktemp("kafka"))
    yield running.bootstrap
    running.stop()
