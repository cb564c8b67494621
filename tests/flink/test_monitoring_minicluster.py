"""Live monitoring in a real MiniCluster: the scoring operator's samples, keyed by model,
become one window record per 1,000 sessions; training-like customers give no alert, the
same customers five years older an alert on age.

The reference is made here, like training makes it: inputs from a synthetic population,
the score from the fixture model on those customers.
"""

from __future__ import annotations

import json
import random

from contract.schema import FEATURES, PRODUCT_FIELDS
from job.control import model_id
from job.engines import open_scorer
from job.model import load_spec
from job.monitoring.drift import ALERT, WARN
from job.monitoring.profile import reference_profile
from local.traffic import customers, demographic_message, historic_message
from tests.support.fixtures import FIXTURES
from tests.support.minicluster import job_outputs

WINDOW = 1000
FLAGS = [
    f"monitoring.window_sessions={WINDOW}",
    "monitoring.sample=1.0",
    "monitoring.min_sessions=500",
    "monitoring.window_minutes=60",
    "join.valve_ms=60000",
    "join.state_ttl_ms=120000",
]


def reference_for(spec, seed: int):
    people = customers(6_000, seed=seed, uuid_base=0)
    scorer = open_scorer(spec)
    try:
        scores = [scorer.score({name: float(p[name]) for name in FEATURES}) for p in people[:3_000]]
    finally:
        scorer.close()
    return reference_profile(
        {name: [p[name] for p in people] for name in FEATURES},
        scores,
        threshold=spec.threshold,
        pmml_sha256=spec.pmml_sha256,
    )


def test_a_window_per_thousand_sessions_and_an_alert_for_older_customers():
    seed = 21
    people = customers(6_000 + 2 * WINDOW, seed=seed, uuid_base=0)[6_000:]  # beyond the reference's rows
    for p in people[WINDOW:]:
        p["age"] += 5
    rng = random.Random(seed)
    demographic = [(1_000 + 10 * i, demographic_message(p, rng)) for i, p in enumerate(people)]
    historic = [(1_000 + 10 * i, historic_message(p, rng)) for i, p in enumerate(people)]

    served = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")
    spec, outputs = job_outputs(demographic, historic, FLAGS, reference=reference_for(served, seed))
    with outputs.model_monitoring.execute_and_collect() as results:
        records = [(row[0], json.loads(row[1])) for row in results]

    assert [key for key, _ in records] == [model_id(spec.name, spec.version)] * 2
    normal, older = (record for _, record in records)
    assert (normal["sessions"], older["sessions"]) == (WINDOW, WINDOW)
    assert normal["closed_by"] == older["closed_by"] == "sessions"
    assert normal["window"]["first_ms"] < older["window"]["first_ms"]
    flagged = [{name for name, f in r["fields"].items() if f["status"] in (WARN, ALERT)} for r in (normal, older)]
    assert flagged == [set(), {"age"}], [normal["fields"]["age"], older["fields"]["age"]]
    assert normal["status"] != ALERT and older["status"] == ALERT and older["fields"]["age"]["status"] == ALERT
    assert set(normal["fields"]) == set(FEATURES) and len(normal["fields"]["cat0"]) > 3
    assert 0 <= normal["score"]["shown_share"] <= 1 and normal["score"]["expected_shown_share"] is not None
    assert all(normal["fields"][f]["missing_share"] == 0 for f in PRODUCT_FIELDS)
