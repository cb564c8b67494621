"""One configuration source: conf/job.yaml, then env overrides, then CLI ``--set`` flags.

Everything is validated here, at start, so a typo fails the submission with a message
that names the key, instead of a Flink task failing minutes later on a TaskManager.
"""

from __future__ import annotations

import os
import site
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

import yaml

from contract.settings import ConfigError, read_yaml
from job.model import ENGINES
from job.monitoring.drift import Thresholds
from job.monitoring.windows import WindowSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "conf" / "job.yaml"
ENV_PREFIX = "SILOCOMPRO__"
BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP"


def worker_pythonpath() -> str:
    """What a TaskManager's Python needs on ``python.pythonpath`` in thread mode: this
    venv's site-packages (PemJa does not inherit them) and the repo, for ``job``."""
    return os.pathsep.join([*site.getsitepackages(), str(REPO_ROOT)])


@dataclass(frozen=True)
class Topics:
    demographic: str
    historic: str
    prediction: str
    dead_letter: str
    model_control: str
    model_status: str
    shadow_scores: str
    model_monitoring: str


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# flink-sql-connector-kafka relocates kafka-clients here; PyFlink's Kafka wrapper names the
# relocated classes, and a JAAS config given to the job must too.
KAFKA_SHADED = "org.apache.flink.kafka.shaded."
SHADED_MARKER = KAFKA_SHADED.replace(".", "/") + "org/apache/kafka/common/security/scram/ScramLoginModule.class"
SASL_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


@dataclass(frozen=True)
class KafkaSecurity:
    """How every client (the job's Java ones, the local tools' librdkafka ones) connects.

    The password comes from the environment variable ``password_env`` at start, never from
    a file in the repo; ``repr`` leaves it out, so a logged config cannot show it."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: Optional[str] = None
    password: str = field(default="", repr=False)
    ca_file: Optional[Path] = None
    password_env: str = "SILOCOMPRO_KAFKA_PASSWORD"

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL")

    def java(self) -> dict[str, str]:
        """Properties for the job's Kafka clients: those inside the Flink connector, whose
        login modules live under ``KAFKA_SHADED``."""
        props = {"security.protocol": self.protocol}
        if self.sasl:
            props["sasl.mechanism"] = self.sasl_mechanism
            props["sasl.jaas.config"] = (
                f"{KAFKA_SHADED}{SASL_LOGIN_MODULES[self.sasl_mechanism]} required "
                f'username="{self.username}" password="{self.password}";'
            )
        if self.ca_file:
            props.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": str(self.ca_file)})
        return props

    def librdkafka(self) -> dict[str, str]:
        """The same for confluent-kafka (the local tools, the experiment platform, the console)."""
        props = {"security.protocol": self.protocol.lower()}
        if self.sasl:
            props.update(
                {"sasl.mechanism": self.sasl_mechanism, "sasl.username": self.username, "sasl.password": self.password}
            )
        if self.ca_file:
            props["ssl.ca.location"] = str(self.ca_file)
        return props


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str
    group_id: str
    topics: Topics
    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    source_properties: Mapping[str, str] = field(default_factory=dict)
    sink_properties: Mapping[str, str] = field(default_factory=dict)
    delivery_guarantee: Literal["at-least-once", "exactly-once"] = "at-least-once"
    transaction_timeout_ms: int = 600000

    def consumer_properties(self) -> dict[str, str]:
        return {**self.source_properties, **self.security.java()}

    def producer_properties(self) -> dict[str, str]:
        return {**self.sink_properties, **self.security.java()}

    def client(self, **extra: object) -> dict:
        """librdkafka settings for a confluent-kafka Producer, Consumer or AdminClient."""
        return {"bootstrap.servers": self.bootstrap_servers, **self.security.librdkafka(), **extra}


@dataclass(frozen=True)
class WatermarkConfig:
    """Event time on the two input sources, from the Kafka record timestamps."""

    out_of_orderness_ms: int  # how far a record may trail the newest one of its source
    idleness_ms: int  # a partition this long without records stops holding the watermark back
    max_drift_ms: int  # how far one source's watermark may run ahead of the other's (alignment)
    alignment_update_ms: int  # how often the sources compare watermarks


@dataclass(frozen=True)
class JoinConfig:
    timeout_ms: int  # between the two halves' record timestamps
    valve_ms: int  # processing time the watermark may stand still before a waiting session is decided
    state_ttl_ms: int
    on_timeout: Literal["score", "default"]
    watermarks: WatermarkConfig


@dataclass(frozen=True)
class ModelConfig:
    pmml: Path
    metadata: Path
    threshold: Optional[float]
    safe_default: int
    engine: Literal["compiled", "pypmml"]


@dataclass(frozen=True)
class ModelsConfig:
    """Models published on the control topic while the job runs (job/control.py)."""

    routing_salt: str
    store: Path


@dataclass(frozen=True)
class FlinkConfig:
    job_name: str
    parallelism: int
    checkpoint_interval_ms: int
    python_execution_mode: Literal["thread", "process"]
    local_checkpoint_dir: Path  # a MiniCluster's checkpoints (a cluster keeps its own)
    operator_jar: Path  # the job's own Java operators (jvm/records), added to pipeline.jars
    properties: Mapping[str, str] = field(default_factory=dict)  # Flink options set on the job
    connector_jars: tuple[Path, ...] = ()  # the Kafka connector, added to pipeline.jars


@dataclass(frozen=True)
class MonitoringConfig:
    """Live drift monitoring (job/monitoring, docs/monitoring.md)."""

    enabled: bool
    profile: Optional[Path]  # the reference; None: the model metadata's "profile", next to the PMML
    window: WindowSpec
    thresholds: Thresholds


@dataclass(frozen=True)
class Config:
    kafka: KafkaConfig
    join: JoinConfig
    model: ModelConfig
    models: ModelsConfig
    max_message_bytes: int
    token_env: str
    token_file_env: str
    flink: FlinkConfig
    monitoring: MonitoringConfig


def load_config(
    path: Path | str = DEFAULT_CONFIG,
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read the YAML, apply env then CLI overrides (``section.key=value``), validate."""
    environ = os.environ if environ is None else environ
    return _build(read_overridden(Path(path), env_overrides(environ), overrides or {}), environ)


def read_overridden(path: Path, *overrides: Mapping[str, object]) -> dict:
    """A config file's mapping with ``section.key`` overrides applied in order (later win):
    the job's, the experiment's and the console's settings all load this way."""
    merged = read_yaml(path)
    for layer in overrides:
        for dotted, value in layer.items():
            _set_dotted(merged, dotted, value)
    return merged


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """``SILOCOMPRO__JOIN__TIMEOUT_MS`` → ``join.timeout_ms``; KAFKA_BOOTSTRAP is a shortcut."""
    shortcut = {"kafka.bootstrap_servers": environ[BOOTSTRAP_ENV]} if environ.get(BOOTSTRAP_ENV) else {}
    return {**shortcut, **prefixed_overrides(environ, ENV_PREFIX)}


def prefixed_overrides(environ: Mapping[str, str], prefix: str) -> dict[str, str]:
    """``<prefix>SECTION__KEY`` → ``section.key``."""
    return {
        name[len(prefix) :].lower().replace("__", "."): value
        for name, value in environ.items()
        if name.startswith(prefix)
    }


def parse_set_flags(flags: list[str]) -> dict[str, str]:
    pairs = {}
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects section.key=value, got {flag!r}")
        pairs[key.strip()] = value
    return pairs


def _set_dotted(tree: dict, dotted: str, value: str) -> None:
    """Overrides arrive as strings; YAML-parse them so "5000" is an int and "null" None.

    Kafka property maps keep dotted Kafka keys intact: ``kafka.security.sasl.mechanism``
    sets the key ``sasl.mechanism`` of ``kafka.security``.
    """
    parts = dotted.split(".")
    node = tree
    for depth, part in enumerate(parts[:-1]):
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {'.'.join(parts[: depth + 1])} is not a section")
        if part in _PROPERTY_MAPS and depth == 1:
            node[".".join(parts[depth + 1 :])] = value
            return
    node[parts[-1]] = yaml.safe_load(value) if isinstance(value, str) else value


_PROPERTY_MAPS = {"source_properties", "sink_properties", "properties"}


class Section:
    """Typed access to one YAML section that reports the full key on error."""

    def __init__(self, tree: Any, name: str):
        if not isinstance(tree, dict):
            raise ConfigError(f"{name}: expected a mapping, got {type(tree).__name__}")
        self.tree, self.name = tree, name

    def section(self, key: str) -> "Section":
        return Section(self.tree.get(key), f"{self.name}.{key}" if self.name else key)

    def _get(self, key: str, optional: bool = False) -> Any:
        if key not in self.tree or (self.tree[key] is None and not optional):
            raise ConfigError(f"{self._key(key)}: missing")
        return self.tree[key]

    def _key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self._key(key)}: expected a non-empty string, got {value!r}")
        return value.strip()

    def integer(self, key: str, minimum: int) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{self._key(key)}: expected an integer >= {minimum}, got {value!r}")
        return value

    def number(self, key: str, low: float, high: float = float("inf"), low_ok: bool = False) -> float:
        """A number in (low, high), or [low, high) with ``low_ok``; booleans are not numbers."""
        value = self._get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not ((low <= value if low_ok else low < value) and value < high)
        ):
            raise ConfigError(
                f"{self._key(key)}: expected a number in {'[' if low_ok else '('}{low}, {high}), got {value!r}"
            )
        return float(value)

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self._get(key)
        if value not in options:
            raise ConfigError(f"{self._key(key)}: expected one of {', '.join(options)}, got {value!r}")
        return value

    def properties(self, key: str) -> dict[str, str]:
        value = self.tree.get(key) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{self._key(key)}: expected a mapping of Kafka properties")
        return {str(k): str(v) for k, v in value.items()}

    def path(self, key: str, default: Optional[Path] = None) -> Path:
        value = self._get(key, optional=default is not None)
        if value is None:
            return default
        resolved = Path(str(value))
        return resolved if resolved.is_absolute() else REPO_ROOT / resolved


def _build(raw: dict, environ: Mapping[str, str]) -> Config:
    root = Section(raw, "")
    kafka, join, model, models, flink = (root.section(s) for s in ("kafka", "join", "model", "models", "flink"))
    topics = kafka.section("topics")
    roles = tuple(Topics.__dataclass_fields__)
    topic_names = Topics(*(topics.text(t) for t in roles))
    if len(set(vars(topic_names).values())) != len(roles):
        raise ConfigError(f"kafka.topics: the {len(roles)} topics must differ, got {vars(topic_names)}")

    pmml = model.path("pmml")
    threshold = model._get("threshold", optional=True)
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1
    ):
        raise ConfigError(f"model.threshold: expected null or a probability in [0, 1], got {threshold!r}")
    safe_default = model._get("safe_default")
    if safe_default not in (0, 1) or isinstance(safe_default, bool):
        raise ConfigError(f"model.safe_default: expected 0 or 1, got {safe_default!r}")

    token = root.section("token")
    parsing = root.section("parsing")
    return Config(
        kafka=KafkaConfig(
            bootstrap_servers=kafka.text("bootstrap_servers"),
            group_id=kafka.text("group_id"),
            topics=topic_names,
            security=_security(kafka.section("security"), environ),
            source_properties=kafka.properties("source_properties"),
            sink_properties=kafka.properties("sink_properties"),
            delivery_guarantee=kafka.choice("delivery_guarantee", ("at-least-once", "exactly-once")),
            transaction_timeout_ms=kafka.integer("transaction_timeout_ms", 1000),
        ),
        join=_join(join),
        model=ModelConfig(
            pmml=pmml,
            metadata=model.path("metadata", default=pmml.with_suffix(".json")),
            threshold=None if threshold is None else float(threshold),
            safe_default=safe_default,
            engine=model.choice("engine", ENGINES),
        ),
        models=ModelsConfig(models.text("routing_salt"), models.path("store")),
        max_message_bytes=parsing.integer("max_message_bytes", 64),
        token_env=token.text("env"),
        token_file_env=token.text("file_env"),
        flink=FlinkConfig(
            job_name=flink.text("job_name"),
            parallelism=flink.integer("parallelism", 1),
            checkpoint_interval_ms=flink.integer("checkpoint_interval_ms", 100),
            python_execution_mode=flink.choice("python_execution_mode", ("thread", "process")),
            properties=flink.properties("properties"),
            connector_jars=_jars(flink.path("connector_jars"), flink._key("connector_jars")),
            operator_jar=_operator_jar(flink.path("operator_jar"), flink._key("operator_jar")),
            local_checkpoint_dir=flink.path("local_checkpoint_dir"),
        ),
        monitoring=_monitoring(root.section("monitoring")),
    )


def _monitoring(section: Section) -> MonitoringConfig:
    """Windows and thresholds, checked against each other: a window that can never reach
    min_sessions would only ever report "insufficient data"."""
    enabled = section._get("enabled")
    if not isinstance(enabled, bool):
        raise ConfigError(f"{section._key('enabled')}: expected true or false, got {enabled!r}")
    sessions, minutes = (section._get(k, optional=True) for k in ("window_sessions", "window_minutes"))
    if sessions is None and minutes is None:
        raise ConfigError(
            f"{section._key('window_sessions')} and {section._key('window_minutes')}: "
            "set at least one (a window closes at whichever comes first)"
        )
    sessions = None if sessions is None else section.integer("window_sessions", 1)
    period_ms = None if minutes is None else round(section.number("window_minutes", 0) * 60_000)
    psi_warn, psi_alert = section.number("psi_warn", 0), section.number("psi_alert", 0)
    if psi_warn > psi_alert:
        raise ConfigError(
            f"{section._key('psi_warn')} ({psi_warn}) must not exceed {section._key('psi_alert')} ({psi_alert})"
        )
    thresholds = Thresholds(
        psi_warn=psi_warn,
        psi_alert=psi_alert,
        alpha=section.number("alpha", 0, 1),
        decisive_p=section.number("decisive_p", 0, 1),
        min_effect_psi=section.number("min_effect_psi", 0, low_ok=True),
        min_sessions=section.integer("min_sessions", 1),
        min_expected=section.number("min_expected", 0),
    )
    if sessions is not None and sessions < thresholds.min_sessions:
        raise ConfigError(
            f"{section._key('window_sessions')} ({sessions}) must be at least "
            f"{section._key('min_sessions')} ({thresholds.min_sessions})"
        )
    sample = section.number("sample", 0, 1.0 + 1e-12)
    profile = section.path("profile") if section._get("profile", optional=True) is not None else None
    return MonitoringConfig(enabled, profile, WindowSpec(sessions, period_ms, sample), thresholds)


def _security(section: "Section", environ: Mapping[str, str]) -> KafkaSecurity:
    protocol = section.choice("protocol", SECURITY_PROTOCOLS)
    ca = section._get("ca_file", optional=True)
    ca_file = section.path("ca_file") if ca else None
    if ca_file and not ca_file.is_file():
        raise ConfigError(f"{section._key('ca_file')}: no such file: {ca_file}")
    if protocol in ("PLAINTEXT", "SSL"):
        return KafkaSecurity(protocol, ca_file=ca_file)
    mechanism = section.choice("sasl_mechanism", tuple(SASL_LOGIN_MODULES))
    username, password_env = section.text("username"), section.text("password_env")
    password = environ.get(password_env, "")
    if not password:
        raise ConfigError(
            f"{section._key('protocol')} is {protocol}: set the password in the environment "
            f"variable {password_env} ({section._key('password_env')})"
        )
    if '"' in password or "\\" in password or '"' in username:
        raise ConfigError(
            f"the Kafka username or the password in {password_env} has a quote or backslash, "
            "which a JAAS config cannot carry"
        )
    return KafkaSecurity(protocol, mechanism, username, password, ca_file, password_env)


def _operator_jar(path: Path, key: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"{key}: no jar at {path}: run `make setup` (it compiles jvm/records)")
    return path


def _jars(path: Path, key: str) -> tuple[Path, ...]:
    """A connector jar, or a folder of jars (``make jars`` fills the default one); one of
    them must carry kafka-clients relocated under ``KAFKA_SHADED``, as the SQL connector does."""
    import zipfile

    jars = tuple(sorted(path.glob("*.jar"))) if path.is_dir() else (path,) if path.is_file() else ()
    if not jars:
        raise ConfigError(
            f"{key}: no Kafka connector jar at {path}: run `make jars` (Maven resolves "
            "jvm/flink-connector/pom.xml), or point it at your flink-sql-connector-kafka jar"
        )

    def relocated(jar: Path) -> bool:
        try:
            return SHADED_MARKER in zipfile.ZipFile(jar).namelist()
        except zipfile.BadZipFile:
            return False

    if not any(relocated(jar) for jar in jars):
        raise ConfigError(
            f"{key}: {path} has no kafka-clients under {KAFKA_SHADED}: use Apache's "
            "flink-sql-connector-kafka (PyFlink's Kafka wrapper calls those relocated classes)"
        )
    return jars


def _join(join: Section) -> JoinConfig:
    """The join's settings, checked against each other: the valve must not preempt the
    idleness rule (a quiet partition would otherwise look like a stalled pipeline), and
    state must outlive the longest wait for the other half."""
    marks = join.section("watermarks")
    watermarks = WatermarkConfig(
        out_of_orderness_ms=marks.integer("out_of_orderness_ms", 0),
        idleness_ms=marks.integer("idleness_ms", 1),
        max_drift_ms=marks.integer("max_drift_ms", 1),
        alignment_update_ms=marks.integer("alignment_update_ms", 1),
    )
    timeout_ms, valve_ms, ttl_ms = (join.integer(key, 1) for key in ("timeout_ms", "valve_ms", "state_ttl_ms"))
    if valve_ms <= watermarks.idleness_ms:
        raise ConfigError(
            f"join.valve_ms ({valve_ms}) must exceed join.watermarks.idleness_ms ({watermarks.idleness_ms}): "
            "a topic without records must be declared idle before the valve decides for it"
        )
    if ttl_ms <= timeout_ms + valve_ms:
        raise ConfigError(
            f"join.state_ttl_ms ({ttl_ms}) must exceed join.timeout_ms + join.valve_ms ({timeout_ms + valve_ms}): "
            "state must outlive the wait for the other half"
        )
    return JoinConfig(timeout_ms, valve_ms, ttl_ms, join.choice("on_timeout", ("score", "default")), watermarks)


def read_token(cfg: Config, environ: Mapping[str, str] | None = None) -> str:
    """The experiment token from its env var, else from the file its file env var names.

    Errors name the variables, never the value.
    """
    environ = os.environ if environ is None else environ
    token = environ.get(cfg.token_env, "").strip()
    if not token and environ.get(cfg.token_file_env):
        token_path = Path(environ[cfg.token_file_env])
        if not token_path.is_file():
            raise ConfigError(f"{cfg.token_file_env} points to a missing file: {token_path}")
        token = token_path.read_text().strip()
    if not token:
        raise ConfigError(f"no experiment token: set {cfg.token_env} or {cfg.token_file_env} (a file holding it)")
    if any(c.isspace() for c in token) or '"' in token or "\\" in token:
        raise ConfigError(f"the experiment token (from {cfg.token_env}/{cfg.token_file_env}) has whitespace or quotes")
    return token
