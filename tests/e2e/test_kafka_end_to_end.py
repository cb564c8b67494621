"""Through a real Kafka-protocol broker: 10,000 sessions, halves in random order, 2 % malformed."""

import base64
import json
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import pytest

from local.traffic import collect_predictions, customers, plan_sessions, wait_for_answer
from tests.support.e2e import TOKEN

pytestmark = pytest.mark.slow


def letter_payload(letter: dict) -> bytes:
    if letter["payload"] is not None:
        return letter["payload"].encode()
    return base64.b64decode(letter["payload_base64"])


def test_one_decision_per_complete_session_and_every_malformed_dead_lettered(new_job):
    """The sessions are produced before the job starts; it reads them from the earliest offset."""
    job = new_job()
    plan = plan_sessions(customers(10_000, seed=3, uuid_base=10_000_000), seed=3, malformed_share=0.02)
    assert plan.malformed >= 400
    predictions, dead_letters = job.reader("prediction"), job.reader("dead_letter")

    job.send(plan)
    job.launch()
    try:
        found = collect_predictions(predictions, plan.complete, timeout=90)  # includes job start-up
        letters = [
            json.loads(m.value())
            for _, m in dead_letters.read_until(lambda pairs: len(pairs) >= plan.malformed, idle=15.0)
        ]
    finally:
        predictions.close()
        dead_letters.close()

    missing = plan.complete - set(found)
    duplicated = {u: v for u, v in found.items() if len(v) > 1}
    assert not missing, f"{len(missing)} complete sessions without a decision"
    assert not duplicated, f"{len(duplicated)} sessions decided more than once"
    assert all(v[0][1]["token"] == TOKEN and v[0][1]["value"] in (0, 1) for v in found.values())
    assert 0 < sum(v[0][1]["value"] for v in found.values()) < len(found)
    # Every dead letter is one of the malformed payloads sent, as often as it was sent: a
    # valid half dead-lettered would leave its session decided from the other half only.
    sent = Counter(m.payload[:65536] for m in plan.messages if m.uuid is None)  # letters keep 64 KiB
    assert Counter(letter_payload(d) for d in letters) == sent
    assert all(letter["reason"] and letter["source_topic"] in job.topics.values() for letter in letters)
    assert job.alive(), "the job must survive malformed input"
    assert TOKEN not in job.output(), "the token must never be logged"
    for letter in letters:
        assert TOKEN not in json.dumps(letter)


# The timeout's safe default marks a decision from one half (1); a scored session is never
# shown at threshold 1 (0): every decision says whether it saw both halves.
HALF_ONLY_SHOWS = ("join.on_timeout=default", "model.safe_default=1", "model.threshold=1.0")


def assert_joined_by_timestamps(found: dict, plan) -> None:
    """One decision per session; every complete session from both halves (0), every
    incomplete one from its half (1)."""
    assert {u: len(v) for u, v in found.items() if len(v) != 1} == {}, "one decision per session"
    values = {u: v[0][1]["value"] for u, v in found.items()}
    half_only = sorted(u for u in plan.complete if values.get(u) == 1)
    assert (len(half_only), Counter(values[u] for u in plan.incomplete if u in values)) == (
        0,
        {1: len(plan.incomplete)},
    )
    assert set(values) == plan.complete | plan.incomplete


def test_a_backlog_is_decided_by_the_record_timestamps(new_job):
    """10,000 sessions written before the job starts, each session's halves one after the
    other, 5 % with one half only. Catching up, the job reads the two topics at different
    speeds (the historic parse is the slower), yet by their timestamps every complete
    session's halves are milliseconds apart: all of them must be joined, and every
    incomplete one decided from its half."""
    job = new_job(*HALF_ONLY_SHOWS)
    plan = plan_sessions(customers(10_000, seed=4, uuid_base=30_000_000), seed=4, incomplete_share=0.05, paired=True)
    predictions = job.reader("prediction")
    job.send(plan)
    job.launch()
    try:
        found = collect_predictions(predictions, plan.complete | plan.incomplete, timeout=180)  # start-up too
    finally:
        predictions.close()
    assert_joined_by_timestamps(found, plan)


def test_live_traffic_at_300_sessions_per_second_is_decided_from_both_halves(new_job):
    """A running job, 6,000 sessions at 300/s as the enrichment pipelines write them (each
    session's halves back to back, 5 % with one half only): not one complete session may
    be decided from one half, whether or not the job keeps up on this machine."""
    job = new_job(*HALF_ONLY_SHOWS)
    plan = plan_sessions(customers(6_000, seed=5, uuid_base=40_000_000), seed=5, incomplete_share=0.05, paired=True)
    predictions = job.reader("prediction")
    job.launch()
    try:
        sides = {"demographic": job.topics["demographic"], "historic": job.topics["historic"]}
        assert wait_for_answer(job.bootstrap, sides, predictions, 9_000_000_000_000, timeout=180) is not None
        job.send(plan, rate=300 * len(plan.messages) / len(plan.complete | plan.incomplete))
        found = collect_predictions(predictions, plan.complete | plan.incomplete, timeout=60)
    finally:
        predictions.close()
    assert_joined_by_timestamps(found, plan)


def flink_job_id(job) -> str:
    (job_id,) = (j["id"] for j in job.rest("/jobs")["jobs"])
    return job_id


def failures_of(job) -> list[str]:
    """The first line of each failure that restarted the job (Flink's exception history)."""
    entries = job.rest(f"/jobs/{flink_job_id(job)}/exceptions")["exceptionHistory"]["entries"]
    return [entry["stacktrace"].split("\n", 1)[0] for entry in entries]


def next_checkpoint(job, timeout: float = 30.0) -> dict:
    """The first checkpoint the job completes after this call."""
    path = f"/jobs/{flink_job_id(job)}/checkpoints"

    def newest() -> dict:
        return (job.rest(path).get("latest") or {}).get("completed") or {}

    before = newest().get("id")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        completed = newest()
        if completed and completed["id"] != before:
            return completed
        time.sleep(0.5)
    raise AssertionError(f"no checkpoint completed within {timeout:.0f} s")


def test_a_local_job_keeps_checkpointing_once_its_state_outgrows_the_jobmanagers_memory(new_job):
    """48,000 sessions decided: the join's state (every session until state_ttl_ms) passes
    the 5 MB that Flink's default in-memory checkpoint storage accepts. There every
    checkpoint failed and the MiniCluster restarted in a loop, deciding sessions again
    and then none; on disk (flink.local_checkpoint_dir) nothing restarts."""
    job = new_job()
    deadline = time.monotonic() + 240  # a restart loop re-decides sessions for ever

    def in_time(decided: int) -> None:
        if time.monotonic() > deadline:
            raise AssertionError(f"{decided:,} sessions decided in 240 s; failures: {failures_of(job)}")

    plan = plan_sessions(customers(48_000, seed=6, uuid_base=50_000_000), seed=6, paired=True)
    predictions = job.reader("prediction")
    job.send(plan)
    job.launch()
    try:
        found = collect_predictions(predictions, plan.complete, timeout=120, progress=in_time)
        checkpoint, failures = next_checkpoint(job), failures_of(job)
    finally:
        predictions.close()
    assert checkpoint["state_size"] > 5 * 1024 * 1024, checkpoint["state_size"]
    assert Path(urlparse(checkpoint["external_path"]).path).is_relative_to(job.checkpoints)
    assert (failures, len(plan.complete - set(found)), sum(len(v) > 1 for v in found.values())) == ([], 0, 0)
