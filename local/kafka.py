"""A single-node Apache Kafka broker in KRaft mode from Apache's jars on Maven Central.

The jars come from ``jvm/kafka-broker/pom.xml``, copied by ``make jars`` into
``.cache/jvm/kafka-broker/lib``. One ``KafkaNode`` is one broker + controller process with
its own directory: ``server.properties``, the log4j2 config, the on-disk log under
``data/`` (formatted on first start, kept across restarts) and ``kafka.log``. The local
stack (``local.broker``), the tests and the benchmarks all start theirs through it.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from job.config import REPO_ROOT
from local import processes

LIB_DIR = Path(os.environ.get("SILOCOMPRO_KAFKA_LIB", REPO_ROOT / ".cache" / "jvm" / "kafka-broker" / "lib"))
# Sized for a 2-core / 24 GiB laptop that also runs Flink: a small fixed heap (no resizing
# pauses), G1 with short pauses, and no more GC or compiler threads than cores.
JVM_OPTIONS = (
    "-Xms512m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:ParallelGCThreads=2",
    "-XX:ConcGCThreads=1",
    "-XX:CICompilerCount=2",
    "-Djava.awt.headless=true",
)
# One node, so every internal topic has one replica; groups rebalance at once; the job's
# 2-partition topics are the default for topics created on first use.
SETTINGS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "num.partitions": "2",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "log.retention.hours": "168",
    "log.segment.bytes": str(64 * 1024 * 1024),
}
LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
# Per-request and per-partition chatter: warnings only.
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.storage.name = org.apache.kafka.storage
logger.storage.level = warn
logger.log.name = kafka.log
logger.log.level = warn
logger.controller.name = org.apache.kafka.controller
logger.controller.level = warn
"""


@dataclass(frozen=True)
class SaslSsl:
    """A SASL_SSL listener (SCRAM-SHA-512 over TLS) and the users formatted into the log.

    ``keystore``: a PEM file with the broker's private key (unencrypted PKCS#8) and
    certificate chain; ``truststore``: the CA's certificate (PEM), which the broker's own
    client side must trust. ``users``: name → password; the broker itself talks to its own
    listener as ``broker_user``, which must be one of them."""

    keystore: Path
    truststore: Path
    users: Mapping[str, str]
    broker_user: str = "broker"
    mechanism: str = "SCRAM-SHA-512"

    def settings(self) -> dict[str, str]:
        password = self.users[self.broker_user]
        return {
            "sasl.enabled.mechanisms": self.mechanism,
            "sasl.mechanism.inter.broker.protocol": self.mechanism,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.truststore),
            f"listener.name.sasl_ssl.{self.mechanism.lower()}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{self.broker_user}" password="{password}";'
            ),
        }

    def format_arguments(self) -> list[str]:
        return [
            arg
            for name, password in self.users.items()
            for arg in ("--add-scram", f"{self.mechanism}=[name={name},password={password}]")
        ]


def java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise SystemExit(
            "Java not found: Apache Kafka 4 needs a JDK 17 or newer "
            "(apt-get install openjdk-17-jre-headless) or JAVA_HOME set"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    version = out.split('"')[1] if '"' in out else ""
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if major < 17:
        raise SystemExit(
            f"Apache Kafka 4 needs Java 17 or newer; {java} is {version or 'unknown'}: set JAVA_HOME to a newer JDK"
        )
    return java


def classpath() -> str:
    if not any(LIB_DIR.glob("kafka_2.13-*.jar")):
        raise SystemExit(
            f"the Kafka broker's jars are not in {LIB_DIR}: run `make jars` "
            "(Maven resolves jvm/kafka-broker/pom.xml; it needs `mvn` on PATH)"
        )
    return str(LIB_DIR / "*")


def cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes in URL-safe base64, as `kafka-storage random-uuid`
    prints. It may start with "-", so it is passed as ``--cluster-id=...``."""
    return base64.urlsafe_b64encode(uuidlib.uuid4().bytes).decode().rstrip("=")


@dataclass
class KafkaNode:
    """One broker + controller on ``host:port`` (clients) and ``controller_port`` (KRaft).

    ``advertise``: the host:port clients are told to use (default: where it listens)."""

    directory: Path
    host: str
    port: int
    controller_port: int
    advertise: Optional[str] = None
    sasl_ssl: Optional[SaslSsl] = None
    extra: Mapping[str, str] = field(default_factory=dict)
    process: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)  # when started without a name

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / "kafka.log"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def properties(self) -> dict[str, str]:
        protocol = "SASL_SSL" if self.sasl_ssl else "PLAINTEXT"
        listener = f"{protocol}://{self.host}:{self.port}"
        return {
            **SETTINGS,
            "listeners": f"{listener},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"{protocol}://{self.advertise}" if self.advertise else listener,
            "listener.security.protocol.map": f"{protocol}:{protocol},CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": protocol,
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "log.dirs": str(self.data),
            **(self.sasl_ssl.settings() if self.sasl_ssl else {}),
            **self.extra,
        }

    def write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "log4j2.properties").write_text(LOG4J)
        path = self.directory / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in self.properties().items()))
        path.chmod(0o600)  # it may hold the broker's SASL password
        return path

    def command(self, main: str, *args: str) -> list[str]:
        return [
            java_binary(),
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}",
            "-Dkafka.logs.dir=" + str(self.directory),
            "-cp",
            classpath(),
            main,
            *args,
        ]

    def format_storage(self, config: Path) -> None:
        """Format ``data/`` once; a formatted log is kept, so topics survive a restart."""
        if (self.data / "meta.properties").exists():
            return
        users = self.sasl_ssl.format_arguments() if self.sasl_ssl else []
        result = subprocess.run(
            self.command(
                "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id()}", "-c", str(config), *users
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise SystemExit(f"formatting Kafka storage in {self.data} failed:\n{result.stdout}{result.stderr}")

    def start(self, name: Optional[str] = None, wait: float = 60) -> int:
        """Start the broker (``name``: as a processes.start background process with a pid
        file); its pid once clients can connect."""
        if processes.port_open(self.host, self.port):
            raise SystemExit(
                f"port {self.port} on {self.host} is taken by another process: stop it, or choose "
                "another port with KAFKA_BOOTSTRAP=127.0.0.1:PORT (the job reads the same variable)"
            )
        if processes.port_open("127.0.0.1", self.controller_port):
            raise SystemExit(
                f"the KRaft controller port {self.controller_port} is taken: set KAFKA_CONTROLLER_PORT to a free one"
            )
        config = self.write_config()
        self.format_storage(config)
        argv = self.command("kafka.Kafka", str(config))
        if name:
            pid = processes.start(name, argv, log=self.log)
        else:
            with self.log.open("ab") as out:
                self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            pid = self.process.pid
        self.wait_ready(pid, wait)
        return pid

    def wait_ready(self, pid: int, seconds: float) -> None:
        """Until the listener accepts connections: the broker opens it once it has caught
        up with the metadata log, so a client connecting then can create topics."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not processes.alive(pid):
                raise SystemExit(f"the Kafka broker exited during start-up; see {self.log}:\n{self.tail()}")
            if processes.port_open(self.host, self.port):
                return
            time.sleep(0.3)
        raise SystemExit(f"the Kafka broker did not open {self.bootstrap} within {seconds:.0f}s; see {self.log}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, a clean shutdown (the log is flushed and closed), SIGKILL after ``timeout``."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
