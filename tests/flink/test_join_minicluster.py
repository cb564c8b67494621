"""The job's logic in a real PyFlink MiniCluster (thread mode), fed by from_collection.

The join runs in event time, so the tests are deterministic without pacing: each side is
its own bounded source whose records carry the timestamps a Kafka record would (a
TimestampAssigner reads them from the element), and the join's watermark is the smaller
of the two sides'. When a bounded input ends its watermark jumps to the maximum, so every
event-time deadline still pending fires then ("never written" is decided at the end of
input), while processing-time timers pending at the end are dropped: the valve is
tested on an input that stands still before it ends. The state TTL is processing time
and is covered by the reliability suite (tests/support/edges.py).
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter

import pytest
from pyflink.common import Row

from contract.schema import feature_row
from job.config import load_config
from job.decision import decide
from job.engines import open_scorer
from job.inputs import Demographic, Historic, parse_demographic, parse_historic
from job.model import load_spec
from job.pipeline import keyed_row_type, source_watermarks
from tests.support.fixtures import FIXTURES
from tests.support.minicluster import TOKEN, demo, hist, job_outputs

TIMEOUT_MS = 1500
# Long enough that the valve never fires in the event-time tests, however slow the machine.
PATIENT = ["join.valve_ms=60000", "join.state_ttl_ms=120000"]
# Every scored session is not shown (threshold 1), every timed-out one is (the default 1):
# a decision's value says how the join decided it.
TELLING = ["join.on_timeout=default", "model.safe_default=1", "model.threshold=1.0"]


def run_job(demographic, historic, flags=(), stalls=None):
    """Returns the predictions, each with the time it was read, and the dead letters."""
    spec, outputs = job_outputs(demographic, historic, [f"join.timeout_ms={TIMEOUT_MS}", *flags], stalls)
    # A prediction's model columns (the Kafka headers) travel as the row's key here.
    labelled = outputs.prediction.map(lambda r: Row(f"{r[2]}:{r[3]}", r[1]), output_type=keyed_row_type())
    started = time.monotonic()
    with labelled.union(outputs.dead_letter).execute_and_collect() as results:
        rows = [(row[0], json.loads(row[1]), time.monotonic() - started) for row in results]
    assert {k for k, r, _ in rows if "token" in r} <= {f"{spec.name}:{spec.version}"}, "the model id on a decision"
    for _, r, _ in rows:
        assert "reason" in r or (set(r) == {"uuid", "value", "token"} and r["token"] == TOKEN)
    return [(r, at) for _, r, at in rows if "token" in r], [r for _, r, _ in rows if "reason" in r]


def values(predictions) -> dict[int, list[int]]:
    by_uuid: dict[int, list[int]] = {}
    for p, _ in predictions:
        by_uuid.setdefault(p["uuid"], []).append(p["value"])
    return by_uuid


def offline_value(scorer, threshold, demographic: bytes | None, historic: bytes | None) -> int:
    d = parse_demographic(demographic, 65536) if demographic else None
    h = parse_historic(historic, 65536) if historic else None
    row = feature_row(
        d.features() if isinstance(d, Demographic) else None, h.features() if isinstance(h, Historic) else None
    )
    return decide(scorer.score(row), threshold, 0)


@pytest.fixture(scope="module")
def scorer():
    opened = open_scorer(load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json"))
    yield opened
    opened.close()


def test_the_join_decides_from_the_halves_the_timestamps_pair(scorer):
    # uuid: the halves with their record timestamps, and what the decision must be made of.
    d1, h1 = demo(1, 25, 0, 1), hist(1, "cat36", "u8")
    d2, h2 = demo(2, 60), hist(2, "cat43")
    d3, h3_old, h3_new = demo(3, 22, 0, 1), hist(3, "cat27"), hist(3, "cat27", "cat72")
    d4 = demo(4, 35, 0, 1)
    h5, d5_late = hist(5, "cat36", "cat43", "u8"), demo(5, 30)
    d6, h6, d6_again = demo(6, 45), hist(6, "cat21"), demo(6, 50, 0, 1)
    demographic = [
        (0, d1),
        (400, d3),
        (0, d4),
        (150, b'{"uuid": 8, "age": 300, "man": 1, "woman": 0}'),
        (1800, d2),
        (0, d6),
        (100 + TIMEOUT_MS + 1, d5_late),
        (900, d6_again),
    ]
    historic = [(300, h2), (100, h5), (200, h3_old), (1000, h1), (150, b"[" * 5000), (300, h6), (300, h3_new)]
    expected_sources = {
        1: (d1, h1),  # demographic first by timestamp
        2: (d2, h2),  # historic first by timestamp, 1,500 ms apart: exactly the timeout
        3: (d3, h3_new),  # same side twice before the other: latest wins, one decision
        4: (d4, None),  # other side never written: timed out at the end of input
        5: (None, h5),  # other side written 1 ms beyond the timeout: timed out, the late half dropped
        6: (d6, h6),  # a half again after the join: dropped, one decision
    }
    rows = [
        feature_row(
            parse_demographic(d, 65536).features() if d else None, parse_historic(h, 65536).features() if h else None
        )
        for d, h in expected_sources.values()
    ]
    threshold = statistics.median(scorer.score(r) for r in rows)  # both decisions occur

    # Every historic half first (the demographic side held back 2 s), so each case meets its
    # halves in one known order: the decision must not depend on it.
    predictions, dead = run_job(
        demographic, historic, [f"model.threshold={threshold}", *PATIENT], stalls={"demographic": (0, 2.0)}
    )

    expected = {uuid: [offline_value(scorer, threshold, d, h)] for uuid, (d, h) in expected_sources.items()}
    assert values(predictions) == expected
    assert len(set(sum(expected.values(), []))) == 2, "scenario should produce both decisions"
    assert offline_value(scorer, threshold, d3, h3_old) != expected[3][0], "uuid 3 must tell its versions apart"
    assert sorted(d["reason"] for d in dead) == ["out_of_range", "too_deep"]
    assert {d["source_topic"] for d in dead} == {"topic_demographic", "topic_historic"}


def test_a_lagging_topic_changes_no_decision():
    # Every historic half reaches the join 3 s after all demographic ones, twice the timeout
    # of processing time: by their timestamps 20 sessions are complete (their halves up to
    # the timeout apart, either way), 10 have the other half beyond the timeout and 10 none.
    joined = [(u, (u - 100) * 75) for u in range(100, 120)]  # uuid, the other half's offset: 0..1,425 ms
    joined += [(120, TIMEOUT_MS), (121, -TIMEOUT_MS)]
    beyond = [(u, (-1) ** u * (TIMEOUT_MS + 1 + (u - 130) * 500)) for u in range(130, 140)]
    never = range(140, 150)
    demographic = [(10_000, demo(u)) for u, _ in joined + beyond] + [(10_000, demo(u)) for u in never]
    historic = [(10_000 + offset, hist(u, "cat1")) for u, offset in sorted(joined + beyond, key=lambda p: p[1])]

    predictions, _ = run_job(demographic, historic, [*TELLING, *PATIENT], stalls={"historic": (0, 3.0)})

    decided = values(predictions)
    assert decided == {**{u: [0] for u, _ in joined}, **{u: [1] for u, _ in beyond}, **{u: [1] for u in never}}
    assert Counter(v for vs in decided.values() for v in vs) == {0: 22, 1: 20}
    first_historic_read = min(at for p, at in predictions if p["uuid"] in dict(joined))
    assert first_historic_read > 3.0, "the historic side was held back"


def test_the_valve_decides_while_the_watermark_stands_still():
    # The demographic side stops (a pipeline down: its watermark holds) for 8 s before its
    # input ends; the valve (1 s) decides the waiting session meanwhile, the other is joined.
    demographic = [(0, demo(40)), (0, demo(41)), (0, None)]
    historic = [(0, hist(41, "cat1"))]
    flags = [*TELLING, "join.valve_ms=1000", "join.watermarks.idleness_ms=500", "join.state_ttl_ms=60000"]

    predictions, _ = run_job(demographic, historic, flags, stalls={"demographic": (2, 8.0)})

    assert values(predictions) == {40: [1], 41: [0]}
    read_at = {p["uuid"]: at for p, at in predictions}
    assert read_at[40] < read_at[41] + 8.0 - 1.0, "decided by the valve, before the end of input"


def test_both_halves_sources_are_aligned_and_the_control_source_has_no_watermarks():
    cfg = load_config(environ={})
    marks = cfg.join.watermarks
    for topic in (cfg.kafka.topics.demographic, cfg.kafka.topics.historic):
        alignment = source_watermarks(cfg, topic)._j_watermark_strategy.getAlignmentParameters()
        assert alignment.isEnabled() and alignment.getWatermarkGroup() == "session-halves"
        assert (alignment.getMaxAllowedWatermarkDrift(), alignment.getUpdateInterval()) == (
            marks.max_drift_ms,
            marks.alignment_update_ms,
        )
    control = source_watermarks(cfg, cfg.kafka.topics.model_control)._j_watermark_strategy
    assert not control.getAlignmentParameters().isEnabled()
