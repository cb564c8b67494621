"""The job as a real process (local MiniCluster) on the session's broker (tests/conftest.py)."""

from __future__ import annotations

import pytest

from local.jobprocess import JobProcess
from tests.support.e2e import TOKEN
from tests.support.fixtures import FIXTURES


@pytest.fixture
def new_job(broker, tmp_path):
    """A job on fresh topics, with the fixture model, not yet launched: produce, then .launch()."""
    jobs = []

    def create(*flags: str) -> JobProcess:
        job = JobProcess(
            broker,
            tmp_path,
            TOKEN,
            [f"model.pmml={FIXTURES / 'model.pmml'}", "flink.checkpoint_interval_ms=2000", *flags],
        )
        jobs.append(job)
        return job

    yield create
    for job in jobs:
        job.stop()
