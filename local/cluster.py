"""Local standalone Flink cluster from the PyFlink wheel, and job submission to it.

    python -m local.cluster up|down|status|submit|jobs|stop|metrics
    python -m local.cluster kill-taskmanager|start-taskmanager   (fault injection)

The wheel carries a full Flink distribution (bin/, lib/, opt/). This module renders the
repo's flink-conf.yaml into the config.yaml that Flink 2.x reads, builds a lib dir that
adds flink-python (thread mode on a TaskManager needs it there), and runs the wheel's own
jobmanager.sh / taskmanager.sh / flink scripts with those directories. Everything else
(jobs, savepoints, metrics) goes through the REST API, as it would on a remote cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from job import sessions
from job.config import REPO_ROOT, ConfigError, load_config, parse_set_flags, worker_pythonpath
from local import processes

FLINK_HOME = Path(__import__("pyflink").__file__).parent
FLINK_DIR = processes.RUN_DIR / "flink"
CONF_DIR = FLINK_DIR / "conf"
LIB_DIR = FLINK_DIR / "lib"
PORT_DEFAULTS = {"REST_PORT": 8081, "RPC_PORT": 6123, "TM_RPC_PORT": 6122, "BLOB_PORT": 6124}
ACTIVE_STATES = ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING")
# The job's own metrics (docs/join.md), as `metrics` reports them.
JOB_METRICS = (
    *(f"sessions_{event}" for event in sessions.EVENTS),
    "messages_accepted",
    "messages_dead_lettered",
    "decisions",
    "decisions_shown",
    "scoring_errors",
)


def ports() -> dict[str, int]:
    found = {}
    for name, default in PORT_DEFAULTS.items():
        value = os.environ.get(f"FLINK_{name}", str(default))
        if not value.isdigit():
            raise SystemExit(f"FLINK_{name}={value!r}: expected a port number")
        found[name] = int(value)
    return found


def rest_url() -> str:
    return f"http://localhost:{ports()['REST_PORT']}"


def check_java() -> None:
    java = shutil.which("java") if not os.environ.get("JAVA_HOME") else str(Path(os.environ["JAVA_HOME"]) / "bin/java")
    if not java or not Path(java).exists():
        raise SystemExit(
            "Java not found: install a JDK 17 (e.g. `apt-get install openjdk-17-jre-headless`) "
            "or set JAVA_HOME; Flink, pypmml and sklearn2pmml all need it"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    if '"17' not in out and '"21' not in out and '"11' not in out:
        print(f"warning: Flink 2.2 supports Java 11/17/21; found: {out.splitlines()[0]}", file=sys.stderr)


# Flink's client logs every environment variable of the Python process it starts
# (PythonEnvUtils, INFO), so SILOCOMPRO_TOKEN or a SASL password given as
# SILOCOMPRO__KAFKA__SECURITY__... would land in flink-*-client-*.log.
QUIET_LOGGERS = """
logger.pythonenv.name = org.apache.flink.client.python.PythonEnvUtils
logger.pythonenv.level = WARN
"""


def with_properties(text: str, properties: str) -> str:
    """Apply ``FLINK_PROPERTIES`` ("key: value" lines, as in Flink's Docker images) to the
    rendered config: a key already there is replaced, not repeated, because Flink 2.x's
    YAML parser rejects duplicate keys. Lets a test cluster shorten heartbeats or the
    metric fetch interval without a second copy of flink-conf.yaml."""
    overrides = dict(line.split(":", 1) for line in properties.splitlines() if ":" in line)
    overrides = {key.strip(): value.strip() for key, value in overrides.items()}
    kept = [line for line in text.splitlines() if line.split(":", 1)[0].strip() not in overrides]
    return "\n".join([*kept, *(f"{key}: {value}" for key, value in overrides.items())]) + "\n"


def render_config() -> None:
    """flink-conf.yaml (+ FLINK_PROPERTIES) → RUN_DIR/flink/conf/config.yaml, plus the
    wheel's log4j files with QUIET_LOGGERS."""
    for sub in ("conf", "log", "pid", "tmp", "web", "checkpoints", "savepoints"):
        (FLINK_DIR / sub).mkdir(parents=True, exist_ok=True)
    values = {
        "PYTHON": sys.executable,
        "PYTHONPATH": worker_pythonpath(),
        "RUN": str(processes.RUN_DIR.resolve()),
        **{k: str(v) for k, v in ports().items()},
        "TM_RPC_PORTS": f"{ports()['TM_RPC_PORT']}-{ports()['TM_RPC_PORT'] + 4}",
    }
    text = (REPO_ROOT / "flink-conf.yaml").read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    (CONF_DIR / "config.yaml").write_text(with_properties(text, os.environ.get("FLINK_PROPERTIES", "")))
    for log_conf in (FLINK_HOME / "conf").glob("log4j*.properties"):
        (CONF_DIR / log_conf.name).write_text(log_conf.read_text() + QUIET_LOGGERS)
    LIB_DIR.mkdir(parents=True, exist_ok=True)
    for jar in [*(FLINK_HOME / "lib").glob("*.jar"), *(FLINK_HOME / "opt").glob("flink-python-*.jar")]:
        link = LIB_DIR / jar.name
        if not link.exists():
            link.symlink_to(jar)


def flink_env() -> dict[str, str]:
    return {**os.environ, "FLINK_CONF_DIR": str(CONF_DIR), "FLINK_LIB_DIR": str(LIB_DIR), "FLINK_HOME": str(FLINK_HOME)}


def _script(name: str, *args: str) -> None:
    subprocess.run(
        ["bash", str(FLINK_HOME / "bin" / name), *args], env=flink_env(), check=True, stdout=subprocess.DEVNULL
    )


class FlinkRest:
    """The few REST calls the local tools and the reliability tests need, against any
    Flink 2.x cluster (``base``: http://host:port)."""

    def __init__(self, base: str):
        self.base = base

    def call(self, path: str, method: str = "GET", body: dict | None = None, timeout: float = 5) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")

    def jobs(self, name: str | None = None, states: tuple[str, ...] = ACTIVE_STATES) -> list[dict]:
        jobs = self.call("/jobs/overview").get("jobs", [])
        return [j for j in jobs if j["state"] in states and (name is None or j["name"] == name)]

    def job(self, job_id: str) -> dict:
        return self.call(f"/jobs/{job_id}")

    def restarts(self, job_id: str) -> int:
        """Failures the job restarted from: its exception history, one entry per failover.
        (On Flink 2.2 the numRestarts metric stayed 0 after a TaskManager loss that the
        job recovered from by a region failover.)"""
        history = self.call(f"/jobs/{job_id}/exceptions").get("exceptionHistory", {})
        return len(history.get("entries", []))

    def metrics(self, job_id: str, names: tuple[str, ...]) -> dict[str, float]:
        """The job's user metrics called ``names``, summed over operators and subtasks.

        The REST API names them ``<subtask>.<operator>.<metric>``; the values lag the
        operators by ``metrics.fetcher.update-interval``."""
        found: list[dict] = []
        for vertex in self.job(job_id)["vertices"]:
            path = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
            wanted = [m["id"] for m in self.call(path) if m["id"].rsplit(".", 1)[-1] in names]
            if wanted:
                found += self.call(f"{path}?get={','.join(wanted)}")
        return sum_metrics(found, names)

    def stop_with_savepoint(self, job_id: str, timeout: float = 120) -> str:
        """Stop the job after a savepoint (into the cluster's savepoint dir); its path."""
        trigger = self.call(f"/jobs/{job_id}/stop", "POST", {"drain": False})["request-id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.call(f"/jobs/{job_id}/savepoints/{trigger}")
            if result["status"]["id"] == "COMPLETED":
                operation = result["operation"]
                if "location" not in operation:
                    raise SystemExit(f"stop-with-savepoint of {job_id} failed: {operation.get('failure-cause')}")
                return operation["location"]
            time.sleep(0.5)
        raise SystemExit(f"stop-with-savepoint of {job_id} did not finish within {timeout:.0f}s")

    def cancel(self, job_id: str) -> None:
        self.call(f"/jobs/{job_id}?mode=cancel", "PATCH")


def sum_metrics(values: list[dict], names: tuple[str, ...]) -> dict[str, float]:
    """REST metric values ({"id": "0.op.name", "value": "3"}) → {name: total}."""
    totals = dict.fromkeys(names, 0.0)
    for metric in values:
        totals[metric["id"].rsplit(".", 1)[-1]] += float(metric["value"])
    return totals


def rest(path: str, timeout: float = 5) -> dict:
    return FlinkRest(rest_url()).call(path, timeout=timeout)


def up() -> None:
    check_java()
    port = ports()["REST_PORT"]
    if processes.port_open("localhost", port):
        try:
            rest("/overview")
            print(f"Flink cluster already up at {rest_url()}")
            return
        except OSError:
            raise SystemExit(f"port {port} is taken by something that is not Flink: set FLINK_REST_PORT") from None
    render_config()
    _script("jobmanager.sh", "start")
    _script("taskmanager.sh", "start")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if rest("/overview").get("taskmanagers", 0) >= 1:
                print(f"Flink cluster up at {rest_url()} (logs {FLINK_DIR / 'log'})")
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"Flink did not come up within 60s; see {FLINK_DIR / 'log'}")


def down() -> None:
    if not CONF_DIR.exists():
        print("Flink cluster was not started from this checkout")
        return
    _script("taskmanager.sh", "stop-all")
    _script("jobmanager.sh", "stop-all")
    print("Flink cluster stopped")


def running_jobs(name: str | None = None) -> list[dict]:
    return FlinkRest(rest_url()).jobs(name)


def taskmanager_pids() -> list[int]:
    """Live TaskManager processes of this cluster (taskmanager.sh keeps one PID a line)."""
    pids = []
    for pid_file in (FLINK_DIR / "pid").glob("*taskexecutor.pid"):
        for line in pid_file.read_text().split():
            if line.isdigit() and processes.alive(int(line)):
                pids.append(int(line))
    return pids


def kill_taskmanager(oldest: bool = False) -> list[int]:
    """SIGKILL the TaskManagers of this cluster (``oldest``: all but the one started last,
    the spare): a crash, no shutdown hooks, no goodbye to the JobManager."""
    pids = taskmanager_pids()
    if oldest:
        pids = pids[:-1]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


def start_taskmanager(timeout: float = 60) -> None:
    """Start one more TaskManager and wait until it has registered: a standby, so that a
    job that loses its TaskManager restarts on it at once. (Without one, Flink 2.2 retries
    the restart at every backoff step while a replacement starts, each attempt failing with
    "Could not acquire the minimum required resources".)"""
    registered = rest("/overview")["taskmanagers"]
    _script("taskmanager.sh", "start")
    deadline = time.monotonic() + timeout
    while rest("/overview")["taskmanagers"] <= registered:
        if time.monotonic() > deadline:
            raise SystemExit(f"the new TaskManager did not register within {timeout:.0f} s; see {FLINK_DIR / 'log'}")
        time.sleep(0.3)


def one_job(job: str | None) -> str:
    """The id of the one running job with this id or name (default: the configured name)."""
    name = job or load_config().flink.job_name
    matches = [j["jid"] for j in running_jobs() if j["state"] == "RUNNING" and name in (j["jid"], j["name"])]
    if len(matches) != 1:
        raise SystemExit(f"expected one running job {name!r} at {rest_url()}, found {len(matches)}")
    return matches[0]


def stop(job: str | None) -> str:
    """Stop-with-savepoint a running job; the savepoint path for ``make submit FROM_SAVEPOINT=...``."""
    return FlinkRest(rest_url()).stop_with_savepoint(one_job(job))


def job_metrics(job: str | None) -> dict[str, float]:
    return FlinkRest(rest_url()).metrics(one_job(job), JOB_METRICS)


def cancel_active(rest: FlinkRest, name: str, timeout: float = 60.0) -> list[str]:
    """Cancel every active job called ``name``; their ids, once none is active any more.

    Cancelled, not stopped with a savepoint: a job still deploying its tasks refuses a
    savepoint, and a replaced job's join state means nothing to a new experiment."""
    ids = [job["jid"] for job in rest.jobs(name)]
    for job_id in ids:
        rest.cancel(job_id)
    deadline = time.monotonic() + timeout
    while rest.jobs(name):
        if time.monotonic() > deadline:
            raise SystemExit(f"job {name!r} still active {timeout:.0f} s after it was cancelled; see {rest.base}")
        time.sleep(0.5)
    return ids


def replace_running(job_args: list[str]) -> None:
    """Make room for the job about to be submitted. A new experiment hands the job a new
    token (``make submit TOKEN=...``); a job of the same name still running (the demo's, or
    the last experiment's) would read the same topics and answer every session a second
    time with the wrong token. The name is the configured one, with the job's own
    ``--set flink.job_name=...``, so jobs of other names are left alone."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--set", action="append", default=[])
    known, _ = parser.parse_known_args(job_args)
    try:
        name = load_config(overrides=parse_set_flags(known.set)).flink.job_name
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from None
    try:
        for job_id in cancel_active(FlinkRest(rest_url()), name):
            print(f"cancelled the running job {job_id} ({name}): the new submission replaces it")
    except OSError:
        pass  # no cluster answers: nothing to replace, and the submission says why it cannot run


def submit(job_args: list[str], savepoint: str | None = None) -> None:
    """``flink run -d -py job/main.py``: the client validates config, token and model first."""
    render_config()
    command = [
        str(FLINK_HOME / "bin" / "flink"),
        "run",
        "-d",
        "-py",
        str(REPO_ROOT / "job" / "main.py"),
        "-pyexec",
        sys.executable,
        "-pyclientexec",
        sys.executable,
    ]
    if savepoint:
        command[2:2] = ["-s", savepoint]
    result = subprocess.run([*command, *job_args], env=flink_env(), cwd=REPO_ROOT)
    if result.returncode:
        raise SystemExit(result.returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "action",
        choices=("up", "down", "status", "submit", "jobs", "stop", "metrics", "kill-taskmanager", "start-taskmanager"),
    )
    parser.add_argument("--from-savepoint", default=None)
    parser.add_argument("--job", default=None, help="stop/metrics: job id or name (default: the configured job name)")
    parser.add_argument(
        "--replace", action="store_true", help="submit: cancel an active job of the same name first (make submit does)"
    )
    parser.add_argument(
        "--oldest", action="store_true", help="kill-taskmanager: spare the TaskManager started last (a standby)"
    )
    parser.epilog = "submit: arguments for job/main.py follow a --"
    # Split at "--" by hand: an argparse.REMAINDER positional would also swallow the
    # options after the action (--from-savepoint, --job) and hand them to job/main.py.
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args, job_args = parser.parse_args(argv[:split]), argv[split + 1 :]
    if args.action == "up":
        up()
    elif args.action == "down":
        down()
    elif args.action == "submit":
        if args.replace:
            replace_running(job_args)
        submit(job_args, args.from_savepoint)
    elif args.action == "stop":
        path = stop(args.job)
        print(f"savepoint {path}\nresume with: make submit FROM_SAVEPOINT={path}")
    elif args.action == "metrics":
        print(json.dumps(job_metrics(args.job), indent=2))
    elif args.action == "kill-taskmanager":
        print(f"killed TaskManager pid(s) {kill_taskmanager(args.oldest) or 'none: none was running'}")
    elif args.action == "start-taskmanager":
        start_taskmanager()
        print("TaskManager started and registered")
    else:
        try:
            jobs = running_jobs()
        except OSError:
            print(f"no Flink cluster at {rest_url()}")
            return 1 if args.action == "jobs" else 0
        print(f"Flink cluster at {rest_url()}: {len(jobs)} running job(s)")
        for job in jobs:
            print(f"  {job['jid']}  {job['state']:<11} {job['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
