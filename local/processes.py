"""Background processes with PID files under .run/: idempotent start, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from job.config import REPO_ROOT

RUN_DIR = Path(os.environ.get("SILOCOMPRO_RUN_DIR", REPO_ROOT / ".run"))


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not open {host}:{port} within {seconds:.0f}s; see {log}")


def running_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def start(name: str, argv: list[str], env: dict | None = None, log: Path | None = None) -> int:
    """Start argv detached, logging to ``log`` (default .run/NAME.log); returns the PID
    (reuses a live one)."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    pid_file = RUN_DIR / f"{name}.pid"
    pid = running_pid(pid_file)
    if pid:
        return pid
    with (log or RUN_DIR / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    pid_file.write_text(str(proc.pid))
    return proc.pid


def stop(name: str, seconds: float = 10) -> bool:
    """SIGTERM the process group, SIGKILL after a grace period. False if it was not running."""
    pid_file = RUN_DIR / f"{name}.pid"
    pid = running_pid(pid_file)
    pid_file.unlink(missing_ok=True)
    if not pid:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True
