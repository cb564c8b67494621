"""Model lifecycle through the running job (a real process on a real broker): a swap
under load, a corrupt model rejected while the old one serves, traffic shares, shadow
scores. Models are published with the real CLI (python -m job.model_cli), except the
corrupt one, which the CLI would refuse before publishing: it goes on the control topic
raw, as a buggy publisher would send it."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import uuid as uuidlib
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Producer

from contract.schema import feature_row
from job import control
from job.config import load_config
from job.decision import decide
from job.engines import open_scorer
from job.inputs import parse_demographic, parse_historic
from job.model import load_spec
from job.routing import route
from local.traffic import customers, headers, plan_sessions, wait_for_answer
from tests.support.e2e import TOKEN
from tests.support.fixtures import FIXTURES

pytestmark = pytest.mark.slow
# Every session here has both halves, and its expected decision is scored from both: the
# join waits long enough that a backlog on a busy machine never decides one from a half.
PATIENT_JOIN = "join.timeout_ms=60000"

REPO = Path(__file__).resolve().parents[2]
V1 = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")  # what the test job is configured with
V2 = load_spec(REPO / "pmml" / "model.pmml", REPO / "pmml" / "model.json")  # a newer version of the same name
BASELINE = load_spec(FIXTURES / "baseline.pmml", FIXTURES / "baseline.json")
ID_V1, ID_V2 = control.model_id(V1.name, V1.version), control.model_id(V2.name, V2.version)


def models(job, store: Path, *args: str):
    return job.tool("job.model_cli", f"--set=models.store={store}", *args)


def serving(job) -> None:
    """Wait until the job answers a probe session: it is reading and deciding."""
    reader = job.reader("prediction", from_end=True)
    try:
        sides = {"demographic": job.topics["demographic"], "historic": job.topics["historic"]}
        assert wait_for_answer(job.bootstrap, sides, reader, uuid=1, timeout=300) is not None, job.output()[-3000:]
    finally:
        reader.close()


def decisions(reader, wanted: set[int], idle: float = 30) -> dict[int, list]:
    """uuid → its prediction records (Kafka messages) for ``wanted`` uuids."""

    def uuids(pairs):
        return {json.loads(m.value())["uuid"] for _, m in pairs} & wanted

    found: dict[int, list] = {}
    for _, message in reader.read_until(lambda pairs: len(uuids(pairs)) >= len(wanted), idle):
        body = json.loads(message.value())
        if body["uuid"] in wanted:
            found.setdefault(body["uuid"], []).append(message)
    return found


def events(reader, idle: float = 2) -> list[dict]:
    return [json.loads(m.value()) for _, m in reader.read_until(lambda _: False, idle, 0)]


def feature_rows(plan) -> dict[int, dict]:
    """What the job should have scored for each complete session: both halves as sent."""
    halves: dict[int, dict] = {}
    for message in plan.messages:
        parse = parse_demographic if message.side == "demographic" else parse_historic
        halves.setdefault(message.uuid, {})[message.side] = parse(message.payload, 65536).features()
    return {u: feature_row(h.get("demographic"), h.get("historic")) for u, h in halves.items()}


def offline_scores(spec, rows: dict[int, dict]) -> dict[int, float]:
    scorer = open_scorer(spec)
    try:
        uuids = sorted(rows)
        return dict(zip(uuids, scorer.score_batch([rows[u] for u in uuids]).tolist()))
    finally:
        scorer.close()


def unverifiable_copy(directory: Path) -> tuple[Path, str]:
    """The fixture model with its first verification score edited: well-formed, its
    checksum published correctly, but it fails its own verification rows."""
    text = (FIXTURES / "model.pmml").read_text().replace("<data:probability_1>0.", "<data:probability_1>0.9", 1)
    path = directory / "unverifiable.pmml"
    path.write_text(text)
    meta = {k: v for k, v in json.loads((FIXTURES / "model.json").read_text()).items() if k != "pmml_sha256"}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_swap_under_load_loses_no_session_and_a_rejected_model_changes_nothing(new_job, tmp_path):
    job = new_job(PATIENT_JOIN)
    job.launch()
    serving(job)
    plan = plan_sessions(customers(10_000, seed=7, uuid_base=70_000_000), seed=7)
    predictions, status = job.reader("prediction"), job.reader("model_status")
    sender = threading.Thread(target=job.send, args=(plan, 600))  # 20,000 messages over ~34 s: the swap lands inside
    sender.start()
    try:
        time.sleep(3)
        # 1. a corrupt model, published raw (the CLI refuses it, see below)
        bad, bad_sha = unverifiable_copy(tmp_path)
        entry = control.ModelEntry(V1.name, "corrupt-1", str(bad), bad_sha, 0.2, V1.output_field)
        producer = Producer({"bootstrap.servers": job.bootstrap})
        producer.produce(
            job.topics["model_control"],
            key=V1.name.encode(),
            value=control.encode(control.activate(uuidlib.uuid4().hex, int(time.time() * 1000), entry, 1.0)),
        )
        assert producer.flush(10) == 0
        refused = models(job, tmp_path / "store", "push", str(bad), "--version", "corrupt-2")
        assert refused.returncode == 2 and "error: " in refused.stdout and "verification row" in refused.stdout
        # 2. the swap: a new version of the serving model, with all traffic
        pushed = models(job, tmp_path / "store", "push", str(REPO / "pmml" / "model.pmml"))
        assert pushed.returncode == 0, pushed.stdout
        assert "job: accepted" in pushed.stdout and ID_V2 in pushed.stdout
    finally:
        sender.join()
    found = decisions(predictions, plan.complete)
    reported = events(status)
    predictions.close()
    status.close()

    # every session decided exactly once, by one of the two versions, with the right value
    missing = plan.complete - set(found)
    doubled = {u for u, records in found.items() if len(records) > 1}
    assert not missing and not doubled, f"{len(missing)} missing, {len(doubled)} decided twice"
    records = {u: records[0] for u, records in found.items()}
    model_of = {u: "{model_name}:{model_version}".format(**headers(m)) for u, m in records.items()}
    assert set(model_of.values()) == {ID_V1, ID_V2}
    for message in records.values():
        assert set(json.loads(message.value())) == {"uuid", "value", "token"}
        assert json.loads(message.value())["token"] == TOKEN
    rows = feature_rows(plan)
    expected = {}
    for spec, model_id in ((V1, ID_V1), (V2, ID_V2)):
        ours = {u: r for u, r in rows.items() if model_of[u] == model_id}
        expected.update({u: decide(p, spec.threshold, 0) for u, p in offline_scores(spec, ours).items()})
    wrong = [u for u, m in records.items() if json.loads(m.value())["value"] != expected[u]]
    assert not wrong, f"{len(wrong)} decisions differ from an offline scoring by the model in their headers"

    # the rejection: reported with its reason, the registry unchanged
    rejected = [e for e in reported if e["event"] == "rejected"]
    assert len(rejected) == 1 and "verification row" in rejected[0]["reason"], reported
    assert [r["model"] for r in rejected[0]["registry"]["serving"]] == [ID_V1]
    accepted = [e for e in reported if e["event"] == "accepted"]
    assert len(accepted) == 1 and [r["model"] for r in accepted[0]["registry"]["serving"]] == [ID_V2]
    activated_ms = accepted[0]["at_ms"]

    # before the activation v1, after it v2: per partition, in the order the job wrote them
    by_partition: dict[int, list] = {}
    for message in sorted(records.values(), key=lambda m: (m.partition(), m.offset())):
        by_partition.setdefault(message.partition(), []).append(model_of[json.loads(message.value())["uuid"]])
    for sequence in by_partition.values():
        first_v2 = sequence.index(ID_V2)
        assert set(sequence[:first_v2]) == {ID_V1} and set(sequence[first_v2:]) == {ID_V2}
    stamp = {u: m.timestamp()[1] for u, m in records.items()}
    v1 = [stamp[u] for u in records if model_of[u] == ID_V1]
    v2 = [stamp[u] for u in records if model_of[u] == ID_V2]
    assert min(v2) >= activated_ms, "a v2 decision written before v2 was activated"
    # A v1 decision made just before the switch may reach the producer just after it.
    in_transit = [t for t in v1 if t > activated_ms]
    assert all(t - activated_ms < 1000 for t in in_transit)
    after_rejection = [t for t in v1 if t > rejected[0]["at_ms"]]
    assert len(after_rejection) > 100, "the old model served on after the rejection"
    assert len(v1) > 500 and len(v2) > 500, "the swap happened mid-stream"
    print(
        f"\nswap: {len(found)} sessions decided once each, {len(v1)} by {ID_V1}, {len(v2)} by {ID_V2}; "
        f"{len(after_rejection)} v1 decisions between the rejection and the swap; "
        f"{len(in_transit)} v1 decisions written within {max(in_transit, default=activated_ms) - activated_ms} ms "
        "after the activation (made before it)"
    )


def test_traffic_shares_and_shadow_scores(new_job, tmp_path):
    job = new_job(PATIENT_JOIN)
    job.launch()
    serving(job)
    challenger = models(
        job,
        tmp_path / "store",
        "push",
        str(FIXTURES / "baseline.pmml"),
        "--name",
        "challenger",
        "--version",
        "b1",
        "--share",
        "0.3",
    )
    assert challenger.returncode == 0 and "job: accepted" in challenger.stdout, challenger.stdout
    shadow = models(job, tmp_path / "store", "push", str(REPO / "pmml" / "model.pmml"), "--shadow")
    assert shadow.returncode == 0 and "job: accepted" in shadow.stdout, shadow.stdout
    listed = models(job, tmp_path / "store", "list")
    assert listed.returncode == 0
    listing = " ".join(listed.stdout.split())
    print(listed.stdout)
    assert "activate challenger:b1 share 0.3" in listing and f"shadow {ID_V2}" in listing
    assert "serving 30.00% challenger:b1" in listing and f"serving 70.00% {ID_V1}" in listing

    plan = plan_sessions(customers(4_000, seed=8, uuid_base=80_000_000), seed=8)
    predictions, shadows = job.reader("prediction"), job.reader("shadow_scores")
    job.send(plan)
    found = decisions(predictions, plan.complete)
    scored = decisions(shadows, plan.complete)
    predictions.close()
    shadows.close()
    assert set(found) == plan.complete and all(len(v) == 1 for v in found.values())

    # routing: exactly the uuid hash over the shares the job reported, 30/70 within sampling error
    salt = load_config(environ={}).models.routing_salt
    split = (("challenger:b1", 0.3), (ID_V1, 0.7))
    model_of = {u: "{model_name}:{model_version}".format(**headers(m[0])) for u, m in found.items()}
    assert all(model_of[u] == route(u, sorted(split), salt) for u in found)
    n, share = len(found), Counter(model_of.values())["challenger:b1"] / len(found)
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n), share

    # shadow scores: one per session, equal to an offline scoring of the same PMML
    assert set(scored) == plan.complete and all(len(v) == 1 for v in scored.values())
    bodies = {u: json.loads(v[0].value()) for u, v in scored.items()}
    offline = offline_scores(V2, feature_rows(plan))
    difference = max(abs(bodies[u]["probability"] - offline[u]) for u in bodies)
    bad = [(u, bodies[u], offline[u]) for u in bodies if abs(bodies[u]["probability"] - offline[u]) > 1e-9]
    assert difference <= 1e-9, f"{len(bad)} shadow scores differ, e.g. {bad[:2]}"
    assert all(b["model"] == ID_V2 and b["serving_model"] == model_of[u] for u, b in bodies.items())
    assert all(b["value"] == decide(offline[u], V2.threshold, 0) for u, b in bodies.items())
    print(
        f"\nshares: challenger {share:.2%} of {n} (0.3 planned); shadow: max |job - offline| {difference:.1g} "
        f"over {len(bodies)} sessions"
    )
