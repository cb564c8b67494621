"""Configuration: defaults load, overrides apply, mistakes fail with the key named."""

import pytest

from job.config import ConfigError, load_config, parse_set_flags, read_token
from tests.support.fixtures import FIXTURES


def test_default_config_loads():
    cfg = load_config(environ={})
    assert cfg.kafka.topics.prediction == "topic_student_prediction"
    assert cfg.join.state_ttl_ms > cfg.join.timeout_ms + cfg.join.valve_ms
    assert cfg.join.valve_ms > cfg.join.watermarks.idleness_ms
    assert cfg.model.metadata.name == "model.json"


def test_env_and_cli_overrides():
    env = {"KAFKA_BOOTSTRAP": "broker:19092", "SILOCOMPRO__JOIN__TIMEOUT_MS": "1500"}
    cfg = load_config(environ=env, overrides=parse_set_flags(["flink.parallelism=2", "model.threshold=0.2"]))
    assert cfg.kafka.bootstrap_servers == "broker:19092"
    assert cfg.join.timeout_ms == 1500 and cfg.flink.parallelism == 2 and cfg.model.threshold == 0.2


SASL = {
    "SILOCOMPRO__KAFKA__SECURITY__PROTOCOL": "SASL_SSL",
    "SILOCOMPRO__KAFKA__SECURITY__USERNAME": "targeting",
    "SILOCOMPRO_KAFKA_PASSWORD": "pw-s3cr3t",
}


def test_one_security_section_serves_the_java_and_the_librdkafka_clients(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = load_config(environ={**SASL, "SILOCOMPRO__KAFKA__SECURITY__CA_FILE": str(ca)})
    java = cfg.kafka.consumer_properties()
    assert java["security.protocol"] == "SASL_SSL" and java["sasl.mechanism"] == "SCRAM-SHA-512"
    assert java["sasl.jaas.config"] == (
        "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram."
        'ScramLoginModule required username="targeting" password="pw-s3cr3t";'
    )
    assert java["ssl.truststore.type"] == "PEM" and java["ssl.truststore.location"] == str(ca)
    assert cfg.kafka.producer_properties()["sasl.jaas.config"] == java["sasl.jaas.config"]
    assert cfg.kafka.client() == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "targeting",
        "sasl.password": "pw-s3cr3t",
        "ssl.ca.location": str(ca),
    }
    assert "s3cr3t" not in repr(cfg)


@pytest.mark.parametrize(
    "env, message",
    [
        (
            {**SASL, "SILOCOMPRO_KAFKA_PASSWORD": ""},
            "set the password in the environment variable SILOCOMPRO_KAFKA_PASSWORD",
        ),
        ({**SASL, "SILOCOMPRO__KAFKA__SECURITY__USERNAME": "null"}, "kafka.security.username: missing"),
        ({**SASL, "SILOCOMPRO__KAFKA__SECURITY__PROTOCOL": "TLS"}, "kafka.security.protocol: expected one of"),
        (
            {**SASL, "SILOCOMPRO__KAFKA__SECURITY__CA_FILE": "/nonexistent/ca.pem"},
            "kafka.security.ca_file: no such file",
        ),
        ({**SASL, "SILOCOMPRO_KAFKA_PASSWORD": 'with"quote'}, "quote or backslash"),
    ],
)
def test_security_mistakes_name_the_setting_and_never_the_password(env, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_config(environ=env)
    assert "s3cr3t" not in str(err.value)


def test_watermark_settings_take_env_overrides():
    cfg = load_config(environ={"SILOCOMPRO__JOIN__WATERMARKS__IDLENESS_MS": "500", "SILOCOMPRO__JOIN__VALVE_MS": "900"})
    assert (cfg.join.watermarks.idleness_ms, cfg.join.valve_ms) == (500, 900)


def test_flink_properties_keep_their_dotted_keys():
    cfg = load_config(
        environ={"SILOCOMPRO__FLINK__PROPERTIES__PIPELINE__OBJECT-REUSE": "true"},
        overrides=parse_set_flags(["flink.properties.execution.buffer-timeout.interval=10ms"]),
    )
    assert cfg.flink.properties == {"execution.buffer-timeout.interval": "10ms", "pipeline.object-reuse": "true"}


@pytest.mark.parametrize(
    "flag, message",
    [
        ("join.timeout_ms=abc", "join.timeout_ms: expected an integer"),
        ("join.state_ttl_ms=8000", r"join.state_ttl_ms \(8000\) must exceed join.timeout_ms \+ join.valve_ms \(8000\)"),
        ("join.valve_ms=2000", r"join.valve_ms \(2000\) must exceed join.watermarks.idleness_ms \(2000\)"),
        ("join.valve_ms=0", "join.valve_ms: expected an integer >= 1"),
        ("join.watermarks.out_of_orderness_ms=-1", "join.watermarks.out_of_orderness_ms: expected an integer >= 0"),
        ("join.watermarks.max_drift_ms=fast", "join.watermarks.max_drift_ms: expected an integer"),
        ("join.on_timeout=guess", "join.on_timeout: expected one of score, default"),
        ("model.threshold=1.5", "model.threshold"),
        ("model.safe_default=2", "model.safe_default"),
        ("kafka.topics.historic=topic_demographic", "must differ"),
        ("kafka.topics.model_control=topic_student_prediction", "the 8 topics must differ"),
        ("models.routing_salt=", "models.routing_salt: missing"),
        ("flink.python_execution_mode=turbo", "flink.python_execution_mode"),
        ("kafka.delivery_guarantee=twice", "kafka.delivery_guarantee: expected one of at-least-once, exactly-once"),
        (
            "flink.connector_jars=/nonexistent",
            "flink.connector_jars: no Kafka connector jar at /nonexistent: run `make jars`",
        ),
        (
            f"flink.connector_jars={FIXTURES / 'model.pmml'}",
            "has no kafka-clients under org.apache.flink.kafka.shaded.",
        ),
        ("flink.operator_jar=/nonexistent.jar", r"flink.operator_jar: no jar at /nonexistent.jar: run `make setup`"),
        ("monitoring.enabled=maybe", "monitoring.enabled: expected true or false"),
        ("monitoring.sample=0", r"monitoring.sample: expected a number in \(0, "),
        (
            "monitoring.window_sessions=500",
            r"monitoring.window_sessions \(500\) must be at least monitoring.min_sessions",
        ),
        ("monitoring.psi_warn=0.3", r"monitoring.psi_warn \(0.3\) must not exceed monitoring.psi_alert \(0.25\)"),
        ("monitoring.alpha=1", r"monitoring.alpha: expected a number in \(0, 1\)"),
        ("monitoring.min_effect_psi=-0.1", "monitoring.min_effect_psi"),
    ],
)
def test_invalid_settings_name_the_key(flag, message):
    with pytest.raises(ConfigError, match=message):
        load_config(environ={}, overrides=parse_set_flags([flag]))


def test_monitoring_windows_by_sessions_and_or_event_time():
    cfg = load_config(
        environ={"SILOCOMPRO__MONITORING__WINDOW_MINUTES": "null", "SILOCOMPRO__MONITORING__SAMPLE": "0.25"}
    )
    assert (cfg.monitoring.window.sessions, cfg.monitoring.window.period_ms, cfg.monitoring.window.sample) == (
        5000,
        None,
        0.25,
    )
    assert (
        load_config(
            environ={}, overrides=parse_set_flags(["monitoring.window_minutes=0.5"])
        ).monitoring.window.period_ms
        == 30_000
    )
    with pytest.raises(ConfigError, match="set at least one"):
        load_config(
            environ={}, overrides=parse_set_flags(["monitoring.window_sessions=null", "monitoring.window_minutes=null"])
        )


def test_bad_set_flag_and_missing_file():
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_set_flags(["novalue"])
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent.yaml", environ={})


def test_token_from_env_or_file_and_errors_never_show_it(tmp_path):
    cfg = load_config(environ={})
    assert read_token(cfg, {"SILOCOMPRO_TOKEN": "abc123"}) == "abc123"
    token_file = tmp_path / "token"
    token_file.write_text("s3cr3t-value\n")
    assert read_token(cfg, {"SILOCOMPRO_TOKEN_FILE": str(token_file)}) == "s3cr3t-value"
    with pytest.raises(ConfigError, match="no experiment token"):
        read_token(cfg, {})
    with pytest.raises(ConfigError) as err:
        read_token(cfg, {"SILOCOMPRO_TOKEN": 'bad "quoted" s3cr3t'})
    assert "s3cr3t" not in str(err.value)
