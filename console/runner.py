"""Runs one experiment at a time on the local platform, in a background thread, and
records every finished session as it goes.

Resuming: the platform hands sessions over in start order, a session only once it and
all earlier ones are decided (Platform.run), so what is recorded is always every session
started before some instant, in both arms alike. When a run stops (Stop, or the console
ends), the sessions still in flight are dropped, and a later Start runs the remaining
``planned - recorded`` sessions with new customers (the next seed, fresh uuids, the
experiment's own assignment salt). Dropping a whole time slice, never one arm's share of
it, keeps the split and the analysis honest across restarts.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Optional

import pandas as pd
from confluent_kafka import KafkaException

from console.store import ANALYSING, DONE, FAILED, INTERRUPTED, RUNNING, STARTABLE, WAITING, Experiment, Store
from experiment import analysis, report
from experiment.config import Design, ExperimentConfig
from experiment.platform import Platform, PlatformError, frame_truth, settings_of
from experiment.tokens import TokenCheck
from job.config import Config
from job.pmml import ModelError

log = logging.getLogger(__name__)
SUBMIT_HINT = "run `make submit TOKEN=<the token shown at creation>` if the job is not running yet"
WAITING_FOR_JOB = f"waiting for the job to answer with this experiment's token; {SUBMIT_HINT}"
TALLY_COUNTS = ("job_decisions", "missing", "after_deadline", "duplicates", "wrong_token", "unreadable")


class Busy(RuntimeError):
    """Another experiment is running: the job answers with one token at a time."""


class Runner:
    def __init__(self, store: Store, cfg: ExperimentConfig, job_cfg: Config, reports, job_wait_s: float):
        self.store, self.cfg, self.job_cfg = store, cfg, job_cfg
        self.reports, self.job_wait_s = reports, job_wait_s
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self.active: Optional[int] = None

    def start(self, experiment: Experiment) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise Busy(f"experiment {self.active} is running; stop it first")
            if experiment.state not in STARTABLE:
                raise ValueError(f"experiment {experiment.id} is {experiment.state}")
            self._stop.clear()
            self.active = experiment.id
            self.store.set_state(experiment.id, WAITING, WAITING_FOR_JOB)  # what to do, before any work
            self._thread = threading.Thread(
                target=self._run, args=(experiment,), name=f"experiment-{experiment.id}", daemon=True
            )
            self._thread.start()

    def stop(self, experiment_id: int, wait: float = 0.0) -> bool:
        """Ask the running experiment to stop; what was recorded stays. False if it was not running."""
        thread = self._thread
        if self.active != experiment_id or thread is None or not thread.is_alive():
            return False
        self._stop.set()
        thread.join(wait)
        return True

    def _run(self, experiment: Experiment) -> None:
        store, experiment_id = self.store, experiment.id
        try:
            recorded = store.count(experiment_id)
            remaining = experiment.plan.total - recorded
            if remaining > 0 and not self._traffic(experiment, remaining):
                return
            self.finish(experiment)
        except (PlatformError, ModelError) as err:
            store.set_state(experiment_id, FAILED, str(err))
        except KafkaException as err:
            store.set_state(
                experiment_id,
                FAILED,
                f"cannot reach Kafka at {self.job_cfg.kafka.bootstrap_servers} "
                f"({err}): is the broker running (make status)?",
            )
        except Exception as err:  # the thread must leave a state the page can explain
            log.exception("experiment %s failed", experiment_id)
            store.set_state(experiment_id, FAILED, f"unexpected error: {type(err).__name__}: {err}")

    def _traffic(self, experiment: Experiment, remaining: int) -> bool:
        """One run of the platform for the remaining sessions; False if it was stopped."""
        store, experiment_id = self.store, experiment.id
        run_index = len(store.runs(experiment_id))
        cfg = experiment_config(self.cfg, experiment, run_index)
        platform = Platform(cfg, self.job_cfg, TokenCheck(experiment.token_sha256), remaining, show_progress=False)
        # The job's answer first: it is what the user may still have to provide, and the
        # offline scoring (seconds) is wasted if it never comes.
        platform.connect()
        try:
            platform.wait_for_job(
                self.job_wait_s,
                patient=True,
                stop=self._stop,
                notice=lambda message: store.set_state(experiment_id, WAITING, f"{message}: {SUBMIT_HINT}"),
            )
            if not self._stop.is_set():
                store.set_state(
                    experiment_id,
                    WAITING,
                    "the job answers; scoring both models offline for the simulation's ground truth",
                )
                platform.prepare()
        except (PlatformError, ModelError):
            platform.close()
            raise
        if self._stop.is_set():
            platform.close()
            store.set_state(experiment_id, INTERRUPTED, "stopped before any session was sent")
            return False
        run_id = store.add_run(experiment_id, cfg.platform.seed, remaining)
        store.set_state(experiment_id, RUNNING, f"publishing {remaining:,} sessions")

        def record(frame: pd.DataFrame) -> None:
            at = frame.assign(
                started_at=frame["started_at"] + platform.started_wall,
                decided_at=frame["decided_at"] + platform.started_wall,
            )
            store.add_sessions(experiment_id, run_id, at)
            store.update_run(run_id, platform.tally.as_dict())

        platform.run(observer=record, stop=self._stop)
        store.update_run(run_id, platform.tally.as_dict(), ended=True)
        if self._stop.is_set():
            store.set_state(
                experiment_id,
                INTERRUPTED,
                f"stopped at {store.count(experiment_id):,} of {experiment.plan.total:,} sessions; Start resumes",
            )
            return False
        return True

    def finish(self, experiment: Experiment) -> None:
        """Analyse what was recorded and write the report; the verdict is the analysis'."""
        store, experiment_id = self.store, experiment.id
        store.set_state(experiment_id, ANALYSING, "analysing")
        sessions = store.sessions(experiment_id)
        settings = experiment.settings
        result = analysis.analyse(
            sessions,
            experiment.plan,
            srm_threshold=self.cfg.design.srm_p_value,
            tau=settings.tau,
            use_cuped=settings.cuped,
            sequential_stop=settings.sequential,
        )
        runs = store.runs(experiment_id)
        summary = {
            "analysis": result.as_dict(),
            "platform": tally_of(runs),
            "runs": runs,
            "ground_truth": frame_truth(sessions, self.cfg.response),
            "settings": settings.as_dict(),
            "summary_lines": settings.lines(experiment.plan) + analysis.summary_lines(result),
            "sessions": len(sessions),
            "config": settings_of(experiment_config(self.cfg, experiment, 0)),
        }
        report.write(self.reports / str(experiment_id), sessions, result, summary)
        store.set_state(experiment_id, DONE, analysis.verdict_sentence(result), result.verdict)


def tally_of(runs: list[dict]) -> dict[str, int]:
    """What the platform counted on the prediction topic, over all of an experiment's runs."""
    return {k: sum(run["tally"].get(k, 0) for run in runs) for k in TALLY_COUNTS}


def experiment_config(base: ExperimentConfig, experiment: Experiment, run_index: int) -> ExperimentConfig:
    """The platform's settings for one run: the experiment's own design and salt, and a
    seed of its own per run so that a resumed run brings new customers."""
    plan = experiment.plan
    design = Design(
        alpha=plan.alpha,
        power=plan.power,
        mde=plan.mde,
        sd=plan.sd,
        sided=plan.sided,
        treatment_share=plan.treatment_share,
        salt=experiment.salt,
        srm_p_value=base.design.srm_p_value,
    )
    seed = base.platform.seed + 1000 * experiment.id + run_index
    return replace(base, design=design, platform=replace(base.platform, seed=seed))
