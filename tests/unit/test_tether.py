"""local/tether.py: a command started through it ends with the process that started it."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from local.jobprocess import group_processes

# A parent that starts a tethered command in its own process group (as JobProcess does),
# prints the command's group and waits to be killed.
PARENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    child = subprocess.Popen(
        [sys.executable, "-m", "local.tether", str(os.getpid()), "--", "sleep", "600"],
        start_new_session=True,
    )
    print(child.pid, flush=True)
    time.sleep(600)
    """
)


def group_members(group: int) -> list[int]:
    """The group's live processes (a zombie has ended: its parent just did not reap it)."""
    return [pid for pid, fields in group_processes(group).items() if fields[0] != "Z"]


def started():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    group = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    while len(group_members(group)) < 2 and time.monotonic() < deadline:  # the tether and sleep
        time.sleep(0.05)
    assert len(group_members(group)) == 2
    return parent, group


def test_the_command_ends_when_its_parent_is_killed():
    parent, group = started()
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while group_members(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(group) == []


def test_a_stop_of_the_group_is_left_to_the_command():
    parent, group = started()
    try:
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while group_members(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert group_members(group) == []  # the sleep ended, and the tether after it
    finally:
        parent.kill()
        parent.wait()
