"""The job's logic in a real PyFlink MiniCluster (thread mode), fed by from_collection.

Processing-time timers still pending when a bounded source ends are dropped, so the
source is paced: a map sleeps until each element's offset from the start, and a final
sentinel keeps the input open until every deadline and TTL in the scenario has passed.
Every decision is compared with an offline pypmml scoring of the halves that the join
should have used.
"""
from __future__ import annotations

import json
import random
import statistics
import time

import pytest
from pyflink.common import Configuration, Row, Types
from pyflink.datastream.functions import MapFunction

from job.config import load_config, parse_set_flags
from job.decision import decide
from job.local.traffic import historic_message
from job.messages import to_wire
from job.model import load_spec, open_scorer
from job.pipeline import build_decisions, keyed_row_type, make_environment
from job.records import Demographic, Historic, parse_demographic, parse_historic
from job.schema import PRODUCT_FIELDS, feature_row
from tests.conftest import FIXTURES

TIMEOUT_MS, TTL_MS = 1500, 4000
SENTINEL = "__end__"
TOKEN = "test-token-123"


class Pace(MapFunction):
    def open(self, runtime_context):
        self.start = time.monotonic()

    def map(self, value):
        offset_ms, side, text = value
        delay = self.start + offset_ms / 1000 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return side, text


def demo(uuid, age=40, man=1, woman=0):
    return json.dumps({"uuid": uuid, "age": age, "man": man, "woman": woman}).encode()


def hist(uuid, *ones):
    """A history as the enrichment pipelines write it (every key, repeats), purchases ``ones``."""
    return historic_message({"uuid": uuid, **{k: int(k in ones) for k in PRODUCT_FIELDS}}, random.Random(uuid))


def run_job(demographic, historic, end_ms, extra_flags=()):
    flags = [f"join.timeout_ms={TIMEOUT_MS}", f"join.state_ttl_ms={TTL_MS}", *extra_flags]
    cfg = load_config(overrides=parse_set_flags(flags), environ={})
    spec = load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json", cfg.model.threshold)
    env = make_environment(cfg)
    # execute_and_collect runs PyFlink's Python-operator chaining optimizer a second time,
    # which duplicates the operators' uids ("Hash collision on user-specified ID");
    # env.execute, the production path, runs it once. Same operators, not fused.
    # A failing test job must fail the test, not restart forever.
    test_settings = Configuration()
    test_settings.set_string("python.operator-chaining.enabled", "false")
    test_settings.set_string("restart-strategy.type", "none")
    env.configure(test_settings)

    # One paced source for both sides, split afterwards: both sides share one clock, so
    # "arrives 500 ms after the TTL expired" means exactly that.
    elements = sorted([(ms, 0, to_wire(p)) for ms, p in demographic] + [(ms, 1, to_wire(p)) for ms, p in historic])
    elements.append((end_ms, 0, SENTINEL))
    paced = env.from_collection(elements, type_info=Types.TUPLE([Types.INT(), Types.INT(), Types.STRING()])).map(
        Pace(), output_type=Types.TUPLE([Types.INT(), Types.STRING()]))

    def source(side):
        return paced.filter(lambda e: e[0] == side and e[1] != SENTINEL).map(lambda e: e[1], output_type=Types.STRING())

    # No control messages: the configured model decides every session.
    outputs = build_decisions(source(0), source(1), source(2), cfg, spec, TOKEN)
    # A prediction's model columns (the Kafka headers) travel as the row's key here.
    labelled = outputs.prediction.map(lambda r: Row(f"{r[2]}:{r[3]}", r[1]), output_type=keyed_row_type())
    with labelled.union(outputs.dead_letter).execute_and_collect() as results:
        rows = [(row[0], json.loads(row[1])) for row in results]
    assert {k for k, r in rows if "token" in r} <= {f"{spec.name}:{spec.version}"}, "the model id on a decision"
    return [r for _, r in rows if "token" in r], [r for _, r in rows if "reason" in r]


def offline_value(scorer, threshold, demographic: bytes | None, historic: bytes | None) -> int:
    d = parse_demographic(demographic, 65536) if demographic else None
    h = parse_historic(historic, 65536) if historic else None
    row = feature_row(d.features() if isinstance(d, Demographic) else None,
                      h.features() if isinstance(h, Historic) else None)
    return decide(scorer.score(row), threshold, 0)


@pytest.fixture(scope="module")
def scorer():
    opened = open_scorer(load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json"))
    yield opened
    opened.close()


def test_join_orders_duplicates_timeouts_and_ttl(scorer):
    # uuid: what arrives when (ms from start), and what the decision(s) must be made of.
    d1, h1 = demo(1, 25, 0, 1), hist(1, "cat36", "u8")
    d2, h2 = demo(2, 60), hist(2, "cat43")
    d3_old, d3_new, h3 = demo(3, 22, 0, 1), demo(3, 80, 1, 0), hist(3, "cat27", "cat72")
    d4 = demo(4, 35, 0, 1)
    h5, d5_late = hist(5, "cat36", "cat43", "u8"), demo(5, 30)
    d6, h6, d6_again, h6_again = demo(6, 45), hist(6, "cat21"), demo(6, 45), hist(6, "cat36")
    h7, d7_after_ttl = hist(7, "cat18", "cat36"), demo(7, 50, 0, 1)
    demographic = [(0, d1), (0, d3_old), (0, d4), (0, d6), (150, b'{"uuid": 8, "age": 300, "man": 1, "woman": 0}'),
                   (200, d3_new), (300, d2), (2500, d5_late), (7500, d6_again), (7500, d7_after_ttl)]
    historic = [(0, h2), (0, h5), (0, h7), (100, h1), (150, b"[" * 5000), (300, h6), (400, h3),
                (7600, h6_again)]
    expected_sources = {
        1: [(d1, h1)],            # demographic first
        2: [(d2, h2)],            # historic first
        3: [(d3_new, h3)],        # same side twice: latest wins, one decision
        4: [(d4, None)],          # only one side ever: timeout decision from what is known
        5: [(None, h5)],          # other side after the timeout, within TTL: late, dropped
        6: [(d6, h6), (d6_again, h6_again)],  # the uuid returns after the TTL: a new session
        7: [(None, h7), (d7_after_ttl, None)],  # second side after the TTL: a new session
    }
    rows = [feature_row(parse_demographic(d, 65536).features() if d else None,
                        parse_historic(h, 65536).features() if h else None)
            for sessions in expected_sources.values() for d, h in sessions]
    threshold = statistics.median(scorer.score(r) for r in rows)  # both decisions occur

    predictions, dead = run_job(demographic, historic, end_ms=10500, extra_flags=[f"model.threshold={threshold}"])

    by_uuid: dict[int, list[int]] = {}
    for p in predictions:
        assert set(p) == {"uuid", "value", "token"} and p["token"] == TOKEN
        by_uuid.setdefault(p["uuid"], []).append(p["value"])
    expected = {uuid: [offline_value(scorer, threshold, d, h) for d, h in sessions]
                for uuid, sessions in expected_sources.items()}
    assert {u: sorted(v) for u, v in by_uuid.items()} == {u: sorted(v) for u, v in expected.items()}
    assert len(set(sum(expected.values(), []))) == 2, "scenario should produce both decisions"
    assert sorted(d["reason"] for d in dead) == ["out_of_range", "too_deep"]
    assert {d["source_topic"] for d in dead} == {"topic_demographic", "topic_historic"}


def test_timeout_with_safe_default_skips_the_model():
    predictions, _ = run_job([(0, demo(11)), (0, demo(12))], [(0, hist(12, "cat1"))], end_ms=4500,
                             extra_flags=["join.on_timeout=default", "model.safe_default=1", "model.threshold=1.0"])
    values = {p["uuid"]: p["value"] for p in predictions}
    # threshold 1.0: a scored session is never shown; the timed-out one gets the default 1
    assert values == {11: 1, 12: 0}
