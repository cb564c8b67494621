"""Run a command only as long as the process that started it lives.

    python -m local.tether PARENT_PID -- command [args ...]

Test and benchmark jobs (local/jobprocess.py) run in a process group of their own, so
that stopping one ends its JVMs too. When the test run itself was killed (SIGKILL, a CI
timeout, a closed terminal) nothing stopped that group: its MiniCluster went on using
both cores and spoilt every measurement after it. The kernel signals this process when
its parent dies (Linux ``PR_SET_PDEATHSIG``: the death of the parent *thread* that
started it, so start it from a thread that outlives the job), and it then ends its
group as ``JobProcess.stop`` does: SIGTERM, SIGKILL after a grace period. A SIGTERM from
such a stop is left to the command, whose exit status this process returns.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
GRACE_SECONDS = 20.0


class _Orphaned(Exception):
    pass


def _orphaned(signum, frame):
    raise _Orphaned


def end_group(grace: float = GRACE_SECONDS) -> None:
    """SIGTERM this process's group (itself spared), SIGKILL whatever is left after ``grace``."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.1)
        except ChildProcessError:  # every child has ended
            break
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    parent, separator, command = int(argv[0]), argv[1], argv[2:]
    if separator != "--" or not command:
        raise SystemExit("usage: python -m local.tether PARENT_PID -- command [args ...]")
    signal.signal(signal.SIGUSR1, _orphaned)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)  # the command got it too: wait for it
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGUSR1)
    try:
        if os.getppid() != parent:  # it died before the kernel was asked to tell
            raise _Orphaned
        child = subprocess.Popen(command)
        return child.wait()
    except _Orphaned:
        end_group()
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
