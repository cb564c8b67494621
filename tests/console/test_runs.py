"""Experiments run from the console through a real broker: the accounting of decisions by
token, and a console killed mid-run whose experiment resumes to the planned size."""

from __future__ import annotations

import json
import time

import pytest

from console.store import Store
from experiment.assignment import TREATMENT
from tests.support.console import QUICK, ConsoleProcess, Responder, app_for, console_env, create, wait_for


def test_wrong_token_predictions_are_ignored_and_counted(env, broker, topics):
    client = app_for(env).test_client()
    experiment_id, token = create(client, cuped="", sequential="")  # both recorded, both honoured
    responder = Responder(broker, topics, lambda uuid: token if uuid % 5 else "not-the-token")
    try:
        assert client.post(f"/api/experiments/{experiment_id}/start").status_code == 202
        assert client.post(f"/api/experiments/{experiment_id}/start").status_code == 409  # one run at a time
        body = wait_for(client, experiment_id, lambda b: b["state"] in ("done", "failed"), timeout=120)
    finally:
        responder.stop()
    assert body["state"] == "done", body["message"]
    sessions = json.loads(client.get(f"/experiments/{experiment_id}/sessions.json").get_data())
    assert len(sessions) == body["plan"]["total"] == body["live"]["recorded"]
    answered = {s["uuid"]: responder.answered.get(s["uuid"]) for s in sessions}
    treated = [s["uuid"] for s in sessions if s["arm"] == TREATMENT]
    assert body["tally"]["wrong_token"] == sum(1 for t in answered.values() if t not in (None, token)) > 0
    assert body["live"]["decisions"]["received"] == sum(1 for u in treated if answered[u] == token)
    assert body["live"]["decisions"]["missing"] == sum(1 for u in treated if answered[u] != token) > 0
    assert all(s["source"] == "job" for s in sessions if s["arm"] == TREATMENT and answered[s["uuid"]] == token)
    assert body["verdict"] and body["report"]["lines"][-1].startswith("verdict")
    lines = "\n".join(body["report"]["lines"])
    assert "CUPED off, sequential testing off (fixed horizon only)" in lines
    assert "not applied: switched off in the experiment's settings" in lines and "Welch on CUPED" not in lines
    for name in body["report"]["files"]:
        assert client.get(f"/experiments/{experiment_id}/report/{name}").status_code == 200


def test_start_without_a_job_fails_with_a_message_and_can_be_retried(env):
    """Defect 8: Start scored both models (~12 s) before looking for the job. Now the page
    says within 2 s that it waits for the job's answer and what to run."""
    client = app_for({**env, "SILOCOMPRO_CONSOLE__JOB_WAIT_S": "3"}).test_client()
    experiment_id, _ = create(client)
    started = time.monotonic()
    assert client.post(f"/api/experiments/{experiment_id}/start").status_code == 202
    waiting = wait_for(client, experiment_id, lambda b: "make submit TOKEN=" in b["message"], timeout=2)
    assert waiting["state"] == "waiting" and time.monotonic() - started < 2
    body = wait_for(client, experiment_id, lambda b: b["state"] == "failed", timeout=60)
    assert body["message"].startswith("no decision from the job on console_prediction_")
    assert body["startable"] and body["live"]["recorded"] == 0


def test_stop_while_waiting_for_the_job(env):
    client = app_for({**env, "SILOCOMPRO_CONSOLE__JOB_WAIT_S": "120"}).test_client()
    experiment_id, _ = create(client)
    client.post(f"/api/experiments/{experiment_id}/start")
    wait_for(client, experiment_id, lambda b: b["message"].startswith("waiting for the job"), timeout=60)
    started = time.monotonic()
    assert client.post(f"/api/experiments/{experiment_id}/stop").get_json()["state"] == "interrupted"
    assert time.monotonic() - started < 10  # not the 120 s the wait would last
    body = wait_for(client, experiment_id, lambda b: True, timeout=5)
    assert body["message"] == "stopped before any session was sent" and body["startable"]


@pytest.mark.slow
def test_a_console_killed_mid_run_keeps_its_sessions_and_resumes_to_the_planned_size(broker, topics, tmp_path):
    env = console_env(broker, topics, tmp_path, rate=300)
    console = ConsoleProcess(env, tmp_path / "console.log")
    page = console.post("/experiments", {**QUICK, "mde": "2"})  # about 1,770 customers, 6 s at 300/s
    token = page.split('<code id="token">')[1].split("<")[0]
    responder = Responder(broker, topics, lambda uuid: token)
    try:
        console.post("/api/experiments/1/start", {})
        first = Store(tmp_path / "console.db")
        while first.count(1) < 300:
            assert console.proc.poll() is None, console.output()
            time.sleep(0.05)
        console.proc.kill()  # no goodbye: the state says "running" with part of the sessions
        console.proc.wait(10)
        assert token not in console.output()

        client = app_for(env).test_client()  # a new application object on the same SQLite file
        before = wait_for(client, 1, lambda b: True, timeout=5)
        recorded = before["live"]["recorded"]
        assert before["state"] == "interrupted" and 300 <= recorded < before["plan"]["total"]
        assert not before["live"]["srm"]["mismatch"]  # the cut took both arms alike
        assert client.post("/api/experiments/1/start").status_code == 202
        wait_for(client, 1, lambda b: b["live"]["recorded"] >= recorded + 200, timeout=60)
        assert client.post("/api/experiments/1/stop").get_json()["state"] == "interrupted"  # Stop, then Resume
        stopped = wait_for(client, 1, lambda b: True, timeout=5)["live"]["recorded"]
        assert client.post("/api/experiments/1/start").status_code == 202
        after = wait_for(client, 1, lambda b: b["state"] in ("done", "failed"), timeout=120)
    finally:
        responder.stop()
        console.stop()
    assert after["state"] == "done", after["message"]
    assert after["runs"] == 3 and after["live"]["recorded"] == after["plan"]["total"]
    sessions = json.loads(client.get("/experiments/1/sessions.json").get_data())
    runs = [[s for s in sessions if s["run_id"] == run] for run in (1, 2, 3)]
    assert (len(runs[0]), len(runs[0]) + len(runs[1])) == (recorded, stopped)  # nothing lost or repeated
    for earlier, later in zip(runs, runs[1:]):  # each run a time slice after the one before
        assert max(s["started_at"] for s in earlier) < min(s["started_at"] for s in later)
