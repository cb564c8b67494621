"""Faults while sessions stream in: a TaskManager killed (SIGKILL) with a standby already
registered, then the
job stopped with a savepoint (`make stop`) and resumed from it (`make submit
FROM_SAVEPOINT=...`) while traffic keeps arriving.

At-least-once means a crash re-decides what was decided after the checkpoint the job
restores, and nothing else: every duplicate must have been first decided between that
checkpoint and the kill. A savepoint is a clean cut for the input, but join timeouts that
fire while the job stops are decided again after the resume, from the restored timers:
those few duplicates must have been first decided while `make stop` ran.

The join's timeout decides a session from one half with the safe default 1, and the
threshold 1 never shows a scored session (0), so every decision says whether it saw both
halves: across the crash, the recovery's catch-up and the resume, no complete session may
be decided from one half.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import pytest

from local.traffic import customers, plan_sessions, produce
from tests.support.accounting import Row, Tally, decisions_by_uuid, tally
from tests.support.reliability import ROWS
from tests.support.timeline import Background, as_stream, read_until

pytestmark = pytest.mark.slow

SESSIONS, RATE = 3000, 200  # ~5,850 messages: ~29 s of traffic
KILL_AT, STOP_AT = 6.0, 18.0  # seconds into the traffic
CHECKPOINT_MS = 1000  # what a crash re-decides: up to this much traffic
SLACK = 1.0  # clock and delivery slack around the replay windows, seconds


@dataclass
class Run:
    tally: Tally
    decisions: list[dict]
    killed: str
    killed_at: float
    sending_at_kill: bool
    sending_at_stop: bool
    windows: dict[str, tuple[float, float]]  # where duplicates may come from
    complete: set[int]  # sessions with both halves sent; the others have one
    restarts: list[int]
    restored: dict
    savepoint: str
    states: list[str]


@pytest.fixture(scope="module")
def run(stack, new_job) -> Run:
    plan = plan_sessions(customers(SESSIONS, seed=21, uuid_base=80_000_000), seed=21, incomplete_share=0.05)
    expected = {uuid: 1 for uuid in plan.complete | plan.incomplete}
    job = new_job(
        f"flink.checkpoint_interval_ms={CHECKPOINT_MS}",
        "join.on_timeout=default",
        "model.safe_default=1",
        "model.threshold=1.0",
    )
    predictions = job.reader("prediction")
    first = job.submit()
    stack.module("local.cluster", "start-taskmanager")  # the standby the job fails over to
    stream = as_stream(plan.messages, seed=21)
    sender = Background(lambda: produce(stack.bootstrap, job.sides(), stream, rate=RATE))
    started = time.monotonic()
    sender.start()

    time.sleep(KILL_AT)
    window_start = _latest_checkpoint_trigger(stack.flink, first)
    killed = stack.module("local.cluster", "kill-taskmanager", "--oldest").stdout
    killed_at, sending_at_kill = time.time(), sender.is_alive()
    _wait_restarted(stack.flink, job)
    restored = stack.flink.call(f"/jobs/{first}/checkpoints")["latest"]["restored"]
    window_start = min(window_start, _trigger(stack.flink, first, restored["id"]))

    time.sleep(max(0.0, started + STOP_AT - time.monotonic()))
    restarts = [stack.flink.restarts(first)]
    sending_at_stop, stop_started = sender.is_alive(), time.time()
    savepoint = job.stop()
    stop_window = (stop_started - SLACK, time.time() + SLACK)
    second = job.submit(savepoint=savepoint)
    sender.join()
    decisions = read_until(predictions, lambda got: len(decisions_by_uuid(got)) >= len(expected), idle=45)
    predictions.close()

    result = Run(
        tally=tally(expected, decisions_by_uuid(decisions)),
        decisions=decisions,
        killed=killed,
        killed_at=killed_at,
        sending_at_kill=sending_at_kill,
        sending_at_stop=sending_at_stop,
        windows={"crash": (window_start / 1000 - SLACK, killed_at + SLACK), "stop": stop_window},
        complete=plan.complete,
        restarts=restarts + [stack.flink.restarts(second)],
        restored=stack.flink.call(f"/jobs/{second}/checkpoints")["latest"]["restored"] or {},
        savepoint=savepoint,
        states=[stack.flink.job(first)["state"], job.state()],
    )
    # The kill explains one restart of the first job; anything else is a failure.
    failures = max(0, result.restarts[0] - 1) + result.restarts[1] + (result.states[1] != "RUNNING")
    ROWS.append(Row("TaskManager kill + savepoint resume", 2, result.tally, 0, 0, failures))
    return result


def _latest_checkpoint_trigger(flink, job_id: str) -> int:
    completed = flink.call(f"/jobs/{job_id}/checkpoints")["latest"]["completed"]
    return completed["trigger_timestamp"] if completed else 0


def _trigger(flink, job_id: str, checkpoint_id: int) -> int:
    return flink.call(f"/jobs/{job_id}/checkpoints/details/{checkpoint_id}")["trigger_timestamp"]


def _wait_restarted(flink, job, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if flink.restarts(job.id) >= 1:
            try:
                return job.wait_running(timeout=deadline - time.monotonic())
            except AssertionError:
                pass
        time.sleep(0.5)
    raise AssertionError(f"job {job.id} did not restart after the TaskManager was killed")


def test_faults_hit_a_running_stream(run):
    assert "killed TaskManager pid(s) [" in run.killed
    assert run.sending_at_kill and run.sending_at_stop


def test_every_session_is_decided(run):
    assert (run.tally.lost, run.tally.unexpected) == (0, 0), run.tally


def test_no_complete_session_is_decided_from_one_half(run):
    values = Counter((body["uuid"] in run.complete, body["value"]) for body in run.decisions)
    assert (values[(True, 1)], values[(False, 0)]) == (0, 0), values


def test_duplicates_come_only_from_the_replay_windows(run):
    first_seen: dict[int, float] = {}
    for body in sorted(run.decisions, key=lambda b: b["_at"]):
        first_seen.setdefault(body["uuid"], body["_at"])
    where = Counter(
        next((name for name, (start, end) in run.windows.items() if start <= first_seen[uuid] <= end), "outside")
        for uuid, n in decisions_by_uuid(run.decisions).items()
        if n > 1
    )
    assert where["outside"] == 0, (where, run.windows)
    assert where["stop"] <= 0.01 * run.tally.sessions, where


def test_the_crash_restarts_the_job_once_and_the_savepoint_resumes_it(run):
    # One TaskManager loss can surface as more than one failover (each counted in the
    # exception history); the resumed job must not fail at all.
    assert run.restarts[0] >= 1 and run.restarts[1] == 0 and run.states == ["FINISHED", "RUNNING"]
    assert run.restored.get("is_savepoint") and run.restored["external_path"] in run.savepoint
