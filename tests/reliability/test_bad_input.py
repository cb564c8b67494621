"""Hostile input and join edge cases through the job on the standalone cluster.

One run feeds the job 1,000 valid sessions with the demo's malformed messages mixed in,
the fuzz corpus (tests/support/corpus.py), a few seconds of complete sessions after
them (so their single halves time out in event time, before the job waits idle), and the
join edge cases on their schedule (edges.py); the tests below each check one promise against that run: no job failure,
every rejection dead-lettered with its reason, every accepted message decided, each edge
case's documented outcome and metric, and the token only where it belongs.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable

import pytest

from job.engines import open_scorer
from job.model import load_spec
from local.cluster import JOB_METRICS
from local.traffic import Message, customers, plan_sessions, produce
from tests.support import edges
from tests.support.accounting import Letters, Row, Tally, decisions_by_uuid, match_letters, tally
from tests.support.corpus import ACCEPTED, LIMIT, Case, accepted_uuids, corpus, outcome
from tests.support.fixtures import FIXTURES
from tests.support.reliability import ROWS, TOKEN
from tests.support.timeline import read_until, send_schedule

pytestmark = pytest.mark.slow


@dataclass
class Run:
    cases: list[edges.EdgeCase]
    decisions: list[dict]
    letters: list[dict]
    tally: Tally
    matched: Letters
    metrics: dict[str, float]
    expected_metrics: dict[str, float]
    restarts: int
    state: str
    exceptions: list
    outputs: dict[str, str]  # where the token must not appear
    value_of: Callable[[edges.Halves], int]


@pytest.fixture(scope="module")
def run(stack, new_job) -> Run:
    spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    scorer = open_scorer(spec)
    cases = edges.edge_cases(uuid_base=70_000_000, seed=5, score=scorer.score, threshold=spec.threshold)
    fuzz = corpus(seed=11, uuid_base=50_000_000)
    plan = plan_sessions(customers(1000, seed=7, uuid_base=60_000_000), seed=7, malformed_share=0.02)
    bad = [*fuzz, *(Case(m.side, m.payload, "demo malformed") for m in plan.messages if m.uuid is None)]
    rejected = [(case.payload, reason) for case in bad if (reason := outcome(case)) != ACCEPTED]
    singles = accepted_uuids(fuzz)
    expected = {uuid: 1 for uuid in plan.complete | singles}
    # After the bulk: event time moves past the deadlines of its single halves.
    tail = edges.event_clock(uuid_base=75_000_000, seed=9, seconds=edges.TIMEOUT_MS / 1000 + 2.0)
    timed = [tail, *cases]
    expected |= {uuid: len(sessions) for case in timed for uuid, sessions in case.sessions.items()}
    expected_metrics = sum(
        (case.metrics for case in timed),
        Counter(
            sessions_started=len(plan.complete) + len(singles),
            sessions_joined=len(plan.complete),
            sessions_timed_out=len(singles),
            messages_dead_lettered=len(rejected),
            decisions=sum(expected.values()),
            messages_accepted=2 * len(plan.complete)
            + len(singles)
            + sum(len(step.messages) for case in timed for step in case.steps),
        ),
    )
    checked = {name: expected_metrics[name] for name in JOB_METRICS if name != "decisions_shown"}

    job = new_job(*edges.FLAGS)
    predictions, dead_letters = job.reader("prediction"), job.reader("dead_letter")
    job.submit()
    bulk = [*(Message(case.side, None, case.payload) for case in fuzz), *plan.messages]
    produce(stack.bootstrap, job.sides(), bulk)
    send_schedule(stack.bootstrap, job.sides(), tail.steps)
    # The edge cases' timing is relative: start them once the job has read the bulk, so
    # neither source lags the other by the time a case needs ("same half twice": 0.5 s).
    tail_messages = sum(len(step.messages) for step in tail.steps)
    _settled_metrics(
        job, {"messages_accepted": len(bulk) - len(rejected) + tail_messages, "messages_dead_lettered": len(rejected)}
    )
    send_schedule(stack.bootstrap, job.sides(), [step for case in cases for step in case.steps])
    decisions = read_until(predictions, lambda got: _covered(expected, got), idle=30)
    letters = read_until(dead_letters, lambda got: len(got) >= len(rejected), idle=10)
    predictions.close()
    dead_letters.close()

    result = Run(
        cases=cases,
        decisions=decisions,
        letters=letters,
        tally=tally(expected, decisions_by_uuid(decisions)),
        matched=match_letters(rejected, letters, LIMIT),
        metrics=_settled_metrics(job, checked),
        expected_metrics=checked,
        restarts=stack.flink.restarts(job.id),
        state=job.state(),
        exceptions=stack.flink.call(f"/jobs/{job.id}/exceptions")["exceptionHistory"]["entries"],
        outputs={
            "cluster logs": stack.logs(),
            "make submit output": job.client_output,
            "job config (REST)": json.dumps(stack.flink.call(f"/jobs/{job.id}/config")),
            "dead letters": json.dumps(letters),
        },
        value_of=lambda halves: edges.expected_value(halves, scorer.score, spec.threshold),
    )
    ROWS.append(
        Row(
            "bad input + join edge cases",
            0,
            result.tally,
            len(rejected),
            result.matched.matched,
            result.restarts + (result.state != "RUNNING"),
        )
    )
    yield result
    scorer.close()


def _covered(expected: dict[int, int], bodies: list[dict]) -> bool:
    got = decisions_by_uuid(bodies)
    return all(got.get(uuid, 0) >= n for uuid, n in expected.items())


def _settled_metrics(job, expected: dict[str, float], seconds: float = 30) -> dict[str, float]:
    """The job's metrics once they equal ``expected``, or as they are after ``seconds``:
    REST values trail the operators by the metric fetch interval."""
    deadline = time.monotonic() + seconds
    while True:
        metrics = job.stack.flink.metrics(job.id, tuple(expected))
        if metrics == expected or time.monotonic() > deadline:
            return metrics
        time.sleep(1)


def test_hostile_input_never_fails_the_job(run):
    assert (run.state, run.restarts, run.exceptions) == ("RUNNING", 0, [])


def test_every_rejected_message_is_dead_lettered_with_its_reason(run):
    assert run.matched.missing == [] and run.matched.unexpected == []
    assert all(letter["reason"] and letter["detail"] for letter in run.letters)


def test_every_accepted_message_is_decided_once(run):
    assert (run.tally.lost, run.tally.duplicated, run.tally.unexpected) == (0, 0, 0), run.tally


@pytest.mark.parametrize("index", range(edges.CASE_COUNT), ids=lambda i: f"edge{i}")
def test_join_edge_case_has_its_documented_outcome(run, index):
    assert len(run.cases) == edges.CASE_COUNT
    case = run.cases[index]
    received = defaultdict(list)
    for body in sorted(run.decisions, key=lambda b: b["_at"]):
        received[body["uuid"]].append(body["value"])
    expected = {uuid: [run.value_of(halves) for halves in sessions] for uuid, sessions in case.sessions.items()}
    assert {uuid: received[uuid] for uuid in case.sessions} == expected, f"{case.name}: {case.outcome}"


def test_metrics_count_every_message_and_join_event(run):
    differing = {
        name: (value, run.expected_metrics[name])
        for name, value in run.metrics.items()
        if value != run.expected_metrics[name]
    }
    assert differing == {}, "metric: (REST value, expected)"


def test_token_is_in_every_prediction_and_nowhere_else(run):
    assert run.decisions and all(body["token"] == TOKEN for body in run.decisions)
    leaks = [where for where, text in run.outputs.items() if TOKEN in text]
    assert leaks == []
