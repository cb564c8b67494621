"""The local Apache Kafka broker (single node, KRaft) for `make broker-up`.

    python -m local.broker up|down|status [--advertise HOST:PORT]

Listens where KAFKA_BOOTSTRAP says (default 127.0.0.1:9092), the same variable the job
reads; its KRaft controller on KAFKA_CONTROLLER_PORT (default: the client port + 1). The
log lives in .run/kafka/data and survives `make broker-down` (`make clean` removes it).
Topics are created with the standard Kafka admin API, so the same code works against a
real cluster. ``--advertise`` tells clients another address, e.g. a local.proxy in
front of it (start that first: the topics are created through it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Mapping, Optional

from job.config import BOOTSTRAP_ENV, load_config
from local import processes
from local.kafka import KafkaNode

NAME = "broker"
DEFAULT_PARTITIONS = 2
CONTROLLER_PORT_ENV = "KAFKA_CONTROLLER_PORT"


def host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"{BOOTSTRAP_ENV}={bootstrap!r}: expected host:port")
    return host, int(port)


def create_topics(
    bootstrap: str, topics: list[str], partitions: int = DEFAULT_PARTITIONS, client: Optional[Mapping[str, str]] = None
) -> list[str]:
    """Create missing topics; returns the ones created. ``client``: librdkafka settings
    (security) besides the bootstrap servers."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **(client or {})})
    existing = set(admin.list_topics(timeout=30).topics)
    wanted = [t for t in topics if t not in existing]
    if not wanted:
        return []
    for future in admin.create_topics([NewTopic(t, partitions, 1) for t in wanted]).values():
        future.result(timeout=30)
    _wait_for_leaders(admin, wanted)
    return wanted


def _wait_for_leaders(admin, topics: list[str], seconds: float = 30) -> None:
    """Until every partition of ``topics`` has a leader: Kafka acknowledges a new topic
    before the broker has taken the lead of its partitions, and a client asking for
    offsets in between gets NOT_LEADER_FOR_PARTITION."""
    deadline = time.monotonic() + seconds
    while True:
        found = admin.list_topics(timeout=10).topics
        pending = [
            t
            for t in topics
            if t not in found
            or found[t].error is not None
            or not found[t].partitions
            or any(p.leader < 0 for p in found[t].partitions.values())
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"topics {', '.join(pending)} have no partition leader {seconds:.0f} s after creation")
        time.sleep(0.1)


def create_job_topics(
    bootstrap: str,
    topics: Mapping[str, str],
    partitions: int = DEFAULT_PARTITIONS,
    client: Optional[Mapping[str, str]] = None,
) -> list[str]:
    """The job's topics by role (``Topics``); the model control topic gets one partition,
    because control messages must be applied in the order they were published."""
    control = [name for role, name in topics.items() if role == "model_control"]
    return create_topics(bootstrap, control, 1, client) + create_topics(
        bootstrap, [name for role, name in topics.items() if role != "model_control"], partitions, client
    )


def local_node(bootstrap: str, advertise: Optional[str] = None) -> KafkaNode:
    host, port = host_port(bootstrap)
    controller = os.environ.get(CONTROLLER_PORT_ENV, str(port + 1))
    if not controller.isdigit():
        raise SystemExit(f"{CONTROLLER_PORT_ENV}={controller!r}: expected a port number")
    return KafkaNode(processes.RUN_DIR / "kafka", host, port, int(controller), advertise)


def up(bootstrap: str, topics: Mapping[str, str], advertise: Optional[str] = None) -> None:
    node = local_node(bootstrap, advertise)
    pid = processes.running_pid(processes.RUN_DIR / f"{NAME}.pid")
    if pid is None:
        pid = node.start(NAME)
    created = create_job_topics(bootstrap, topics)
    print(
        f"Apache Kafka up at {node.bootstrap}, advertised {advertise or node.bootstrap} (pid {pid}, "
        f"log {node.log}, data {node.data}); topics created: {', '.join(created) or 'none, all existed'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument(
        "--advertise", default=None, help="HOST:PORT the broker gives clients (default: where it listens)"
    )
    args = parser.parse_args(argv)
    cfg = load_config()
    bootstrap = cfg.kafka.bootstrap_servers
    if args.action == "up":
        up(bootstrap, vars(cfg.kafka.topics), args.advertise)
    elif args.action == "down":
        print("broker stopped" if processes.stop(NAME, seconds=30) else "broker was not running")
    else:
        pid = processes.running_pid(processes.RUN_DIR / f"{NAME}.pid")
        print(f"broker {'running, pid %d' % pid if pid else 'not running'} ({bootstrap})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
