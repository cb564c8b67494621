"""The local A/B platform: runs the experiment against the live job and the local broker.

    python -m experiment.platform [--sessions N] [--set section.key=value ...]

It plays the part of silocompro.com's experimentation platform: customers arrive,
each is assigned to an arm by a salted hash of its uuid, the two enrichment pipelines
publish the session's halves to Kafka (independent delays, reordering, duplicates, now
and then a missing half), the original age/sex targeting decides for control customers
(pmml/baseline.pmml, scored here) and the job decides for treatment customers (read
from its prediction topic; a decision that misses the deadline counts as "don't show").
Each session's revenue is simulated (experiment/response.py) and the run stops at the
planned sample size, then the analysis and the report are written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import pandas as pd
from confluent_kafka import Producer

from contract.schema import DEMOGRAPHIC_FIELDS, LABEL, PRODUCT_FIELDS, feature_row
from experiment import analysis, planner, report
from experiment.arrivals import Schedule, schedule
from experiment.assignment import CONTROL, TREATMENT, arm_of
from experiment.config import ExperimentConfig, load_experiment
from experiment.response import ResponseModel, draw_outcomes, revenue, true_effect
from experiment.tokens import TokenCheck
from job.config import Config, ConfigError, load_config, parse_set_flags, read_token
from job.control import model_id
from job.decision import decide
from job.engines import open_scorer
from job.model import load_spec
from job.outputs import MODEL_NAME_HEADER, MODEL_VERSION_HEADER
from job.pmml import ModelError
from local import traffic

JOB, BASELINE, MISSING = "job", "baseline", "missing"
OBSERVE_EVERY_S = 0.5  # how often run() hands finished sessions to its observer


@dataclass
class Tally:
    """What the platform saw on the prediction topic, beyond the decisions it used."""

    job_decisions: int = 0
    missing: int = 0  # treatment sessions without a decision by the deadline
    after_deadline: int = 0  # decisions that arrived too late to be used
    duplicates: int = 0  # further decisions for a session already decided
    wrong_token: int = 0  # ignored: not from the job this experiment issued the token to
    unreadable: int = 0  # predictions that are not the contract's JSON
    latencies_ms: list[float] = field(default_factory=list)  # session start -> decision received
    job_latencies_ms: list[float] = field(default_factory=list)  # second half published -> decision received

    def as_dict(self) -> dict:
        summary = {k: v for k, v in asdict(self).items() if not k.endswith("latencies_ms")}
        for name, values in (("latency_ms", self.latencies_ms), ("job_latency_ms", self.job_latencies_ms)):
            values = np.array(values) if values else np.array([np.nan])
            summary.update({f"{name}_p{q}": float(np.nanpercentile(values, q)) for q in (50, 95, 99)})
        return summary


def visible_rows(customers: list[dict], plan: Schedule, join_timeout: float) -> list[dict]:
    """Each session's model input as the job sees it: a half never published, or published
    after the join timed out, is unknown (up to a few ms of processing at the boundary)."""
    rows = []
    for customer in customers:
        lost = plan.unseen_side(int(customer["uuid"]), join_timeout)
        demo = None if lost == traffic.DEMOGRAPHIC else {k: customer[k] for k in DEMOGRAPHIC_FIELDS}
        products = None if lost == traffic.HISTORIC else {k: customer[k] for k in PRODUCT_FIELDS}
        rows.append(feature_row(demo, products))
    return rows


def offline_decisions(pmml: Path, rows: list[dict], safe_default: int = 0) -> tuple[str, np.ndarray]:
    """The model's id (name:version) and its show (1) or not (0) per row, scored here with
    the same loader and checks as the job."""
    spec = load_spec(pmml, pmml.with_suffix(".json"))
    scorer = open_scorer(spec)
    try:
        probabilities = scorer.score_batch(rows)
    finally:
        scorer.close()
    return model_id(spec.name, spec.version), np.array(
        [decide(p, spec.threshold, safe_default) for p in probabilities], dtype=np.int8
    )


class Platform:
    def __init__(
        self,
        cfg: ExperimentConfig,
        job_cfg: Config,
        token: Union[str, TokenCheck],
        sessions: int,
        show_progress: bool = True,
    ):
        self.cfg, self.job_cfg = cfg, job_cfg
        self.token = token if isinstance(token, TokenCheck) else TokenCheck.of(token)
        self.plan = cfg.design.plan()
        self.sessions = sessions
        self.show_progress = show_progress
        # fresh uuids per run: no clash with join state that earlier runs left in the job
        uuid_base = int(time.time() * 1000) * 1000
        self.customers = traffic.customers(sessions, cfg.platform.seed, uuid_base)
        self.uuids = np.array([int(c["uuid"]) for c in self.customers])
        self.index = {int(u): i for i, u in enumerate(self.uuids)}
        self.arms = np.array([arm_of(u, cfg.design.treatment_share, cfg.design.salt) for u in self.uuids])
        self.schedule: Schedule = schedule(self.customers, cfg.platform.rate, cfg.enrichment, cfg.platform.seed)
        self.outcomes = draw_outcomes(cfg.response, np.array([c[LABEL] for c in self.customers]), cfg.platform.seed)
        self.decision = np.zeros(sessions, dtype=np.int8)
        self.source = np.full(sessions, "", dtype=object)
        # Which model version decided: the job's headers for treatment, the baseline's id
        # for control, "" for a treatment session nobody decided by the deadline.
        self.model = np.full(sessions, "", dtype=object)
        self.decided_at = np.full(sessions, np.nan)
        self.tally = Tally()
        self.deadline = cfg.platform.decision_deadline_ms / 1000
        self._looks: list[tuple[float, float]] = []  # (difference, its variance) at each progress line

    def prepare(self) -> None:
        """Both models' offline decisions: the control decisions, and the ground truth the
        job's decisions and the estimate are checked against."""
        rows = visible_rows(self.customers, self.schedule, self.job_cfg.join.timeout_ms / 1000)
        baseline_id, self.baseline = offline_decisions(self.cfg.platform.control_pmml, rows)
        _, self.model_offline = offline_decisions(self.job_cfg.model.pmml, rows)
        control = self.arms == CONTROL
        self.decision[control] = self.baseline[control]
        self.source[control] = BASELINE
        self.model[control] = baseline_id
        self.decided_at[control] = self.schedule.starts[control]  # the original system decides at once

    def connect(self) -> None:
        """The reader starts at the prediction topic's current end: whatever the job writes
        from now on is seen, earlier runs' decisions are not read again."""
        kafka = self.job_cfg.kafka
        self.reader = traffic.TopicReader(
            kafka.bootstrap_servers, kafka.topics.prediction, from_end=True, extra=kafka.security.librdkafka()
        )
        self.producer = Producer(kafka.client(**{"linger.ms": 2}))
        self.topics = {
            traffic.DEMOGRAPHIC: self.job_cfg.kafka.topics.demographic,
            traffic.HISTORIC: self.job_cfg.kafka.topics.historic,
        }

    def wait_for_job(
        self,
        timeout: float = 180.0,
        patient: bool = False,
        notice: Optional[Callable[[str], None]] = None,
        stop: Optional[threading.Event] = None,
    ) -> None:
        """Probe sessions until the job answers: sessions started before it serves would
        all miss their deadline and bias the treatment arm towards "don't show".

        ``patient``: an answer with another token is not the end, since the job with this
        experiment's token may be replacing the one that answered (``make submit TOKEN=...``);
        keep probing until ``timeout``, telling ``notice`` what was seen. Each probe uses a
        new uuid, because a job answers a session only once. Returns early once ``stop`` is set."""
        give_up = time.monotonic() + timeout
        probe = int(self.uuids[0]) - 1  # uuids below the experiment's own
        wrong = False
        while (left := give_up - time.monotonic()) > 0 and not (stop and stop.is_set()):
            body = traffic.wait_for_answer(
                self.job_cfg.kafka.bootstrap_servers,
                self.topics,
                self.reader,
                probe,
                left if not patient else min(left, 5.0),
                extra=self.job_cfg.kafka.security.librdkafka(),
            )
            probe -= 1
            if body is not None and self.token.matches(str(body.get("token"))):
                return
            wrong = wrong or body is not None
            if not patient:
                break
            if notice and body is not None:
                notice("a job answers, but with another token: submit it with this experiment's token")
        if stop and stop.is_set():
            return
        if wrong:
            raise PlatformError(
                "the job answers with a different token than this experiment's; "
                "submit it with the experiment's token (SILOCOMPRO_TOKEN[_FILE])"
            )
        raise PlatformError(
            f"no decision from the job on {self.job_cfg.kafka.topics.prediction} within "
            f"{timeout:.0f} s: is it running (make status) and reading "
            f"{self.job_cfg.kafka.bootstrap_servers}?"
        )

    def run(
        self, observer: Optional[Callable[[pd.DataFrame], None]] = None, stop: Optional[threading.Event] = None
    ) -> pd.DataFrame:
        """Publish on schedule, read decisions as they come, expire the overdue ones.

        ``observer`` receives finished sessions in start order, every ``OBSERVE_EVERY_S``:
        a session is handed over once it and every session that started before it are
        decided, so what an observer has kept is always every session started before some
        instant, whichever arm they are in. ``stop`` ends the run early; sessions still in
        flight then are never handed over."""
        pending = {int(u) for u in self.uuids[self.arms == TREATMENT]}
        due = iter(sorted(pending, key=lambda u: self.schedule.starts[self.index[u]]))
        next_due = next(due, None)
        messages, sent, observed = self.schedule.messages, 0, 0
        start, start_wall, last_shown, last_observed = time.monotonic(), time.time(), 0.0, 0.0
        self.started_wall = start_wall
        try:
            while (sent < len(messages) or pending) and not (stop and stop.is_set()):
                now = time.monotonic() - start
                while sent < len(messages) and messages[sent].at <= now:
                    traffic.send(self.producer, self.topics[messages[sent].message.side], messages[sent].message)
                    sent += 1
                self.producer.poll(0)
                for received, record in self.reader.poll(0.02):
                    self._take(record, received - start_wall, pending)
                while next_due is not None and self.schedule.starts[self.index[next_due]] + self.deadline <= now:
                    if next_due in pending:
                        pending.discard(next_due)
                        self._finish(next_due, 0, MISSING, self.schedule.starts[self.index[next_due]] + self.deadline)
                        self.tally.missing += 1
                    next_due = next(due, None)
                if self.show_progress and now - last_shown >= 1.0:
                    last_shown = now
                    self._progress(now)
                if observer and now - last_observed >= OBSERVE_EVERY_S:
                    last_observed = now
                    observed = self._observe(observer, observed, now)
        finally:
            self.close()
        if observer and not (stop and stop.is_set()):
            self._observe(observer, observed, math.inf)
        if self.show_progress:
            self._progress(time.monotonic() - start)
            print()
        return self.sessions_frame()

    def close(self) -> None:
        self.producer.flush(30)
        self.reader.close()

    def _take(self, record, at: float, pending: set[int]) -> None:
        body = _contract(record)
        if body is None:
            self.tally.unreadable += 1
            return
        uuid, value, token = body
        if uuid not in self.index:
            return  # another run's or another experiment's customer
        if not self.token.matches(token):
            self.tally.wrong_token += 1
            return
        i = self.index[uuid]
        if self.arms[i] == CONTROL:
            return  # the job decides for everybody; control customers get the original targeting
        if uuid not in pending:
            if self.source[i] == MISSING:
                self.tally.after_deadline += 1
            else:
                self.tally.duplicates += 1
            return
        pending.discard(uuid)
        if at > self.schedule.starts[i] + self.deadline:  # read before the expiry sweep reached it
            self._finish(uuid, 0, MISSING, self.schedule.starts[i] + self.deadline)
            self.tally.missing += 1
            self.tally.after_deadline += 1
            return
        self._finish(uuid, value, JOB, at)
        self.model[i] = decided_by(record)
        self.tally.job_decisions += 1
        self.tally.latencies_ms.append((at - self.schedule.starts[i]) * 1000)
        complete_at = self.schedule.complete_at(uuid)
        if complete_at is not None:
            self.tally.job_latencies_ms.append((at - complete_at) * 1000)

    def _finish(self, uuid: int, value: int, source: str, at: float) -> None:
        i = self.index[uuid]
        self.decision[i], self.source[i], self.decided_at[i] = value, source, at

    def _observe(self, observer: Callable[[pd.DataFrame], None], observed: int, now: float) -> int:
        """Hand the newly finished prefix of the sessions (in start order) to ``observer``."""
        started = int(np.searchsorted(self.schedule.starts, now, side="right"))
        undecided = np.flatnonzero(np.isnan(self.decided_at[observed:started]))
        finished = observed + (int(undecided[0]) if len(undecided) else started - observed)
        if finished > observed:
            observer(self.sessions_frame(observed, finished))
        return finished

    def _progress(self, now: float) -> None:
        started = int(np.searchsorted(self.schedule.starts, now))
        done = ~np.isnan(self.decided_at) & (np.arange(self.sessions) < started)
        frame = self.sessions_frame()[done]
        effect = ""
        per_arm = frame["arm"].value_counts()
        if min(per_arm.get(CONTROL, 0), per_arm.get(TREATMENT, 0)) >= 2:
            # Live numbers invite peeking, so the interval shown is the always-valid one.
            w = analysis.welch(
                frame.loc[frame.arm == CONTROL, "revenue"].to_numpy(),
                frame.loc[frame.arm == TREATMENT, "revenue"].to_numpy(),
                alpha=self.cfg.design.alpha,
                sided=self.cfg.design.sided,
            )
            self._looks.append((w.diff, w.se**2))
            diffs, variances = np.array(self._looks).T
            av = analysis.always_valid(diffs, variances, tau=self.cfg.design.mde, alpha=self.cfg.design.alpha)
            effect = (
                f" | effect {w.diff:+.2f} $, always-valid CI [{av.ci_lower[-1]:+.2f}, {av.ci_upper[-1]:+.2f}]"
                f" p {av.p_value[-1]:.2g}"
            )
        width = 24
        filled = int(width * min(started, self.sessions) / self.sessions)
        print(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {started:,}/{self.sessions:,} sessions"
            f" | control {per_arm.get(CONTROL, 0):,} treatment {per_arm.get(TREATMENT, 0):,}"
            f" | job {self.tally.job_decisions:,} missing {self.tally.missing:,}{effect}   ",
            end="",
            flush=True,
        )

    def sessions_frame(self, lo: int = 0, hi: Optional[int] = None) -> pd.DataFrame:
        """Sessions ``lo:hi`` in start order, one row each; times in seconds after the start.
        ``offline_decision`` and ``baseline_decision`` are what the new model (scored here)
        and the original targeting decide for the session: the simulation's ground truth."""
        part = slice(lo, hi)
        earned = revenue(self.cfg.response, self.outcomes, self.decision.astype(bool))
        return pd.DataFrame(
            {
                "uuid": self.uuids[part],
                "arm": self.arms[part],
                "started_at": self.schedule.starts[part],
                "decided_at": self.decided_at[part],
                "decision": self.decision[part],
                "source": self.source[part],
                "model": self.model[part],
                "missing_side": [self.schedule.missing_side.get(int(u), "") for u in self.uuids[part]],
                "buys_if_shown": self.outcomes.buys_if_shown[part],
                "pre_revenue": self.outcomes.pre_revenue[part],
                "revenue": earned[part],
                "offline_decision": self.model_offline[part],
                "baseline_decision": self.baseline[part],
            }
        )

    def ground_truth(self) -> dict:
        """What the simulation knows and a real experiment would not."""
        return {
            **frame_truth(self.sessions_frame(), self.cfg.response),
            "sessions_missing_a_half": len(self.schedule.missing_side),
            "sessions_with_a_half_after_the_join_timeout": sum(
                1
                for u in self.uuids
                if int(u) not in self.schedule.missing_side
                and self.schedule.unseen_side(int(u), self.job_cfg.join.timeout_ms / 1000)
            ),
        }


def frame_truth(sessions: pd.DataFrame, response: ResponseModel) -> dict:
    """The ground truth over any set of sessions (a resumed experiment spans several runs):
    the true average effect on these customers, and whether the job decided as the same
    model scored offline."""
    by_job = sessions[(sessions["arm"] == TREATMENT) & (sessions["source"] == JOB)]
    return {
        "true_effect": true_effect(
            response,
            sessions["buys_if_shown"].to_numpy(bool),
            sessions["offline_decision"].to_numpy(),
            sessions["baseline_decision"].to_numpy(),
        ),
        "job_vs_offline_disagreements": int((by_job["decision"] != by_job["offline_decision"]).sum()),
        "job_decisions_checked": len(by_job),
    }


def settings_of(cfg: ExperimentConfig) -> dict:
    """The experiment's settings as plain JSON, for result.json and the report."""
    return json.loads(json.dumps(asdict(cfg), default=str))


class PlatformError(RuntimeError):
    """The experiment cannot run; the message says what to do."""


def decided_by(record) -> str:
    """The model id (name:version) a prediction's Kafka headers name; "unnamed" for a job
    that writes none (older than the model lifecycle)."""
    names = traffic.headers(record)
    if MODEL_NAME_HEADER not in names:
        return "unnamed"
    return model_id(names[MODEL_NAME_HEADER], names.get(MODEL_VERSION_HEADER, ""))


def _contract(record) -> Optional[tuple[int, int, str]]:
    """(uuid, value, token) of a prediction that honours the contract, else None."""
    try:
        body = json.loads(record.value())
        uuid, value, token = body["uuid"], body["value"], body["token"]
    except (ValueError, TypeError, KeyError, RecursionError):
        return None
    ok = isinstance(uuid, int) and value in (0, 1) and isinstance(token, str)
    return (uuid, int(value), token) if ok else None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, help="run this many sessions instead of the planned sample size")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override conf/experiment.yaml (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)
    try:
        cfg = load_experiment(overrides=parse_set_flags(args.set))
        job_cfg = load_config()
        token = read_token(job_cfg)
        plan = cfg.design.plan()
    except (ConfigError, planner.PlanError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sessions = args.sessions or cfg.platform.sessions or plan.total
    print(
        f"planned sample: control {plan.n_control:,} + treatment {plan.n_treatment:,} = {plan.total:,} customers "
        f"(alpha {cfg.design.alpha}, power {cfg.design.power}, effect {cfg.design.mde} $, sd {cfg.design.sd} $)"
    )
    if sessions < plan.total:
        print(f"running {sessions:,} sessions only: a quick look, underpowered for the planned effect")
    platform = Platform(cfg, job_cfg, token, sessions, show_progress=not args.quiet)
    try:
        platform.prepare()
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    platform.connect()
    try:
        print(f"waiting for the job to answer on {job_cfg.kafka.topics.prediction} ...", flush=True)
        platform.wait_for_job()
    except PlatformError as err:
        print(f"error: {err}", file=sys.stderr)
        platform.close()
        return 2
    print(
        f"publishing to {job_cfg.kafka.bootstrap_servers} at {cfg.platform.rate:g} sessions/s; "
        f"decisions from {job_cfg.kafka.topics.prediction} (deadline {cfg.platform.decision_deadline_ms} ms)"
    )
    sessions_df = platform.run()
    out = cfg.platform.output_dir / time.strftime("%Y%m%dT%H%M%S")
    result = analysis.analyse(sessions_df, plan, srm_threshold=cfg.design.srm_p_value)
    summary = {
        "analysis": result.as_dict(),
        "platform": platform.tally.as_dict(),
        "ground_truth": platform.ground_truth(),
        "sessions": sessions,
        "config": settings_of(cfg),
    }
    written = report.write(out, sessions_df, result, summary)
    print("\n".join(analysis.summary_lines(result)))
    print("revenue by deciding model:")
    print("\n".join(report.by_model_lines(written["by_model"], plan.alpha)))
    t = platform.tally
    print(
        f"job decisions {t.job_decisions:,}, missing by the deadline {t.missing:,} (counted as not shown), "
        f"late {t.after_deadline:,}, duplicates {t.duplicates:,}, wrong token {t.wrong_token:,}; "
        f"latency from session start p50 {summary['platform']['latency_ms_p50']:.0f} ms, "
        f"p99 {summary['platform']['latency_ms_p99']:.0f} ms; from the second half's publication "
        f"p50 {summary['platform']['job_latency_ms_p50']:.0f} ms, "
        f"p99 {summary['platform']['job_latency_ms_p99']:.0f} ms"
    )
    truth = summary["ground_truth"]
    print(
        f"simulation's true effect {truth['true_effect']:+.3f} $/customer; job decisions that differ from an offline "
        f"scoring of the same model: {truth['job_vs_offline_disagreements']} of {truth['job_decisions_checked']:,}"
    )
    print(f"report: {out / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
