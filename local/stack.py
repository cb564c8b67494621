"""A private Apache Kafka broker and standalone Flink cluster on free ports under a run
directory of their own (SILOCOMPRO_RUN_DIR), driven with the project's own commands
(`local.broker up`, `local.cluster up`, `make submit`, `make stop`): the
reliability suite and the benchmark's scenarios run there, so nothing touches the default
broker (9092) or cluster (8081) someone else may be using, and every process started
here is stopped here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid as uuidlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from job.topic_reader import TopicReader
from local.broker import create_job_topics
from local.cluster import PORT_DEFAULTS, FlinkRest
from local.jobprocess import TOPIC_ROLES, free_port

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Stack:
    """The suite's broker + cluster, and how to run the project's commands against them."""

    env: dict[str, str]
    run_dir: Path
    bootstrap: str
    flink: FlinkRest

    def run(
        self, *argv: str, check: bool = True, env: dict | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess:
        """A project command with the suite's environment; stdout holds stdout + stderr."""
        done = subprocess.run(
            argv,
            cwd=REPO,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
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


@contextmanager
def private_stack(run_dir: Path, token: str, cluster_properties: str = "") -> Iterator[Stack]:
    """A broker and a cluster of their own under ``run_dir``, stopped on the way out;
    ``cluster_properties``: Flink settings added to the cluster's config (FLINK_PROPERTIES)."""
    ports = {f"FLINK_{name}": str(free_port()) for name in PORT_DEFAULTS}
    env = {
        **os.environ,
        **ports,
        "SILOCOMPRO_RUN_DIR": str(run_dir),
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "SILOCOMPRO_TOKEN": token,
        **({"FLINK_PROPERTIES": cluster_properties} if cluster_properties else {}),
    }
    env.pop("SILOCOMPRO_TOKEN_FILE", None)
    stack = Stack(env, run_dir, env["KAFKA_BOOTSTRAP"], FlinkRest(f"http://localhost:{ports['FLINK_REST_PORT']}"))
    try:
        stack.module("local.broker", "up")
        stack.module("local.cluster", "up")
        yield stack
    finally:
        stack.module("local.cluster", "down", check=False)
        stack.module("local.broker", "down", check=False)


class ClusterJob:
    """The job on the stack's cluster, on topics of its own, submitted with `make submit`."""

    def __init__(
        self,
        stack: Stack,
        flags: list[str],
        sink_bootstrap: str | None = None,
        env: dict | None = None,
        bootstrap: str | None = None,
        client: dict | None = None,
        prefix: str = "reliability",
        pmml: Path | None = None,
        checkpoint_interval_ms: int | None = 2000,
    ):
        """``bootstrap``: another broker than the stack's for the sources (and the sinks,
        unless ``sink_bootstrap``); ``client``: librdkafka security settings for it;
        ``pmml`` and ``checkpoint_interval_ms``: None for conf/job.yaml's."""
        suffix = uuidlib.uuid4().hex[:8]
        self.stack, self.env, self.name = stack, env or {}, f"{prefix}-{suffix}"
        self.topics = {name: f"{prefix[:5]}_{name}_{suffix}" for name in TOPIC_ROLES}
        self.bootstrap, self.client = bootstrap or stack.bootstrap, client or {}
        self.sink_bootstrap = sink_bootstrap or self.bootstrap
        sources = ("demographic", "historic", "model_control")
        create_job_topics(self.bootstrap, {r: t for r, t in self.topics.items() if r in sources}, client=self.client)
        create_job_topics(
            self.sink_bootstrap, {r: t for r, t in self.topics.items() if r not in sources}, client=self.client
        )
        self.args = [
            *(f"--set=kafka.topics.{k}={v}" for k, v in self.topics.items()),
            f"--set=kafka.group_id={self.name}",
            f"--set=flink.job_name={self.name}",
            *([f"--set=model.pmml={pmml}"] if pmml else []),
            *([f"--set=flink.checkpoint_interval_ms={checkpoint_interval_ms}"] if checkpoint_interval_ms else []),
            *(f"--set={flag}" for flag in flags),
        ]
        self.ids: list[str] = []
        self.client_output = ""

    def submit(self, savepoint: str | None = None, wait: bool = True) -> str:
        """`make submit` (FROM_SAVEPOINT to resume); the new job's id, once it runs."""
        output = self.stack.make(
            "submit",
            f"JOB_ARGS={' '.join(self.args)}",
            *([f"FROM_SAVEPOINT={savepoint}"] if savepoint else []),
            env=self.env,
        ).stdout
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
        return TopicReader(
            self.bootstrap if name in ("demographic", "historic", "model_control") else self.sink_bootstrap,
            self.topics[name],
            extra=self.client,
        )

    def sides(self) -> dict[str, str]:
        return {"demographic": self.topics["demographic"], "historic": self.topics["historic"]}
