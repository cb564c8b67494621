"""Running the job's logic in a real PyFlink MiniCluster (thread mode) on bounded sources
whose records carry the timestamps a Kafka record would: shared by the tests in tests/flink."""

from __future__ import annotations

import json
import random
import time

from pyflink.common import Configuration, Types
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream.functions import MapFunction

from contract.schema import PRODUCT_FIELDS
from job.config import load_config, parse_set_flags
from job.model import load_spec
from job.outputs import to_wire
from job.pipeline import build_decisions, event_time, make_environment
from local.traffic import historic_message
from tests.support.fixtures import FIXTURES

SENTINEL = "__end__"
TOKEN = "test-token-123"


class RecordTimestamp(TimestampAssigner):
    """Elements are (timestamp ms, wire text): the timestamp is the Kafka record's."""

    def extract_timestamp(self, value, record_timestamp):
        return value[0]


class Stall(MapFunction):
    """Holds the element at ``index`` of its side for ``seconds`` of processing time, and
    everything behind it, records and watermarks alike."""

    def __init__(self, index: int, seconds: float):
        self.index, self.seconds, self.seen = index, seconds, 0

    def map(self, value):
        if self.seen == self.index:
            time.sleep(self.seconds)
        self.seen += 1
        return value


def demo(uuid, age=40, man=1, woman=0):
    return json.dumps({"uuid": uuid, "age": age, "man": man, "woman": woman}).encode()


def hist(uuid, *ones):
    """A history as the enrichment pipelines write it (every key, repeats), purchases ``ones``."""
    return historic_message({"uuid": uuid, **{k: int(k in ones) for k in PRODUCT_FIELDS}}, random.Random(uuid))


def job_outputs(demographic, historic, flags=(), stalls=None, reference=None):
    """The job's logic on bounded sources: each side a list of (record timestamp ms,
    payload) in arrival order; ``stalls`` maps a side ("demographic", "historic") to a
    Stall's (index, seconds), and a payload of None is a sentinel that is stalled on and
    then dropped. Returns (the model spec, the job's ``Outputs``)."""
    cfg = load_config(overrides=parse_set_flags(list(flags)), environ={})
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

    def source(side, elements):
        records = [(ms, SENTINEL if payload is None else to_wire(payload)) for ms, payload in elements]
        stream = env.from_collection(records, type_info=Types.TUPLE([Types.LONG(), Types.STRING()]))
        stream = stream.assign_timestamps_and_watermarks(
            event_time(cfg.join.watermarks).with_timestamp_assigner(RecordTimestamp())
        )
        if side in (stalls or {}):
            stream = stream.map(Stall(*stalls[side]), output_type=Types.TUPLE([Types.LONG(), Types.STRING()]))
        return stream.filter(lambda e: e[1] != SENTINEL).map(lambda e: e[1], output_type=Types.STRING())

    # No control messages: the configured model decides every session.
    return spec, build_decisions(
        source("demographic", demographic),
        source("historic", historic),
        source("control", []),
        cfg,
        spec,
        TOKEN,
        reference,
    )
