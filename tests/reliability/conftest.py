"""The reliability suite's own Apache Kafka broker and standalone Flink cluster
(job/local/stack.py), with fast failure detection; jobs on it run the test model.

Each scenario adds a row to the table printed at the end (`make reliability`).
"""
from __future__ import annotations

import uuid as uuidlib

import pytest

from job.local.stack import ClusterJob, private_stack
from tests.conftest import FIXTURES
from tests.reliability.accounting import Row, format_table

TOKEN = "rel-" + uuidlib.uuid4().hex
ROWS: list[Row] = []
NOTES: list[str] = []  # measured figures a scenario reports beside its row (latencies)
# A killed TaskManager is noticed after two failed heartbeat RPCs, ~2 s, instead of the
# 50 s heartbeat timeout; REST metric values are at most half a second old.
TEST_CLUSTER = """
heartbeat.interval: 1000
heartbeat.timeout: 10000
metrics.fetcher.update-interval: 500
restart-strategy.exponential-delay.initial-backoff: 500 ms
"""


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
