"""A private broker and the job as a real process, for tests and benchmarks.

Both run beside whatever `make demo` started (own port, own topics), so a test or a
benchmark never reads another run's data and never disturbs the user's local setup.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid as uuidlib
from pathlib import Path
from typing import Optional

from job.config import Topics
from job.topic_reader import TopicReader
from local.broker import create_job_topics
from local.kafka import KafkaNode, SaslSsl
from local.traffic import produce

REPO = Path(__file__).resolve().parents[1]
TOPIC_ROLES = tuple(Topics.__dataclass_fields__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateBroker:
    """An Apache Kafka node on free loopback ports, in ``directory``, for the lifetime of
    the object. ``sasl_ssl``: its one listener requires SASL_SSL instead of PLAINTEXT."""

    def __init__(self, directory: Path, sasl_ssl: Optional[SaslSsl] = None):
        self.node = KafkaNode(directory, "127.0.0.1", free_port(), free_port(), sasl_ssl=sasl_ssl)
        self.node.start()
        self.proc = self.node.process
        self.bootstrap = self.node.bootstrap

    def cpu_seconds(self) -> float:
        """CPU time the broker used so far: benchmarks report it beside their latencies,
        since both jobs' records pass through it twice."""
        fields = _stat_fields(Path(f"/proc/{self.proc.pid}/stat"))
        return _cpu(fields) if fields else 0.0

    def stop(self) -> None:
        self.node.stop()


class JobProcess:
    """A job (``python -m <module>``, a local MiniCluster) on its own fresh topics."""

    def __init__(
        self,
        bootstrap: str,
        workdir: Path,
        token: str,
        flags: list[str],
        module: str = "job.main",
        partitions: Optional[int] = None,
    ):
        suffix = uuidlib.uuid4().hex[:8]
        self.bootstrap, self.token, self.module = bootstrap, token, module
        self.topics = {role: f"run_{role}_{suffix}" for role in TOPIC_ROLES}
        create_job_topics(bootstrap, self.topics, *([partitions] if partitions else []))
        self.log = workdir / f"job-{suffix}.log"
        self.args = [f"--set=kafka.topics.{k}={v}" for k, v in self.topics.items()]
        self.checkpoints = workdir / "checkpoints" / suffix
        self.rest_port = free_port()  # the MiniCluster's REST API: restarts, checkpoints, metrics
        self.args += [
            f"--set=kafka.group_id=run-{suffix}",
            f"--set=flink.local_checkpoint_dir={self.checkpoints}",
            f"--set=flink.properties.rest.port={self.rest_port}",
            *(f"--set={f}" for f in flags),
        ]
        self.proc: Optional[subprocess.Popen] = None

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "KAFKA_BOOTSTRAP": self.bootstrap, "SILOCOMPRO_TOKEN": self.token}
        env.pop("SILOCOMPRO_TOKEN_FILE", None)
        return env

    def launch(self) -> None:
        with self.log.open("wb") as out:
            # Tethered: a test run killed outright takes its jobs with it (local/tether.py).
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "local.tether",
                    str(os.getpid()),
                    "--",
                    sys.executable,
                    "-m",
                    self.module,
                    *self.args,
                ],
                cwd=REPO,
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tool(self, module: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """``python -m module --set ... args`` against this job's broker and topics (e.g.
        job.model_cli); stdout holds stdout + stderr."""
        return subprocess.run(
            [sys.executable, "-m", module, *self.args, *args],
            cwd=REPO,
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )

    def send(self, plan, rate=None):
        sides = {"demographic": self.topics["demographic"], "historic": self.topics["historic"]}
        return produce(self.bootstrap, sides, plan.messages, rate)

    def reader(self, role: str, from_end: bool = False) -> TopicReader:
        return TopicReader(self.bootstrap, self.topics[role], from_end=from_end)

    def rest(self, path: str) -> dict:
        """GET ``path`` of the MiniCluster's REST API (``/jobs``, ...), as JSON."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}{path}", timeout=10) as response:
            return json.load(response)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the job's processes: the client, its JVM
        with the MiniCluster and the Python threads inside it. Unlike wall-clock throughput
        it barely moves when other work shares the machine."""
        if self.proc is None:
            return 0.0
        return sum(map(_cpu, group_processes(self.proc.pid).values()))  # process group = our session

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def group_processes(group: int) -> dict[int, list[str]]:
    """The processes of process group ``group`` (zombies too): pid → /proc stat fields after
    the command name (fields[0] the state, fields[2] the group)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields and int(fields[2]) == group:
            found[int(stat.parent.name)] = fields
    return found


def _stat_fields(stat: Path) -> Optional[list[str]]:
    """/proc/<pid>/stat after the command name (which may hold spaces); None once the process ended."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu(fields: list[str]) -> float:
    """User + system seconds of a process from its stat fields."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
