"""Local standalone Flink cluster from the PyFlink wheel, and job submission to it.

    python -m job.local.cluster up|down|status|submit|jobs

The wheel carries a full Flink distribution (bin/, lib/, opt/). This module renders the
repo's flink-conf.yaml into the config.yaml that Flink 2.0 reads, builds a lib dir that
adds flink-python (thread mode on a TaskManager needs it there), and runs the wheel's own
jobmanager.sh / taskmanager.sh / flink scripts with those directories.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from job.config import REPO_ROOT, worker_pythonpath
from job.local import processes

FLINK_HOME = Path(__import__("pyflink").__file__).parent
FLINK_DIR = processes.RUN_DIR / "flink"
CONF_DIR = FLINK_DIR / "conf"
LIB_DIR = FLINK_DIR / "lib"
PORT_DEFAULTS = {"REST_PORT": 8081, "RPC_PORT": 6123, "TM_RPC_PORT": 6122, "BLOB_PORT": 6124}


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
        raise SystemExit("Java not found: install a JDK 17 (e.g. `apt-get install openjdk-17-jre-headless`) "
                         "or set JAVA_HOME; Flink, pypmml and sklearn2pmml all need it")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    if '"17' not in out and '"21' not in out and '"11' not in out:
        print(f"warning: Flink 2.0 supports Java 11/17/21; found: {out.splitlines()[0]}", file=sys.stderr)


def render_config() -> None:
    """flink-conf.yaml → .run/flink/conf/config.yaml, plus the wheel's log4j files."""
    for sub in ("conf", "log", "pid", "tmp", "web", "checkpoints", "savepoints"):
        (FLINK_DIR / sub).mkdir(parents=True, exist_ok=True)
    values = {
        "PYTHON": sys.executable,
        "PYTHONPATH": worker_pythonpath(),
        "RUN": str(processes.RUN_DIR.resolve()),
        **{k: str(v) for k, v in ports().items()},
    }
    text = (REPO_ROOT / "flink-conf.yaml").read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    (CONF_DIR / "config.yaml").write_text(text)
    for log_conf in (FLINK_HOME / "conf").glob("log4j*.properties"):
        shutil.copy(log_conf, CONF_DIR / log_conf.name)
    LIB_DIR.mkdir(parents=True, exist_ok=True)
    for jar in [*(FLINK_HOME / "lib").glob("*.jar"), *(FLINK_HOME / "opt").glob("flink-python-*.jar")]:
        link = LIB_DIR / jar.name
        if not link.exists():
            link.symlink_to(jar)


def flink_env() -> dict[str, str]:
    return {**os.environ, "FLINK_CONF_DIR": str(CONF_DIR), "FLINK_LIB_DIR": str(LIB_DIR),
            "FLINK_HOME": str(FLINK_HOME)}


def _script(name: str, *args: str) -> None:
    subprocess.run(["bash", str(FLINK_HOME / "bin" / name), *args], env=flink_env(), check=True,
                   stdout=subprocess.DEVNULL)


def rest(path: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(rest_url() + path, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


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
                print(f"Flink cluster up at {rest_url()} (logs .run/flink/log)")
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
    jobs = rest("/jobs/overview").get("jobs", [])
    return [j for j in jobs if j["state"] in ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING")
            and (name is None or j["name"] == name)]


def submit(job_args: list[str], savepoint: str | None = None) -> None:
    """``flink run -d -py job/main.py``: the client validates config, token and model first."""
    render_config()
    command = [str(FLINK_HOME / "bin" / "flink"), "run", "-d", "-py", str(REPO_ROOT / "job" / "main.py"),
               "-pyexec", sys.executable, "-pyclientexec", sys.executable]
    if savepoint:
        command[2:2] = ["-s", savepoint]
    result = subprocess.run([*command, *job_args], env=flink_env(), cwd=REPO_ROOT)
    if result.returncode:
        raise SystemExit(result.returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "status", "submit", "jobs"))
    parser.add_argument("--from-savepoint", default=None)
    parser.add_argument("job_args", nargs=argparse.REMAINDER, help="after --: arguments for job/main.py")
    args = parser.parse_args(argv)
    job_args = args.job_args[1:] if args.job_args[:1] == ["--"] else args.job_args
    if args.action == "up":
        up()
    elif args.action == "down":
        down()
    elif args.action == "submit":
        submit(job_args, args.from_savepoint)
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
