"""The sink's broker goes away for a while: the job must hold back, not fail, and deliver
every decision once it is back.

The job reads from the suite's broker and writes to a second Kafka broker that it reaches only
through a local.proxy (kafka.sink_properties.bootstrap.servers; that broker advertises the
proxy's address). The test cuts the proxy for OUTAGE seconds in the middle of the traffic.
A small producer buffer (buffer.memory) makes the sink block within a second or two of
the cut; the test reads from the REST API that the operator in front of the sink then
takes no more input, and that once the network buffers between them are full the sources
are held back too. Those buffers hold records as the sources write them: parsed on the
JVM, some 40 bytes each, so some 17,000 records of each topic fit in the buffers between
a source and the join (Flink's defaults: ten 32 KB buffers a side of a channel). The
traffic is sized to fill them within the outage (measured: the two sources back-pressured
35 s in all during the 25 s outage; at the 400 sessions/s of parsing in Python, never).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from local.jobprocess import free_port
from local.proxy import TcpProxy
from local.traffic import customers, plan_sessions, produce
from tests.support.accounting import Row, Tally, decisions_by_uuid, tally
from tests.support.reliability import ROWS
from tests.support.timeline import Background, as_stream, read_until

pytestmark = pytest.mark.slow

SESSIONS, RATE = 36_000, 1_200  # 30 s of traffic: ~14 s of it fill the buffers of each source
# The cut comes once the sink has taken this many decisions (at least CUT_AT s in): a fresh
# job on a busy machine may need longer than CUT_AT to get going, and a cut before the sink
# writes anything would test nothing.
CUT_AT, CUT_AFTER_DECISIONS, OUTAGE = 3.0, 300, 25.0
# ~150 decisions fill it: the sink blocks ~1.5 s into the outage instead of ~40 s.
SINK_BUFFER = ["kafka.sink_properties.buffer.memory=16384", "kafka.sink_properties.batch.size=1024"]


@dataclass
class Run:
    tally: Tally
    back_pressured_ms: int  # what the source subtasks spent back-pressured during the outage
    join_input: list[int]  # records into the join so far, each second of the outage
    restarts: int
    state: str


@pytest.fixture(scope="module")
def sink_broker(stack, tmp_path_factory):
    """A Kafka broker of its own behind a proxy; yields (proxy, bootstrap through the proxy)."""
    port = free_port()
    proxy = TcpProxy("127.0.0.1", port).start()
    env = {
        "SILOCOMPRO_RUN_DIR": str(tmp_path_factory.mktemp("sink-broker")),
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "KAFKA_CONTROLLER_PORT": str(free_port()),
    }
    try:
        stack.module("local.broker", "up", "--advertise", f"127.0.0.1:{proxy.port}", env=env)
        yield proxy, f"127.0.0.1:{proxy.port}"
    finally:
        stack.module("local.broker", "down", env=env, check=False)
        proxy.close()


@pytest.fixture(scope="module")
def run(stack, new_job, sink_broker) -> Run:
    proxy, sink = sink_broker
    plan = plan_sessions(customers(SESSIONS, seed=31, uuid_base=90_000_000), seed=31)
    expected = {uuid: 1 for uuid in plan.complete}
    job = new_job(f"kafka.sink_properties.bootstrap.servers={sink}", *SINK_BUFFER, sink_bootstrap=sink)
    predictions = job.reader("prediction")
    job.submit()
    vertices = stack.flink.job(job.id)["vertices"]
    sources = [v["id"] for v in vertices if v["name"].startswith("Source:")]
    join = [v["id"] for v in vertices if v["name"].startswith("join sessions")]
    sinks = [v["id"] for v in vertices if "prediction[" in v["name"] and "Writer" in v["name"]]  # chained after scoring
    assert sinks, [v["name"] for v in vertices]
    stream = as_stream(plan.messages, seed=31)
    sender = Background(lambda: produce(stack.bootstrap, job.sides(), stream, rate=RATE))
    sender.start()

    time.sleep(CUT_AT)
    _wait_for(
        lambda: _subtask_total(stack.flink, job.id, sinks, "read-records") >= CUT_AFTER_DECISIONS,
        120,
        f"the scoring and prediction sink never took {CUT_AFTER_DECISIONS} sessions",
    )
    assert proxy.connections > 0, "the sink reaches its broker without the proxy: the cut would test nothing"
    cut_at = time.monotonic()
    before = _subtask_total(stack.flink, job.id, sources, "accumulated-backpressured-time")
    proxy.cut()
    join_input = []
    while time.monotonic() < cut_at + OUTAGE:
        join_input.append(_subtask_total(stack.flink, job.id, join, "read-records"))
        time.sleep(1)
    during = _subtask_total(stack.flink, job.id, sources, "accumulated-backpressured-time") - before
    proxy.restore()
    sender.join()
    decisions = read_until(predictions, lambda got: len(decisions_by_uuid(got)) >= len(expected), idle=45)
    predictions.close()

    result = Run(
        tally(expected, decisions_by_uuid(decisions)), during, join_input, stack.flink.restarts(job.id), job.state()
    )
    ROWS.append(
        Row(
            f"sink broker unreachable {OUTAGE:.0f} s",
            1,
            result.tally,
            0,
            0,
            result.restarts + (result.state != "RUNNING"),
        )
    )
    return result


def _subtask_total(flink, job_id: str, vertices: list[str], metric: str) -> int:
    """A running total the REST API keeps per subtask (records read, ms back-pressured)."""
    return sum(
        subtask["metrics"][metric]
        for vertex in vertices
        for subtask in flink.call(f"/jobs/{job_id}/vertices/{vertex}")["subtasks"]
    )


def _wait_for(condition, timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.5)


def longest_run(values: list[int]) -> int:
    """Samples in the longest stretch of equal consecutive values, minus one: seconds."""
    best = current = 0
    for previous, value in zip(values, values[1:]):
        current = current + 1 if value == previous else 0
        best = max(best, current)
    return best


def test_the_blocked_sink_holds_the_join_back(run):
    assert longest_run(run.join_input) >= OUTAGE / 3, run.join_input


def test_the_back_pressure_reaches_the_sources(run):
    assert run.back_pressured_ms > 0


def test_no_decision_is_lost_or_repeated(run):
    assert (run.tally.lost, run.tally.duplicated, run.tally.unexpected) == (0, 0, 0), run.tally


def test_the_job_rides_out_the_outage_without_failing(run):
    assert (run.state, run.restarts) == ("RUNNING", 0)
