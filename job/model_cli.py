"""Publish and inspect models while the job runs: the control topic's command line.

    python -m job.model_cli push PMML [--share S | --shadow] [--name N] [--version V] [--threshold T]
    python -m job.model_cli retire NAME VERSION
    python -m job.model_cli list

``push`` checks the model here first, exactly as the job will (metadata and checksum,
input fields, the PMML's verification rows, the compiled engine against pypmml), copies
it into ``models.store`` under its checksum, publishes the control message and waits for
the job's answer on the status topic. Exit codes: 0 accepted, 1 rejected by the job, 2
refused here, 3 no answer in time (is the job running?).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import uuid as uuidlib
from pathlib import Path
from typing import Optional

from job import control, preflight
from job.config import Config, ConfigError, load_config, parse_set_flags
from job.model import load_spec
from job.parity import check_model
from job.pmml import ModelError

ANSWER, REFUSED, NO_ANSWER = 1, 2, 3


def stored_copy(cfg: Config, pmml: Path, sha256: str) -> Path:
    """The PMML under its checksum in the store: a location that never changes content."""
    target = cfg.models.store / f"{sha256}.pmml"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copyfile(pmml, partial)
        partial.replace(target)
    return target


def push_message(cfg: Config, args: argparse.Namespace) -> control.ControlMessage:
    """The checked control message for ``push``; ModelError/ControlError say what is wrong."""
    if not args.shadow:
        control.check_share(args.share)  # before the slow checks
    metadata = Path(args.metadata) if args.metadata else Path(args.pmml).with_suffix(".json")
    spec = load_spec(Path(args.pmml), metadata, args.threshold, cfg.model.engine)
    name, version = args.name or spec.name, args.version or spec.version
    print(f"checking {name}:{version}: {check_model(spec)}", flush=True)
    location = stored_copy(cfg, Path(args.pmml), spec.pmml_sha256)
    entry = control.ModelEntry(name, version, str(location), spec.pmml_sha256, spec.threshold, spec.output_field)
    message_id, now = uuidlib.uuid4().hex, int(time.time() * 1000)
    if args.shadow:
        return control.shadow(message_id, now, entry)
    return control.activate(message_id, now, entry, args.share)


def publish(cfg: Config, message: control.ControlMessage, wait: float) -> int:
    """Produce ``message`` (keyed by model name) and print the job's answer."""
    from confluent_kafka import Producer

    from job.topic_reader import TopicReader

    topics = cfg.kafka.topics
    status = TopicReader(
        cfg.kafka.bootstrap_servers, topics.model_status, from_end=True, extra=cfg.kafka.security.librdkafka()
    )
    try:
        producer = Producer(cfg.kafka.client())
        producer.produce(topics.model_control, key=message.name.encode(), value=control.encode(message))
        if producer.flush(10):
            print(
                f"error: could not publish to {topics.model_control} at {cfg.kafka.bootstrap_servers}", file=sys.stderr
            )
            return REFUSED
        print(
            f"published {message.action} {message.model_id}"
            f"{f' share {message.share:g}' if message.share is not None else ''} (message {message.message_id})"
        )
        if wait <= 0:
            return 0
        answer = _answer(status, message.message_id, wait)
    finally:
        status.close()
    if answer is None:
        print(f"no answer on {topics.model_status} within {wait:g} s: is the job running?", file=sys.stderr)
        return NO_ANSWER
    print(f"job: {answer['event']}" + (f": {answer['reason']}" if answer.get("reason") else ""))
    print_registry(answer["registry"])
    return 0 if answer["event"] == "accepted" else ANSWER


def _answer(status, message_id: str, wait: float) -> Optional[dict]:
    """The first status event about ``message_id`` (every parallel instance answers alike)."""

    def about(pairs: list) -> list[dict]:
        return [e for e in (json.loads(m.value()) for _, m in pairs) if e.get("message_id") == message_id]

    found = about(status.read_until(lambda pairs: bool(about(pairs)), idle=wait, linger=0))
    return found[0] if found else None


def print_registry(registry: Optional[dict]) -> None:
    if not registry:
        return
    for row in registry["serving"]:
        print(
            f"  serving  {row['share']:>7.2%}  {row['model']}  threshold {row['threshold']:.4f}  "
            f"sha256 {row['sha256'][:12]}"
        )
    for row in registry["shadow"]:
        print(f"  shadow            {row['model']}  threshold {row['threshold']:.4f}  sha256 {row['sha256'][:12]}")


def list_models(cfg: Config, idle: float) -> int:
    """What the control topic holds, and the registry as the job last reported it."""
    from job.topic_reader import TopicReader

    topics = cfg.kafka.topics
    for topic in (topics.model_control, topics.model_status):
        reader = TopicReader(cfg.kafka.bootstrap_servers, topic, extra=cfg.kafka.security.librdkafka())
        try:
            records = sorted((m.timestamp()[1], m.value()) for _, m in reader.read_until(lambda _: False, idle, 0))
        finally:
            reader.close()
        if topic == topics.model_control:
            print(f"{topic}: {len(records)} message(s)")
            for at_ms, value in records:
                print(f"  {_when(at_ms)}  {_describe_control(value)}")
            continue
        events = [json.loads(v) for _, v in records]
        print(f"{topic}: {len(events)} event(s)")
        for event in events:
            if event.get("event") == "rejected":
                print(f"  {_when(event['at_ms'])}  rejected {event.get('model', '?')}: {event['reason']}")
        if not events:
            print("  the job has reported nothing yet (it reports when it starts serving and on every control message)")
            return 0
        last = events[-1]
        print(f"registry as the job reported it at {_when(last['at_ms'])} ({last['event']}):")
        print_registry(last["registry"])
    return 0


def _describe_control(value: bytes) -> str:
    try:
        message = control.parse(value)
    except control.ControlError as err:
        return f"invalid: {err}"
    share = f" share {message.share:g}" if message.share is not None else ""
    return f"{message.action:<8} {message.model_id}{share}"


def _when(at_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at_ms / 1000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a setting of conf/job.yaml, as for job.main (repeatable)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    push = sub.add_parser("push", help="check a PMML, store it and publish it to the running job")
    push.add_argument("pmml")
    push.add_argument("--metadata", help="training's JSON (default: the PMML path with .json)")
    push.add_argument("--name", help="model name (default: the metadata's)")
    push.add_argument("--version", help="model version (default: the metadata's)")
    push.add_argument("--threshold", type=float, help="decision threshold (default: the metadata's)")
    mode = push.add_mutually_exclusive_group()
    mode.add_argument("--share", type=float, default=1.0, help="traffic share in (0, 1] (default 1: a full swap)")
    mode.add_argument("--shadow", action="store_true", help="score every session without deciding")
    retire = sub.add_parser("retire", help="stop serving (or shadowing) a model version")
    retire.add_argument("name")
    retire.add_argument("version")
    listing = sub.add_parser("list", help="the control topic's messages and the registry the job reports")
    listing.add_argument("--idle", type=float, default=2.0, help="seconds without a new record that end a topic")
    for command in (push, retire):
        command.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the job's answer (0: none)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(overrides=parse_set_flags(args.set))
        topics = cfg.kafka.topics
        problem = preflight.kafka_problem(cfg.kafka, (topics.model_control, topics.model_status))
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return REFUSED
        if args.command == "list":
            return list_models(cfg, args.idle)
        if args.command == "push":
            message = push_message(cfg, args)
        else:
            message = control.retire(uuidlib.uuid4().hex, int(time.time() * 1000), args.name, args.version)
    except (ConfigError, ModelError, control.ControlError) as err:
        print(f"error: {err}", file=sys.stderr)
        return REFUSED
    return publish(cfg, message, args.wait)


if __name__ == "__main__":
    sys.exit(main())
