"""A real Apache Kafka broker on free ports, and the job as a real process (local MiniCluster)."""
from __future__ import annotations

import uuid as uuidlib

import pytest

from job.local.jobprocess import JobProcess, PrivateBroker
from tests.conftest import FIXTURES

TOKEN = "e2e-" + uuidlib.uuid4().hex


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    running = PrivateBroker(tmp_path_factory.mktemp("kafka"))
    yield running.bootstrap
    running.stop()


@pytest.fixture
def new_job(broker, tmp_path):
    """A job on fresh topics, with the fixture model, not yet launched: produce, then .launch()."""
    jobs = []

    def create(*flags: str) -> JobProcess:
        job = JobProcess(broker, tmp_path, TOKEN, [f"model.pmml={FIXTURES / 'model.pmml'}",
                                                   "flink.checkpoint_interval_ms=2000", *flags])
        jobs.append(job)
        return job

    yield create
    for job in jobs:
        job.stop()
