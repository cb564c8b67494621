"""Can the job reach its Kafka, with its credentials, and are its input topics there?

Asked once by the submitting client before the job is built: a wrong password or a
missing topic then fails the submission with one sentence, instead of a job that
restarts on a TaskManager, reconnecting again and again, with the cause deep in its log.
"""

from __future__ import annotations

import time
from typing import Iterable, Optional

from job.config import KafkaConfig

# librdkafka error names → what to tell the user. Authentication first: librdkafka also
# reports the broken connection that follows a refused login.
CAUSES = (
    (
        "_AUTHENTICATION",
        "the broker refused the credentials (SASL authentication failed): check "
        "kafka.security.username and the password in {password_env}",
    ),
    ("_SSL", "the TLS handshake failed: check kafka.security.ca_file and that the broker speaks TLS there"),
    (
        "_TRANSPORT",
        "no Kafka broker answers there (connection refused or closed): is it running, and is "
        "kafka.security.protocol ({protocol}) what its listener expects?",
    ),
    ("_ALL_BROKERS_DOWN", "no Kafka broker answers there: is it running (make broker-up)?"),
)


def kafka_problem(kafka: KafkaConfig, topics: Iterable[str], timeout: float = 10.0) -> Optional[str]:
    """None when a metadata request succeeds and lists every topic of ``topics``; else
    a message that names the broker and the cause, and never the password."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list = []
    # A few reconnects at most while we wait: a refused password must not become a storm.
    admin = AdminClient(
        kafka.client(
            **{
                "error_cb": errors.append,
                "reconnect.backoff.ms": 1000,
                "reconnect.backoff.max.ms": 5000,
                "log_level": 0,
            }
        )
    )
    metadata, deadline = None, time.monotonic() + timeout
    while metadata is None and time.monotonic() < deadline and not _fatal(errors):
        try:
            metadata = admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
        except KafkaException as err:
            errors.append(err.args[0])
            admin.poll(0.1)  # serves error_cb: the authentication or TLS failure behind it
    if metadata is None:
        return f"Kafka at {kafka.bootstrap_servers}: {_cause(errors, kafka)}"
    missing = [topic for topic in topics if topic not in metadata.topics]
    if missing:
        return (
            f"Kafka at {kafka.bootstrap_servers} has no topic {', '.join(missing)}: create it "
            "(`make broker-up` creates the job's topics on the local broker) or set kafka.topics.*"
        )
    return None


def _fatal(errors: list) -> bool:
    """A refusal that waiting cannot cure."""
    return bool({_name(err) for err in errors} & {"_AUTHENTICATION", "_SSL"})


def _name(err) -> str:
    return err.name() if hasattr(err, "name") else ""


def _cause(errors: list, kafka: KafkaConfig) -> str:
    names = {_name(err) for err in errors}
    for name, text in CAUSES:
        if name in names:
            return text.format(password_env=kafka.security.password_env, protocol=kafka.security.protocol)
    detail = "; ".join(sorted({err.str() if hasattr(err, "str") else str(err) for err in errors}))
    return f"no answer within the timeout{f' ({detail})' if detail else ''}"
