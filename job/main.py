"""Entry point: ``python -m job.main`` (local MiniCluster) or ``flink run -py job/main.py``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script by `flink run -py job/main.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from job import preflight  # noqa: E402
from job.config import DEFAULT_CONFIG, ConfigError, load_config, parse_set_flags, read_token  # noqa: E402
from job.model import load_spec  # noqa: E402
from job.monitoring.profile import ProfileError, load_reference  # noqa: E402
from job.parity import check_model
from job.pmml import ModelError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="silocompro-targeting streaming decision job")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML config (default conf/job.yaml)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a setting, e.g. --set join.timeout_ms=5000 (repeatable)",
    )
    parser.add_argument("--check", action="store_true", help="validate config, token and model, then exit")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, parse_set_flags(args.set))
        token = read_token(cfg)
        spec = load_spec(cfg.model.pmml, cfg.model.metadata, cfg.model.threshold, cfg.model.engine)
        engine = check_model(spec)  # fail here, at submission, not on a TaskManager
        reference, monitoring = (
            load_reference(cfg.monitoring.profile, cfg.model.metadata)
            if cfg.monitoring.enabled
            else (None, "monitoring: off (monitoring.enabled)")
        )
    except (ConfigError, ModelError, ProfileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"model {spec.name} {spec.version} verified (threshold {spec.threshold:.4f}; {engine}); "
        f"kafka {cfg.kafka.bootstrap_servers}: {cfg.kafka.topics.demographic} + {cfg.kafka.topics.historic} "
        f"-> {cfg.kafka.topics.prediction} (dead letters: {cfg.kafka.topics.dead_letter}); "
        f"models: {cfg.kafka.topics.model_control} -> {cfg.kafka.topics.model_status}, "
        f"shadow scores -> {cfg.kafka.topics.shadow_scores}; {monitoring}"
        + (f" -> {cfg.kafka.topics.model_monitoring}" if reference else ""),
        flush=True,
    )
    if args.check:
        return 0
    topics = cfg.kafka.topics
    problem = preflight.kafka_problem(cfg.kafka, (topics.demographic, topics.historic, topics.model_control))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from job.pipeline import attach_kafka, build_decisions, make_environment  # PyFlink only when running

    env = make_environment(cfg)
    attach_kafka(
        env,
        cfg,
        lambda demographic, historic, control: build_decisions(
            demographic, historic, control, cfg, spec, token, reference
        ),
    )
    env.execute(cfg.flink.job_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
