"""The model registry survives a stop with a savepoint and a resume (`make stop`, `make
submit FROM_SAVEPOINT=...`): decisions keep the id of the model pushed before the stop.

The restored control source resumes after the push, so the job could only serve the
pushed model again from its restored broadcast state; without it, it would fall back to
the configured model and the test would see its id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from job import control
from job.model import load_spec
from local.traffic import customers, headers, plan_sessions, produce
from tests.support.fixtures import FIXTURES

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def decided_by(job, plan) -> dict[int, str]:
    """Send ``plan`` and return uuid → the model id in its prediction's headers."""
    reader = job.reader("prediction")
    try:
        produce(job.stack.bootstrap, job.sides(), plan.messages)
        found = {}
        for _, message in reader.read_until(lambda pairs: len(found_in(pairs, plan)) >= len(plan.complete), idle=60):
            body = json.loads(message.value())
            if body["uuid"] in plan.complete:
                found.setdefault(body["uuid"], []).append("{model_name}:{model_version}".format(**headers(message)))
    finally:
        reader.close()
    assert set(found) == plan.complete and all(len(v) == 1 for v in found.values())
    return {u: v[0] for u, v in found.items()}


def found_in(pairs, plan) -> set[int]:
    return {json.loads(m.value())["uuid"] for _, m in pairs} & plan.complete


def test_a_pushed_model_keeps_serving_after_a_savepoint_resume(stack, new_job, tmp_path):
    pushed = load_spec(REPO / "pmml" / "model.pmml", REPO / "pmml" / "model.json")
    pushed_id = control.model_id(pushed.name, pushed.version)
    configured = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    job = new_job("join.timeout_ms=60000")
    job.submit()
    done = stack.module(
        "job.model_cli",
        *job.args,
        f"--set=models.store={tmp_path / 'store'}",
        "push",
        str(REPO / "pmml" / "model.pmml"),
    )
    assert "job: accepted" in done.stdout, done.stdout

    before = decided_by(job, plan_sessions(customers(300, seed=31, uuid_base=91_000_000), seed=31))
    assert set(before.values()) == {pushed_id}
    savepoint = job.stop()
    job.submit(savepoint)
    after = decided_by(job, plan_sessions(customers(300, seed=32, uuid_base=92_000_000), seed=32))
    assert set(after.values()) == {pushed_id}, f"after the resume: {set(after.values())}"

    status = job.reader("model_status")
    events = sorted(
        (json.loads(m.value()) for _, m in status.read_until(lambda _: False, idle=2, linger=0)),
        key=lambda e: e["at_ms"],
    )
    status.close()
    assert [e["event"] for e in events] == ["started", "accepted", "restored"], events
    assert [r["model"] for r in events[-1]["registry"]["serving"]] == [pushed_id]
    assert pushed_id != control.model_id(configured.name, configured.version)
