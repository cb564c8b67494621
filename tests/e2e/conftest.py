"""A real tansu broker on a free port, and the job as a real process (local MiniCluster)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid as uuidlib
from pathlib import Path

import pytest

from job.local.broker import create_topics, tansu_binary
from job.local.processes import wait_for_port
from job.local.traffic import TopicReader, produce
from tests.conftest import FIXTURES

REPO = Path(__file__).resolve().parents[2]
TOKEN = "e2e-" + uuidlib.uuid4().hex


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(tansu_binary()), "broker", "--listener-url", url,
                                 "--advertised-listener-url", url], stdout=out, stderr=subprocess.STDOUT)
    wait_for_port("127.0.0.1", port, 20, "tansu", log)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


class RunningJob:
    """The job in its own process, on its own topics, so tests cannot see each other's data."""

    def __init__(self, bootstrap: str, workdir: Path, flags: list[str]):
        suffix = uuidlib.uuid4().hex[:8]
        self.bootstrap = bootstrap
        names = ("demographic", "historic", "prediction", "dead_letter")
        self.topics = {name: f"e2e_{name}_{suffix}" for name in names}
        create_topics(bootstrap, list(self.topics.values()))
        self.log = workdir / f"job-{suffix}.log"
        self.args = [f"--set=kafka.topics.{k}={v}" for k, v in self.topics.items()]
        self.args += [f"--set=kafka.group_id=e2e-{suffix}", f"--set=model.pmml={FIXTURES / 'model.pmml'}",
                      "--set=flink.checkpoint_interval_ms=2000", *(f"--set={f}" for f in flags)]
        self.proc = None

    def launch(self) -> None:
        env = {**os.environ, "KAFKA_BOOTSTRAP": self.bootstrap, "SILOCOMPRO_TOKEN": TOKEN}
        env.pop("SILOCOMPRO_TOKEN_FILE", None)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "job.main", *self.args], cwd=REPO, env=env,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def send(self, plan, rate=None):
        sides = {"demographic": self.topics["demographic"], "historic": self.topics["historic"]}
        return produce(self.bootstrap, sides, plan.messages, rate)

    def reader(self, name: str) -> TopicReader:
        return TopicReader(self.bootstrap, self.topics[name])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
def new_job(broker, tmp_path):
    """A job on fresh topics, not yet launched: produce, then call .launch()."""
    jobs = []

    def create(*flags: str) -> RunningJob:
        job = RunningJob(broker, tmp_path, list(flags))
        jobs.append(job)
        return job

    yield create
    for job in jobs:
        job.stop()
