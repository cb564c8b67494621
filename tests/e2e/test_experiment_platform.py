"""The local A/B platform against a real broker: its accounting, then a whole experiment
through the running job."""

from __future__ import annotations

import json

import numpy as np
import pytest
from confluent_kafka import Producer

from experiment import analysis
from experiment.assignment import CONTROL, TREATMENT
from experiment.config import load_experiment
from experiment.platform import BASELINE, JOB, MISSING, Platform
from job.config import load_config
from job.control import model_id
from job.model import read_metadata
from local.broker import create_topics
from tests.support.e2e import TOKEN
from tests.support.fixtures import FIXTURES


def platform_for(bootstrap: str, topics: dict[str, str], sessions: int, **settings: str) -> Platform:
    job_cfg = load_config(
        overrides={**{f"kafka.topics.{k}": v for k, v in topics.items()}, "model.pmml": str(FIXTURES / "model.pmml")},
        environ={"KAFKA_BOOTSTRAP": bootstrap},
    )
    cfg = load_experiment(overrides={"platform.control_pmml": str(FIXTURES / "baseline.pmml"), **settings}, environ={})
    return Platform(cfg, job_cfg, TOKEN, sessions, show_progress=False)


def test_platform_uses_only_timely_decisions_with_the_right_token(broker):
    """A scripted responder stands in for the job, so every count is known in advance."""
    names = ("demographic", "historic", "prediction", "dead_letter")
    topics = {name: f"platform_{name}_{np.random.default_rng().integers(1 << 30)}" for name in names}
    create_topics(broker, list(topics.values()))
    platform = platform_for(broker, topics, 400, **{"platform.rate": "400", "platform.decision_deadline_ms": "1500"})
    platform.prepare()
    platform.connect()

    treated = [int(u) for u in platform.uuids[platform.arms == TREATMENT]]
    wanted = {u: 1 - int(platform.model_offline[platform.index[u]]) for u in treated}  # differs from the model
    kind = {u: i % 4 for i, u in enumerate(treated)}  # 0 answered, 1 wrong token only, 2 twice, 3 never
    # even uuids name a model version in the headers, as the job does; odd ones name none
    named = {u: [("model_name", b"challenger"), ("model_version", b"7")] if u % 2 == 0 else None for u in treated}
    responder = Producer({"bootstrap.servers": broker})
    for u in treated:
        answers = {0: [TOKEN], 1: ["not-" + TOKEN], 2: [TOKEN, TOKEN], 3: []}[kind[u]]
        for token in answers:
            responder.produce(
                topics["prediction"],
                key=str(u).encode(),
                headers=named[u],
                value=json.dumps({"uuid": u, "value": wanted[u], "token": token}).encode(),
            )
    responder.produce(topics["prediction"], value=b"not a prediction")
    responder.flush(10)

    frame = platform.run().set_index("uuid")
    count = {k: sum(1 for u in treated if kind[u] == k) for k in range(4)}
    tally = platform.tally
    assert tally.job_decisions == count[0] + count[2]
    assert tally.duplicates == count[2]
    assert tally.wrong_token == count[1]
    assert tally.missing == count[1] + count[3]
    assert tally.unreadable == 1
    for u in treated:
        row = frame.loc[u]
        if kind[u] in (0, 2):
            assert (row.source, row.decision) == (JOB, wanted[u])
            assert row.model == ("challenger:7" if named[u] else "unnamed")
        else:
            assert (row.source, row.decision, row.model) == (MISSING, 0, "")
    control = frame[frame.arm == CONTROL]
    assert (control.source == BASELINE).all()
    baseline = read_metadata(FIXTURES / "baseline.json")
    assert (control.model == model_id(baseline["name"], baseline["version"])).all()
    assert np.array_equal(control.decision.to_numpy(), platform.baseline[platform.arms == CONTROL])
    assert abs(len(control) / len(frame) - 0.5) < 0.1


@pytest.mark.slow
def test_a_small_experiment_through_the_running_job(new_job):
    job = new_job()
    job.launch()
    platform = platform_for(job.bootstrap, job.topics, 1500, **{"platform.rate": "100"})
    platform.prepare()
    platform.connect()
    platform.wait_for_job(timeout=180)
    frame = platform.run()

    treated = frame[frame.arm == TREATMENT]
    tally = platform.tally
    assert tally.wrong_token == 0 and tally.duplicates == 0 and tally.unreadable == 0
    assert tally.missing == (treated.source == MISSING).sum() <= 0.01 * len(treated)
    assert tally.job_decisions == (treated.source == JOB).sum()
    truth = platform.ground_truth()
    # every decision the job made equals an offline scoring of the halves it was given
    assert truth["job_vs_offline_disagreements"] == 0 and truth["job_decisions_checked"] == tally.job_decisions
    assert 0 < treated.decision.sum() < len(treated)
    served = read_metadata(FIXTURES / "model.json")  # the job's configured model, named in every decision's headers
    assert (treated[treated.source == JOB].model == model_id(served["name"], served["version"])).all()
    by_model = {(r["arm"], r["model"]): r["sessions"] for r in analysis.revenue_by_model(frame)}
    assert sum(by_model.values()) == len(frame)
    assert by_model[(TREATMENT, model_id(served["name"], served["version"]))] == tally.job_decisions
    assert np.percentile(tally.latencies_ms, 99) < platform.deadline * 1000
    result = analysis.analyse(frame, platform.plan)
    assert not result.srm.mismatch
    assert result.as_dict()["verdict"]
