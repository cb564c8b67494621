"""The reliability suite's own Apache Kafka broker and standalone Flink cluster, on free ports
under a private run directory (SILOCOMPRO_RUN_DIR): nothing here touches the default
broker (9092) or cluster (8081) someone else may be using, and every process started
here is stopped here. Jobs are submitted and stopped with the Makefile's own targets.

Each scenario adds a row to the table printed at the end (`make reliability`).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from job.local.broker import create_job_topics
from job.local.cluster import PORT_DEFAULTS, FlinkRest
from job.local.jobprocess import TOPIC_ROLES, free_port
from job.local.traffic import TopicReader
from tests.conftest import FIXTURES
from tests.reliability.accounting import Row, format_table

REPO = Path(__file__).resolve().parents[2]
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


@dataclass
class Stack:
    """The suite's broker + cluster, and how to run the project's commands against them."""

    env: dict[str, str]
    run_dir: Path
    bootstrap: str
    flink: FlinkRest

    def run(self, *argv: str, check: bool = True, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
        """A project command with the suite's environment; stdout holds stdout + stderr."""
        done = subprocess.run(argv, cwd=REPO, env={**self.env, **(env or {})}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and done.returncode:
            raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-3000:]}")
        return done

    def module(self, name: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", name, *args, **kwargs)

    def make(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run("make", "--no-print-directory", *args, **kwargs)

    def logs(self) -> str:
        """Everything the cluster wrote to its log directory."""
        return "".join(p.read_text(errors="replace") for p in (self.run_dir / "flink" / "log").glob("*"))


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reliability")
    ports = {f"FLINK_{name}": str(free_port()) for name in PORT_DEFAULTS}
    env = {**os.environ, **ports, "SILOCOMPRO_RUN_DIR": str(run_dir), "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
           "KAFKA_CONTROLLER_PORT": str(free_port()),
           "SILOCOMPRO_TOKEN": TOKEN, "FLINK_PROPERTIES": TEST_CLUSTER}
    env.pop("SILOCOMPRO_TOKEN_FILE", None)
    stack = Stack(env, run_dir, env["KAFKA_BOOTSTRAP"], FlinkRest(f"http://localhost:{ports['FLINK_REST_PORT']}"))
    try:
        stack.module("job.local.broker", "up")
        stack.module("job.local.cluster", "up")
        yield stack
    finally:
        stack.module("job.local.cluster", "down", check=False)
        stack.module("job.local.broker", "down", check=False)


class ClusterJob:
    """The job on the suite's cluster, on topics of its own, submitted with `make submit`."""

    def __init__(self, stack: Stack, flags: list[str], sink_bootstrap: str | None = None, env: dict | None = None,
                 bootstrap: str | None = None, client: dict | None = None):
        """``bootstrap``: another broker than the suite's for the sources (and the sinks,
        unless ``sink_bootstrap``); ``client``: librdkafka security settings for it."""
        suffix = uuidlib.uuid4().hex[:8]
        self.stack, self.env, self.name = stack, env or {}, f"reliability-{suffix}"
        self.topics = {name: f"rel_{name}_{suffix}" for name in TOPIC_ROLES}
        self.bootstrap, self.client = bootstrap or stack.bootstrap, client or {}
        self.sink_bootstrap = sink_bootstrap or self.bootstrap
        sources = ("demographic", "historic", "model_control")
        create_job_topics(self.bootstrap, {r: t for r, t in self.topics.items() if r in sources}, client=self.client)
        create_job_topics(self.sink_bootstrap, {r: t for r, t in self.topics.items() if r not in sources},
                          client=self.client)
        self.args = [*(f"--set=kafka.topics.{k}={v}" for k, v in self.topics.items()),
                     f"--set=kafka.group_id={self.name}", f"--set=flink.job_name={self.name}",
                     f"--set=model.pmml={FIXTURES / 'model.pmml'}", "--set=flink.checkpoint_interval_ms=2000",
                     *(f"--set={flag}" for flag in flags)]
        self.ids: list[str] = []
        self.client_output = ""

    def submit(self, savepoint: str | None = None, wait: bool = True) -> str:
        """`make submit` (FROM_SAVEPOINT to resume); the new job's id, once it runs."""
        output = self.stack.make("submit", f"JOB_ARGS={' '.join(self.args)}",
                                 *([f"FROM_SAVEPOINT={savepoint}"] if savepoint else []), env=self.env).stdout
        self.client_output += output
        self.ids.append(re.search(r"JobID ([0-9a-f]{32})", output).group(1))
        if wait:
            self.wait_running()
        return self.id

    @property
    def id(self) -> str:
        return self.ids[-1]

    def wait_running(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.stack.flink.job(self.id)
            if job["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in job["vertices"]):
                return
            if job["state"] in ("FAILED", "CANCELED", "FINISHED"):
                break
            time.sleep(0.5)
        raise AssertionError(f"job {self.id} not running: {self.stack.flink.job(self.id)['state']}")

    def stop(self) -> str:
        """`make stop`: stop with a savepoint; its path."""
        output = self.stack.make("stop", f"JOB={self.id}").stdout
        return re.search(r"^savepoint (\S+)", output, re.MULTILINE).group(1)

    def state(self) -> str:
        return self.stack.flink.job(self.id)["state"]

    def cancel(self) -> None:
        for job_id in self.ids:
            if self.stack.flink.job(job_id)["state"] not in ("FAILED", "CANCELED", "FINISHED"):
                self.stack.flink.cancel(job_id)

    def reader(self, name: str) -> TopicReader:
        return TopicReader(self.bootstrap if name in ("demographic", "historic", "model_control") else
                           self.sink_bootstrap,
                           self.topics[name], extra=self.client)

    def sides(self) -> dict[str, str]:
        return {"demographic": self.topics["demographic"], "historic": self.topics["historic"]}


@pytest.fixture(scope="module")
def new_job(stack):
    """Jobs for one test module; all cancelled when it ends."""
    jobs: list[ClusterJob] = []

    def create(*flags: str, **kwargs) -> ClusterJob:
        job = ClusterJob(stack, list(flags), **kwargs)
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
