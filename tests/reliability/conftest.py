"""The reliability suite's own Apache Kafka broker and standalone Flink cluster
(local/stack.py), with fast failure detection; jobs on it run the test model.

Each scenario adds a row to the table printed at the end (`make reliability`).
"""

from __future__ import annotations

import pytest

from local.stack import ClusterJob, private_stack
from tests.support.accounting import format_table
from tests.support.fixtures import FIXTURES
from tests.support.reliability import NOTES, ROWS, TEST_CLUSTER, TOKEN


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with private_stack(tmp_path_factory.mktemp("reliability"), TOKEN, TEST_CLUSTER) as stack:
        yield stack


@pytest.fixture(scope="module")
def new_job(stack):
    """Jobs for one test module; all cancelled when it ends."""
    jobs: list[ClusterJob] = []

    def create(*flags: str, **kwargs) -> ClusterJob:
        job = ClusterJob(stack, list(flags), **{"pmml": FIXTURES / "model.pmml", **kwargs})
        jobs.append(job)
        return job

    yield create
    for job in jobs:
        job.cancel()


def pytest_terminal_summary(terminalreporter):
    if ROWS:
        terminalreporter.section("reliability")
        terminalreporter.write_line(format_table(ROWS))
        for note in NOTES:
            terminalreporter.write_line(note)
