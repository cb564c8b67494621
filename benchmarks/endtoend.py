"""Sessions through a private broker and the job, against the pass-through ceiling and a
plain-consumer peer.

    python -m benchmarks.endtoend [--parallelism 1 2] [--backlog-sessions 6000] [--seconds 30]

For each parallelism the decision job, the pass-through job (benchmarks/passthrough.py)
and the peer (benchmarks/peer.py: one Python process with confluent-kafka and pypmml, what
a user would write instead of Flink; always one process) run in turn as real processes
(local MiniCluster, thread mode, the committed model), on the same broker and traffic:

* sustained rate: paced loads of increasing rate (x1.3 per step from 300/s, 8 s each); a load is
  sustained when the latency does not trend upwards while it runs (slope of latency over
  publication time below 5 %: a job that falls behind by a share s of the offered rate
  shows a slope of s). The highest sustained rate is the job's capacity. A backlog drain
  is not used for it (it measures bursts of big fetches, which paced traffic never sees),
  only for CPU per session, after the ramp;
* latency at 25 %, 50 % and 90 % of the decision job's capacity and at TARGET_RATE (the
  issue's 300 sessions/s), sessions paced evenly,
  the two halves of a session published back to back: for the decision job from the
  second half's publication to the decision, for the pass-through from the historic
  half's publication to its echo (one output per session for both). Both jobs are
  driven at the same rates, so every figure can be read as a ratio to the ceiling. Each
  load runs on a fresh job with fresh topics, after a 5 s warm-up at its rate, and lasts
  three checkpoint intervals (``latency``);
* a backlog: sessions written before the job starts, then the job started; the catch-up
  rate is measured between its first and its last decision (``backlog``).

Every decision of the decision job and the peer is compared with the decision the model
makes from the whole session (all sessions have both halves, written back to back):
``mismatched`` counts the decisions that differ, e.g. a session decided from one half
because its other half was read too late. The pass-through decides nothing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from confluent_kafka import Producer

from contract.schema import DEMOGRAPHIC_FIELDS, PRODUCT_FIELDS, feature_row
from job.config import load_config, parse_set_flags
from job.decision import decide
from job.engines import open_scorer
from job.model import load_spec
from job.topic_reader import TopicReader
from local.jobprocess import JobProcess, PrivateBroker
from local.traffic import DEMOGRAPHIC, HISTORIC, customers, plan_sessions, send, wait_for_answer

DECISION, PASSTHROUGH, PEER = "decision", "passthrough", "peer"
KINDS = (DECISION, PASSTHROUGH, PEER)
MODULES = {DECISION: "job.main", PASSTHROUGH: "benchmarks.passthrough", PEER: "benchmarks.peer"}
LOADS = (0.25, 0.5, 0.9)
TARGET_RATE = 300.0  # sessions/s: the rate issue 16's latency target is stated at
MAX_LAG_SLOPE = 0.05
RAMP_START, RAMP_STEP, RAMP_SECONDS = 300.0, 1.3, 8.0
WARM_UP_SECONDS = 5.0
# Model monitoring's cost is measured on these variants: the share of sessions monitored
# (None: monitoring.enabled=false).
MONITORING = {"off": None, "sample 0.1": 0.1, "every session": 1.0}
MONITORING_REPEATS, MONITORING_SESSIONS = 3, 20_000
TOKEN = "bench-token"


@dataclass
class Drive:
    """What one load produced: outputs matched to the messages that caused them."""

    expected: int
    sent_at: list[float] = field(default_factory=list)  # wall time the causing message was published
    latencies_ms: list[float] = field(default_factory=list)
    duplicates: int = 0
    values: dict[int, int] = field(default_factory=dict)  # uuid -> the decision made from the whole session
    mismatched: int = 0  # decisions unlike the whole session's (not counted for the pass-through)
    decisions: dict[int, int] = field(default_factory=dict)  # uuid -> its first decision

    @property
    def missing(self) -> int:
        return self.expected - len(self.sent_at)

    def lag_slope(self) -> float:
        """Seconds of extra latency per second of load: ~0 when the job keeps up."""
        if len(self.sent_at) < 10:
            return float("inf")
        return float(np.polyfit(np.array(self.sent_at) - min(self.sent_at), np.array(self.latencies_ms) / 1000, 1)[0])

    def sustained(self) -> bool:
        return self.missing == 0 and self.lag_slope() < MAX_LAG_SLOPE

    def percentiles(self) -> dict[str, float]:
        values = np.array(self.latencies_ms) if self.latencies_ms else np.array([np.nan])
        return {f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}

    def timeline(self) -> list[list[float]]:
        """[second of the load, p50 ms, max ms] per second of publication time: shows
        whether a tail is a few pauses (checkpoints, GC) or a drift."""
        if not self.sent_at:
            return []
        seconds = (np.array(self.sent_at) - min(self.sent_at)).astype(int)
        latencies = np.array(self.latencies_ms)
        return [
            [
                int(s),
                round(float(np.percentile(latencies[seconds == s], 50)), 1),
                round(float(latencies[seconds == s].max()), 1),
            ]
            for s in np.unique(seconds)
        ]


class Verdicts:
    """The decision the model makes from a whole session, per customer: what every decision
    of the decision job and the peer is checked against."""

    def __init__(self, settings: tuple[str, ...]):
        cfg = load_config(overrides=parse_set_flags(list(settings)))
        self.spec = load_spec(cfg.model.pmml, cfg.model.metadata, cfg.model.threshold, "compiled")
        self.scorer, self.safe_default = open_scorer(self.spec), cfg.model.safe_default

    @staticmethod
    def rows(people: list[dict], historic: bool = True) -> list[dict]:
        """The model's input rows of ``people``'s sessions (``historic`` False: the
        demographic half alone, what a join that gave up on the other half scores)."""
        return [
            feature_row(
                {k: p[k] for k in DEMOGRAPHIC_FIELDS}, {k: int(p[k]) for k in PRODUCT_FIELDS} if historic else None
            )
            for p in people
        ]

    def of(self, people: list[dict], historic: bool = True) -> dict[int, int]:
        scores = self.scorer.score_batch(self.rows(people, historic)).tolist()
        return {
            int(p["uuid"]): decide(score, self.spec.threshold, self.safe_default) for p, score in zip(people, scores)
        }


def drive(
    job: JobProcess,
    reader: TopicReader,
    kind: str,
    people: list[dict],
    rate: Optional[float],
    seed: int,
    verdicts: Verdicts,
    idle: float = 20.0,
) -> Drive:
    """Publish ``people``'s sessions at ``rate`` sessions/s (None: as fast as possible) and
    collect the outputs until all arrived or nothing came for ``idle`` seconds."""
    messages = plan_sessions(people, seed, paired=True).messages
    result = Drive(expected=len(people), values={} if kind == PASSTHROUGH else verdicts.of(people))
    producer = Producer({"bootstrap.servers": job.bootstrap, "linger.ms": 1})
    topics = {DEMOGRAPHIC: job.topics["demographic"], HISTORIC: job.topics["historic"]}
    published: dict[tuple[int, int], float] = {}  # (uuid, 0 demographic / 1 historic) -> wall time
    seen: set[int] = set()
    start, sent, last_news = time.monotonic(), 0, time.monotonic()
    try:
        while len(seen) < result.expected and time.monotonic() - last_news < idle:
            due = len(messages) if rate is None else min(len(messages), int((time.monotonic() - start) * rate * 2) + 1)
            while sent < due:
                message = messages[sent]
                send(producer, topics[message.side], message)
                published[(message.uuid, 0 if message.side == DEMOGRAPHIC else 1)] = time.time()
                sent += 1
                last_news = time.monotonic()
            producer.poll(0)
            for received, record in reader.poll(0.005):
                last_news = time.monotonic()
                _match(record.value(), received, kind, published, seen, result)
    finally:
        producer.flush(10)
    return result


def _match(value: bytes, received: float, kind: str, published: dict, seen: set, result: Drive) -> None:
    body = json.loads(value)
    uuid = body["uuid"]
    if kind == PASSTHROUGH:  # the echo of the historic half
        sent_at = published.get((uuid, 1))
    else:
        sent_at = max(published.get((uuid, 0), np.nan), published.get((uuid, 1), np.nan))
    if sent_at is None or np.isnan(sent_at):
        return  # a probe or another run's output
    if uuid in seen:
        result.duplicates += 1
        return
    seen.add(uuid)
    result.decisions[uuid] = body.get("value")
    if uuid in result.values and body["value"] != result.values[uuid]:
        result.mismatched += 1
    result.sent_at.append(sent_at)
    result.latencies_ms.append((received - sent_at) * 1000)


def wait_until_serving(job: JobProcess, reader: TopicReader, kind: str, timeout: float = 180.0) -> float:
    """Probe sessions until the job answers; returns the seconds it took."""
    started = time.monotonic()
    topics = {DEMOGRAPHIC: job.topics["demographic"], HISTORIC: job.topics["historic"]}
    if wait_for_answer(job.bootstrap, topics, reader, 9_000_000_000_000, timeout) is None:
        raise RuntimeError(f"{kind} job gave no output within {timeout:.0f} s; log: {job.log}\n{job.output()[-2000:]}")
    return time.monotonic() - started


def job_process(kind: str, bootstrap: str, workdir: Path, flags: list[str]) -> JobProcess:
    """``kind``'s program on fresh topics."""
    return JobProcess(bootstrap, workdir, TOKEN, flags, module=MODULES[kind])


class Running:
    """A job process with one prediction reader for its whole life, opened before any
    traffic, so no load's decisions can be missed or re-read."""

    def __init__(self, kind: str, bootstrap: str, workdir: Path, flags: list[str], verdicts: Verdicts):
        self.kind, self.verdicts = kind, verdicts
        self.job = job_process(kind, bootstrap, workdir, flags)
        self.job.launch()
        self.reader = self.job.reader("prediction")
        try:
            self.startup = wait_until_serving(self.job, self.reader, kind)
        except Exception:
            self.stop()
            raise

    def drive(self, people: list[dict], rate: Optional[float], seed: int, idle: float = 20.0) -> Drive:
        return drive(self.job, self.reader, self.kind, people, rate, seed, self.verdicts, idle)

    def stop(self) -> None:
        self.reader.close()
        self.job.stop()


def progress(line: str) -> None:
    print(line, flush=True)


def capacity(
    kind: str,
    parallelism: int,
    bootstrap: str,
    workdir: Path,
    backlog_sessions: int,
    progress,
    flags: list[str],
    verdicts: Verdicts,
) -> dict:
    """The sustained rate of a paced ramp, then CPU per session from a burst, on one job:
    the ramp first, while its topics are new (CPU time per session hardly depends on how
    fast the broker answers)."""
    uuid_base = int(time.time() * 1000) * 1000
    job = Running(kind, bootstrap, workdir, flags, verdicts)
    try:
        progress(f"{kind} p{parallelism}: serving after {job.startup:.0f} s; ramp for the sustained rate")
        rate, ramp = sustained_rate(job, uuid_base + 500_000_000, progress)
        progress(f"{kind} p{parallelism}: a burst of {backlog_sessions:,} sessions")
        cpu_before = job.job.cpu_seconds()
        burst = job.drive(customers(backlog_sessions, seed=1, uuid_base=uuid_base), None, seed=1)
        cpu_ms = (job.job.cpu_seconds() - cpu_before) * 1000 / backlog_sessions
        progress(
            f"{kind} p{parallelism}: {cpu_ms:.2f} CPU ms per session (missing {burst.missing}, "
            f"mismatched {burst.mismatched})"
        )
        alive = job.job.alive()
    finally:
        job.stop()
    return {
        "kind": kind,
        "parallelism": parallelism,
        "startup_s": job.startup,
        "capacity": rate,
        "cpu_ms_per_session": cpu_ms,
        "ramp": ramp,
        "loads": [],
        "alive": alive,
        "mismatched": sum(step["mismatched"] for step in ramp) + burst.mismatched,
    }


def latency(
    kind: str,
    parallelism: int,
    broker: PrivateBroker,
    workdir: Path,
    rate: float,
    seconds: float,
    seed: int,
    progress,
    flags: list[str],
    verdicts: Verdicts,
) -> dict:
    """One paced load on a fresh job and fresh topics, after a warm-up at the same rate.

    Fresh, so that no load inherits another's history on the broker (the method
    dates from tansu, whose cost per fetch grew with a partition; benchmarks/broker.py
    checks the broker for that). Warmed up, because the first seconds of a job (JIT, first fetches,
    the first checkpoint) are
    not the steady state being compared."""
    uuid_base = int(time.time() * 1000) * 1000
    job = Running(kind, broker.bootstrap, workdir, flags, verdicts)
    try:
        job.drive(
            customers(max(int(rate * WARM_UP_SECONDS), 50), seed=seed + 1000, uuid_base=uuid_base),
            rate,
            seed=seed + 1000,
        )
        people = customers(max(int(rate * seconds), 50), seed=seed, uuid_base=uuid_base + 10_000_000)
        started, broker_cpu, job_cpu = time.monotonic(), broker.cpu_seconds(), job.job.cpu_seconds()
        run_ = job.drive(people, rate, seed=seed)
        cpu_ms = (job.job.cpu_seconds() - job_cpu) * 1000 / len(people)
        broker_cores = (broker.cpu_seconds() - broker_cpu) / (time.monotonic() - started)
        alive = job.job.alive()
    finally:
        job.stop()
    progress(
        f"{kind} p{parallelism}: {rate:,.0f} sessions/s -> latency ms "
        + " ".join(f"{k} {v:,.0f}" for k, v in run_.percentiles().items())
        + f"; {cpu_ms:.2f} CPU ms per session; mismatched {run_.mismatched}; broker {broker_cores:.2f} cores"
    )
    return {
        "rate": rate,
        "missing": run_.missing,
        "duplicates": run_.duplicates,
        "mismatched": run_.mismatched,
        "alive": alive,
        "broker_cores": broker_cores,
        "cpu_ms_per_session": cpu_ms,
        **run_.percentiles(),
        "timeline": run_.timeline(),
    }


def backlog(
    kind: str,
    parallelism: int,
    bootstrap: str,
    workdir: Path,
    sessions: int,
    progress,
    flags: list[str],
    verdicts: Verdicts,
) -> dict:
    """``sessions`` written before the job starts (each session's halves back to back), then
    the job started: how fast it catches up and what CPU it spends per session, from its
    first decision to its last (start-up excluded), and how many decisions it got wrong on
    the way."""
    people = customers(sessions, seed=7, uuid_base=int(time.time() * 1000) * 1000)
    job = job_process(kind, bootstrap, workdir, flags)
    job.send(plan_sessions(people, seed=7, paired=True))
    reader = job.reader("prediction")
    expected = {} if kind == PASSTHROUGH else verdicts.of(people)
    decided: dict[int, int] = {}
    written: list[float] = []  # when the job wrote each first decision (record CreateTime, s)
    cpu_first = float("nan")
    job.launch()
    try:
        last_news = time.monotonic() + 120  # start-up
        while len(decided) < sessions and time.monotonic() < last_news + 20:
            for _, record in reader.poll(0.5):
                last_news = time.monotonic()
                body = json.loads(record.value())
                if body["uuid"] not in decided:
                    if not decided:
                        cpu_first = job.cpu_seconds()
                    decided[body["uuid"]] = body["value"]
                    written.append(record.timestamp()[1] / 1000)
        cpu_ms = (job.cpu_seconds() - cpu_first) * 1000 / max(len(decided) - 1, 1)
        alive = job.alive()
    finally:
        reader.close()
        job.stop()
    span = max(written) - min(written) if len(written) > 1 else float("nan")
    mismatched = sum(1 for uuid, value in decided.items() if uuid in expected and value != expected[uuid])
    result = {
        "sessions": sessions,
        "decided": len(decided),
        "catch_up_sessions_per_s": len(written) / span,
        "cpu_ms_per_session": cpu_ms,
        "mismatched": mismatched,
        "alive": alive,
    }
    progress(
        f"{kind} p{parallelism}: backlog of {sessions:,}: {len(decided):,} decided at "
        f"{result['catch_up_sessions_per_s']:,.0f} sessions/s, {cpu_ms:.2f} CPU ms per session, "
        f"mismatched {mismatched}"
    )
    return result


def sustained_rate(running: Running, uuid_base: int, progress) -> tuple[float, list[dict]]:
    """The highest paced rate of the ramp the job keeps up with (see the module's docstring)."""
    rate, best, steps = RAMP_START, 0.0, []
    for step in range(40):
        people = customers(int(rate * RAMP_SECONDS), seed=100 + step, uuid_base=uuid_base + step * 10_000_000)
        run_ = running.drive(people, rate, seed=100 + step, idle=10.0)
        steps.append(
            {
                "rate": rate,
                "lag_slope": run_.lag_slope(),
                "missing": run_.missing,
                "mismatched": run_.mismatched,
                **run_.percentiles(),
            }
        )
        verdict = "" if run_.sustained() else f" (falls behind; {run_.missing} outputs missing)"
        progress(
            f"{running.kind}: {rate:,.0f} sessions/s: lag slope {run_.lag_slope():+.3f}, "
            f"p99 {run_.percentiles()['p99']:,.0f} ms{verdict}"
        )
        if not run_.sustained():
            break
        best, rate = rate, rate * RAMP_STEP
    return best, steps


@contextmanager
def private_broker():
    """A broker of the benchmark's own in a scratch directory (the jobs' work files too)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        broker = PrivateBroker(Path(tmp) / "kafka")
        try:
            yield broker, Path(tmp)
        finally:
            broker.stop()


def run(
    parallelisms=(1, 2),
    backlog_sessions: int = 6000,
    seconds: float = 30.0,
    progress=progress,
    settings: tuple[str, ...] = (),
    monitoring_repeats: int = MONITORING_REPEATS,
    monitoring_sessions: int = MONITORING_SESSIONS,
) -> dict:
    """``settings``: ``section.key=value`` overrides given to every job. The jobs take turns
    load by load, so a change in what else the machine does hits them alike. The peer is
    one process whatever the parallelism, so it runs once, with the first parallelism;
    model monitoring's cost is measured once, at parallelism 1 (``monitoring_run``)."""
    verdicts = Verdicts(settings)
    with private_broker() as (broker, workdir):
        results = []
        for parallelism in parallelisms:
            kinds = KINDS if parallelism == parallelisms[0] else (DECISION, PASSTHROUGH)
            flags = [f"flink.parallelism={parallelism}", *settings]
            jobs = {
                kind: capacity(
                    kind, parallelism, broker.bootstrap, workdir, backlog_sessions, progress, flags, verdicts
                )
                for kind in kinds
            }
            # a job that keeps up with no step of the ramp is loaded relative to the first step
            base = max(jobs[DECISION]["capacity"], RAMP_START)
            rates = [base * share for share in LOADS] + [TARGET_RATE]
            for number, rate in enumerate(rates):
                for kind in kinds:
                    jobs[kind]["loads"].append(
                        latency(
                            kind, parallelism, broker, workdir, rate, seconds, 2 + number, progress, flags, verdicts
                        )
                    )
            for kind in kinds:
                jobs[kind]["backlog"] = backlog(
                    kind, parallelism, broker.bootstrap, workdir, backlog_sessions, progress, flags, verdicts
                )
            for job in jobs.values():
                job["alive"] = (
                    job["alive"] and job["backlog"].pop("alive") and all(load.pop("alive") for load in job["loads"])
                )
            results.append(
                {
                    "parallelism": parallelism,
                    **jobs,
                    "ratios": ratios(jobs[DECISION], jobs[PASSTHROUGH]),
                    **({"peer_ratios": ratios(jobs[DECISION], jobs[PEER])} if PEER in jobs else {}),
                }
            )
        monitoring = monitoring_run(
            broker.bootstrap, workdir, progress, settings, monitoring_repeats, monitoring_sessions, verdicts
        )
    return {
        "runs": results,
        "monitoring": monitoring,
        "backlog_sessions": backlog_sessions,
        "seconds_per_load": seconds,
        "warm_up_seconds": WARM_UP_SECONDS,
        "target_rate": TARGET_RATE,
        "settings": list(settings),
    }


def monitoring_run(
    bootstrap: str,
    workdir: Path,
    progress,
    settings: tuple[str, ...] = (),
    repeats: int = MONITORING_REPEATS,
    sessions: int = MONITORING_SESSIONS,
    verdicts: Optional[Verdicts] = None,
) -> dict:
    """Model monitoring's cost, at parallelism 1: the catch-up rate of a backlog (the job
    saturated, so the rate is its throughput) and its CPU per session, with monitoring off,
    on the default tenth of the sessions and on every session. The variants take turns,
    ``repeats`` rounds in rotated orders, each drain on a fresh job and topics, so neither
    a slow minute of the machine nor a drift over the run (the broker's growing log) falls
    on one variant; the cost is read per round, as the ratio to that round's drain without
    monitoring. Finer than the ramp, whose ×1.3 steps are
    coarser than the cost being measured."""
    verdicts = verdicts or Verdicts(settings)
    flags = ["flink.parallelism=1", *settings]
    rounds, names = [], list(MONITORING)
    for number in range(repeats):
        order = names[number % len(names) :] + names[: number % len(names)]  # each variant goes first once
        progress(f"model monitoring's cost: round {number + 1} of {repeats} ({', '.join(order)})")
        rounds.append(
            {
                name: backlog(
                    DECISION,
                    1,
                    bootstrap,
                    workdir,
                    sessions,
                    progress,
                    flags + monitoring_flags(MONITORING[name]),
                    verdicts,
                )
                for name in order
            }
        )
    return {"sessions": sessions, "rounds": rounds, "cost": monitoring_cost(rounds)}


def monitoring_flags(sample: Optional[float]) -> list[str]:
    return ["monitoring.enabled=false"] if sample is None else [f"monitoring.sample={sample}"]


def monitoring_cost(rounds: list[dict]) -> dict:
    """Per monitored variant: its throughput and CPU per session as ratios to the same
    round's drain without monitoring (median, lowest and highest over the rounds).

    Drains vary by tens of percent from one to the next, more than a tenth's cost, so the
    cost of a partial sample is also derived from the full one: an unsampled session costs
    monitoring one random draw, a sampled one all the rest (the sample, its side output,
    the monitor operator, its share of the window closes), so the cost is linear in the
    sample: ``sample x (1 - throughput ratio of every session)``."""
    cost = {"off_sessions_per_s": float(np.median([r["off"]["catch_up_sessions_per_s"] for r in rounds]))}
    for name in MONITORING:
        if name == "off":
            continue
        for figure, key in (("throughput", "catch_up_sessions_per_s"), ("cpu_per_session", "cpu_ms_per_session")):
            ratios_ = [r[name][key] / r["off"][key] for r in rounds]
            cost[f"{name}: {figure}"] = {"median": float(np.median(ratios_)), "low": min(ratios_), "high": max(ratios_)}
    full = cost["every session: throughput"]
    for name, sample in MONITORING.items():
        if sample is not None and sample < 1.0:
            cost[f"{name}: throughput cost from every session's"] = {
                k: sample * (1 - full[k]) for k in ("median", "low", "high")
            }
    return cost


def monitoring_line(cost: dict) -> str:
    parts = [f"off {cost['off_sessions_per_s']:,.0f} sessions/s"]
    for name, sample in MONITORING.items():
        if sample is None:
            continue
        t, c = cost[f"{name}: throughput"], cost[f"{name}: cpu_per_session"]
        text = (
            f"{name}: throughput x{t['median']:.3f} (x{t['low']:.3f}-x{t['high']:.3f}), "
            f"CPU per session x{c['median']:.3f}"
        )
        derived = cost.get(f"{name}: throughput cost from every session's")
        if derived:
            text += f", cost from every session's {derived['median']:.1%} ({derived['high']:.1%}-{derived['low']:.1%})"
        parts.append(text)
    return "; ".join(parts)


def wrong(job: dict) -> int:
    """A program's decisions unlike the whole session's, over its ramp, burst, loads and backlog."""
    return job["mismatched"] + job["backlog"]["mismatched"] + sum(load["mismatched"] for load in job["loads"])


def load_names() -> list[str]:
    return [f"{int(share * 100)}pct" for share in LOADS] + [f"{TARGET_RATE:.0f}_per_s"]


def ratios(decision: dict, other: dict) -> dict:
    """Decision job / the other (pass-through or peer): throughput and catch-up (higher is
    better), CPU and latency (lower is better)."""
    out = {
        "capacity": decision["capacity"] / other["capacity"] if other["capacity"] else float("nan"),
        "cpu_per_session": decision["cpu_ms_per_session"] / other["cpu_ms_per_session"],
        "catch_up": decision["backlog"]["catch_up_sessions_per_s"] / other["backlog"]["catch_up_sessions_per_s"],
    }
    for name, mine, theirs in zip(load_names(), decision["loads"], other["loads"]):
        for q in ("p50", "p95", "p99"):
            out[f"{q}_at_{name}"] = mine[q] / theirs[q]
    return out


def table(report: dict) -> str:
    lines = [
        f"{'job':<13}{'p':>2}{'sessions/s':>12}{'catch-up/s':>11}{'CPU ms/s.':>10}{'wrong':>7}   "
        "latency ms p50 / p95 / p99 at 25 %, 50 %, 90 % of the decision job's capacity and at "
        f"{TARGET_RATE:.0f}/s (decision: p99 x pass-through, x peer)"
    ]
    for run_ in report["runs"]:
        for kind in KINDS:
            if kind not in run_:
                continue
            r = run_[kind]
            cells = []
            for name, load in zip(load_names(), r["loads"]):
                text = f"{load['rate']:,.0f}/s: {load['p50']:,.0f} / {load['p95']:,.0f} / {load['p99']:,.0f}"
                if kind == DECISION:
                    text += f" (x{run_['ratios'][f'p99_at_{name}']:.2f}"
                    text += f", x{run_['peer_ratios'][f'p99_at_{name}']:.2f})" if "peer_ratios" in run_ else ")"
                cells.append(text)
            wrongs = "-" if kind == PASSTHROUGH else str(wrong(r))
            lines.append(
                f"{kind:<13}{r['parallelism']:>2}{r['capacity']:>12,.0f}"
                f"{r['backlog']['catch_up_sessions_per_s']:>11,.0f}{r['cpu_ms_per_session']:>10.2f}"
                f"{wrongs:>7}   " + "; ".join(cells)
            )
        for name in ("ratios", "peer_ratios"):
            if name in run_:
                other = PASSTHROUGH if name == "ratios" else PEER
                r = run_[name]
                lines.append(
                    f"  decision p{run_['parallelism']} / {other}: sustained x{r['capacity']:.2f}, "
                    f"catch-up x{r['catch_up']:.2f}, CPU per session x{r['cpu_per_session']:.2f}"
                )
    lines.append(
        "  model monitoring (decision p1, backlog drains in turns): " + monitoring_line(report["monitoring"]["cost"])
    )
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backlog-sessions", type=int, default=6000)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each latency load")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a job setting for every job, e.g. flink.properties.execution.buffer-timeout.interval=5ms",
    )
    args = parser.parse_args(argv)
    print(table(run(args.parallelism, args.backlog_sessions, args.seconds, settings=tuple(args.set))))


if __name__ == "__main__":
    main()
