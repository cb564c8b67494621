"""Issue 16's six scenarios, measured its way, with the plain-consumer peer beside the job.

    python -m benchmarks --scenarios-only        (make bench BENCH_ARGS=--scenarios-only)

The job runs on a broker and a standalone cluster of the project's own
(local/stack.py: `local.broker up`, `local.cluster up`, `make submit`, on
private ports), with conf/job.yaml's settings and the committed model; the traffic is
the specification's shape, both halves of a session written back to back in random
order. The peer (benchmarks/peer.py) runs on the same broker and traffic where the
issue measured one (a fresh run at 300/s and flat out).

Per scenario: decision latency p50 / p99 (from the second half's publication to reading
the decision), sessions lost and duplicated, and two counts of sessions decided from one
half although both were written: ``half-only``, decisions that equal the demographic half
scored alone and differ from the whole session's (only sessions where the two differ can
show it), and the join's own ``timed out`` + ``valve`` counters (exact, but they restart
with the job after a failover). ``wrong``: decisions unlike the whole session's. For the
warm run at 300/s also the expected uplift over the original age/sex targeting
(experiment/response.py's ground truth), beside the same model's offline decisions.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np

from benchmarks.endtoend import DECISION, PEER, Drive, Running, Verdicts, drive, progress, wait_until_serving
from contract.schema import LABEL
from experiment.config import load_experiment
from experiment.platform import offline_decisions
from experiment.response import true_effect
from local.stack import ClusterJob, private_stack
from local.traffic import customers, plan_sessions, produce

TOKEN = "scenarios-token"
WARM_UP_SECONDS = 20.0  # after the job first answers, as in the issue
CLUSTER = "metrics.fetcher.update-interval: 500\n"  # REST metrics half a second old; the job's settings untouched
JOIN_COUNTERS = ("sessions_timed_out", "sessions_valve")
KILL_AFTER_SECONDS = 10.0


class Scenarios:
    """One cluster job and its prediction reader, and what each scenario's traffic gave."""

    def __init__(self, stack, verdicts: Verdicts):
        self.stack, self.verdicts = stack, verdicts
        self.job = ClusterJob(stack, [], prefix="scenarios", checkpoint_interval_ms=None)
        self.reader = self.job.reader("prediction")
        self.uuid_base = int(time.time() * 1000) * 1000
        self.seed = 0

    def people(self, n: int) -> list[dict]:
        self.seed += 1
        self.uuid_base += 10_000_000
        return customers(n, seed=300 + self.seed, uuid_base=self.uuid_base)

    def counters(self) -> dict[str, float]:
        return self.stack.flink.metrics(self.job.id, JOIN_COUNTERS)

    def paced(self, n: int, rate: Optional[float], idle: float = 20.0) -> tuple[list[dict], Drive, dict]:
        people = self.people(n)
        before = self.counters()
        result = drive(self.job, self.reader, DECISION, people, rate, self.seed, self.verdicts, idle)
        time.sleep(1.0)  # the counters' last update
        after = self.counters()
        return people, result, {name: after[name] - before[name] for name in JOIN_COUNTERS}


def figures(people: list[dict], result: Drive, verdicts: Verdicts, counters: Optional[dict] = None) -> dict:
    """A scenario's row (see the module's docstring)."""
    whole, alone = result.values, verdicts.of(people, historic=False)
    decided_at = np.array(result.sent_at) + np.array(result.latencies_ms) / 1000
    half_only = sum(1 for uuid, value in result.decisions.items() if value == alone[uuid] != whole[uuid])
    row = {
        "sessions": len(people),
        "decided": len(result.decisions),
        "lost": result.missing,
        "duplicates": result.duplicates,
        **result.percentiles(),
        "half_only": half_only,
        "distinguishable": sum(1 for uuid in whole if whole[uuid] != alone[uuid]),
        "wrong": result.mismatched,
        "sessions_per_s": len(result.decisions) / (decided_at.max() - min(result.sent_at))
        if result.sent_at
        else float("nan"),
    }
    if counters is not None:
        row["join_timed_out_or_valve"] = int(sum(counters.values()))
    return row


def uplift(people: list[dict], decisions: dict[int, int], whole: dict[int, int]) -> dict:
    """Expected $/customer over the original age/sex targeting: of the job's decisions and
    of the same model's offline ones (a lost session counts as not shown)."""
    experiment = load_experiment()
    _, baseline = offline_decisions(experiment.platform.control_pmml, Verdicts.rows(people))
    buys = np.array([bool(p[LABEL]) for p in people])
    uuids = [int(p["uuid"]) for p in people]
    return {
        name: true_effect(experiment.response, buys, np.array([shown.get(u, 0) for u in uuids]), baseline)
        for name, shown in (("job", decisions), ("offline", whole))
    }


def backlog(s: Scenarios, n: int) -> dict:
    """The job cancelled, ``n`` sessions written, the job submitted again (its group's
    committed offsets): how it catches up and what it decides."""
    s.job.cancel()
    deadline = time.monotonic() + 60
    while s.job.state() != "CANCELED" and time.monotonic() < deadline:
        time.sleep(0.5)
    people = s.people(n)
    plan = plan_sessions(people, s.seed, paired=True)
    produce(s.stack.bootstrap, s.job.sides(), plan.messages)
    whole, alone = s.verdicts.of(people), s.verdicts.of(people, historic=False)
    submitted = time.time()
    s.job.submit()
    decisions: dict[int, int] = {}
    written: list[float] = []
    duplicates, last_news = 0, time.monotonic() + 120
    while len(decisions) < n and time.monotonic() < last_news + 30:
        for _, record in s.reader.poll(0.5):
            last_news = time.monotonic()
            body = json.loads(record.value())
            if body["uuid"] not in whole:
                continue
            if body["uuid"] in decisions:
                duplicates += 1
                continue
            decisions[body["uuid"]] = body["value"]
            written.append(record.timestamp()[1] / 1000)
    time.sleep(1.0)
    counters = s.counters()
    return {
        "sessions": n,
        "decided": len(decisions),
        "lost": n - len(decisions),
        "duplicates": duplicates,
        "half_only": sum(1 for u, v in decisions.items() if v == alone[u] != whole[u]),
        "distinguishable": sum(1 for u in whole if whole[u] != alone[u]),
        "wrong": sum(1 for u, v in decisions.items() if v != whole[u]),
        "join_timed_out_or_valve": int(sum(counters.values())),
        "sessions_per_s": len(written) / (max(written) - min(written)) if len(written) > 1 else float("nan"),
        "first_decision_after_submit_s": min(written) - submitted if written else float("nan"),
    }


def taskmanager_kill(s: Scenarios, n: int, rate: float) -> dict:
    """A standby TaskManager registered, ``n`` sessions at ``rate``, the job's TaskManager
    SIGKILLed ``KILL_AFTER_SECONDS`` in: lost, duplicated and half-only sessions."""
    s.stack.module("local.cluster", "start-taskmanager")
    people = s.people(n)
    outcome: dict = {}
    sender = threading.Thread(
        target=lambda: outcome.update(
            result=drive(s.job, s.reader, DECISION, people, rate, s.seed, s.verdicts, idle=90.0)
        )
    )
    sender.start()
    time.sleep(KILL_AFTER_SECONDS)
    killed = s.stack.module("local.cluster", "kill-taskmanager", "--oldest").stdout.strip()
    sender.join()
    row = figures(people, outcome["result"], s.verdicts)
    return {**row, "killed": killed, "restarts": s.stack.flink.restarts(s.job.id)}


def peer(stack, workdir: Path, verdicts: Verdicts) -> dict:
    """The plain consumer on the same broker: a fresh run at 300/s and flat out."""
    running = Running(PEER, stack.bootstrap, workdir, [], verdicts)
    try:
        time.sleep(WARM_UP_SECONDS)
        base = int(time.time() * 1000) * 1000
        rows = {}
        for number, (name, n, rate) in enumerate((("fresh", 3000, 300.0), ("flat out", 10000, None))):
            people = customers(n, seed=900 + number, uuid_base=base + number * 10_000_000)
            rows[name] = figures(people, running.drive(people, rate, seed=900 + number), verdicts)
    finally:
        running.stop()
    return rows


def run(progress=progress) -> dict:
    verdicts = Verdicts(())
    with tempfile.TemporaryDirectory(prefix="scenarios-") as tmp:
        with private_stack(Path(tmp) / "run", TOKEN, CLUSTER) as stack:
            s = Scenarios(stack, verdicts)
            s.job.submit()
            started = wait_until_serving(s.job, s.reader, DECISION)
            progress(f"job serving {started:.0f} s after submission; {WARM_UP_SECONDS:.0f} s warm-up")
            time.sleep(WARM_UP_SECONDS)
            rows: dict[str, dict] = {}
            for name, n, rate in (
                ("3,000 at 300/s, fresh job", 3000, 300.0),
                ("6,000 at 300/s, warm job", 6000, 300.0),
                ("3,000 at 200/s", 3000, 200.0),
                ("flat out, 10,000", 10000, None),
            ):
                people, result, counters = s.paced(n, rate)
                rows[name] = figures(people, result, verdicts, counters)
                if name.startswith("6,000"):
                    rows[name]["uplift"] = uplift(people, result.decisions, result.values)
                progress(f"{name}: {line(rows[name])}")
            rows["backlog: cancelled, 3,000 written, submitted"] = backlog(s, 3000)
            progress(f"backlog: {line(rows['backlog: cancelled, 3,000 written, submitted'])}")
            rows["TaskManager SIGKILLed at 150/s, 6,000"] = taskmanager_kill(s, 6000, 150.0)
            progress(f"TaskManager kill: {line(rows['TaskManager SIGKILLed at 150/s, 6,000'])}")
            s.reader.close()
            s.job.cancel()
            progress("the plain-consumer peer on the same broker")
            peers = peer(stack, Path(tmp), verdicts)
    return {"job": rows, "peer": peers}


def line(row: dict) -> str:
    parts = [f"{row['decided']:,}/{row['sessions']:,} decided, lost {row['lost']}, duplicates {row['duplicates']}"]
    if "p50" in row:
        parts.append(f"p50 {row['p50']:,.0f} ms, p99 {row['p99']:,.0f} ms")
    parts.append(f"{row['sessions_per_s']:,.0f} sessions/s")
    parts.append(
        f"half-only {row['half_only']} of {row['distinguishable']} distinguishable "
        f"({row['half_only'] / max(row['decided'], 1):.1%} of decided)"
    )
    if "join_timed_out_or_valve" in row:
        parts.append(f"join timed out or valve {row['join_timed_out_or_valve']}")
    parts.append(f"wrong {row['wrong']}")
    if "uplift" in row:
        parts.append(
            f"uplift vs age/sex {row['uplift']['job']:+.2f} $/customer (offline {row['uplift']['offline']:+.2f})"
        )
    return "; ".join(parts)


def table(report: dict) -> str:
    lines = [f"{name}: {line(row)}" for name, row in report["job"].items()]
    lines += [f"peer, {name}: {line(row)}" for name, row in report["peer"].items()]
    return "\n".join(lines)
