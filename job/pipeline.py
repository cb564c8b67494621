"""The job's data flow; the only module that knows Kafka.

``build_decisions`` is the whole logic on plain string streams (tests feed it with
``from_collection``); ``attach_kafka`` puts Kafka sources and sinks around it.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Callable

from pyflink.common import Configuration, Row, Types, WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import DataStream, OutputTag, StreamExecutionEnvironment
from pyflink.datastream.connectors.kafka import KafkaOffsetResetStrategy, KafkaOffsetsInitializer, KafkaSource
from pyflink.datastream.functions import MapFunction, ProcessFunction, RuntimeContext
from pyflink.table import StreamTableEnvironment

from job import kafka_compat, messages
from job.config import Config, worker_pythonpath
from job.decision import decide
from job.join import SessionJoin
from job.model import ModelSpec, open_scorer
from job.records import Rejection, parse_demographic, parse_historic
from job.schema import feature_row
from job.sessions import JoinedSession


def keyed_row_type():
    """(k, v) rows: Kafka key and value. Built per use: a TypeInformation that a source or
    operator already used cannot be pickled into another function (PyFlink 2.0)."""
    return Types.ROW_NAMED(["k", "v"], [Types.STRING(), Types.STRING()])


class ParseMessages(ProcessFunction):
    """Wire text → record; anything invalid → dead-letter side output with its reason."""

    def __init__(self, source_topic: str, parse, max_bytes: int, dead_letters: OutputTag):
        self.source_topic = source_topic
        self.parse = parse
        self.max_bytes = max_bytes
        self.dead_letters = dead_letters

    def open(self, runtime_context: RuntimeContext):
        metrics = runtime_context.get_metrics_group()
        self.accepted = metrics.counter("messages_accepted")
        self.rejected = metrics.counter("messages_dead_lettered")

    def process_element(self, value, ctx):
        payload = messages.from_wire(value)
        parsed = self.parse(payload, self.max_bytes)
        if isinstance(parsed, Rejection):
            self.rejected.inc()
            letter = messages.dead_letter(self.source_topic, payload, parsed, self.max_bytes, int(time.time() * 1000))
            yield self.dead_letters, Row(self.source_topic, letter)
        else:
            self.accepted.inc()
            yield parsed


class Decide(MapFunction):
    """Joined session → features → P(buy) → 0/1 → the prediction message."""

    def __init__(self, spec: ModelSpec, token: str, on_timeout: str, safe_default: int):
        self.spec = spec
        self.token = token
        self.on_timeout = on_timeout
        self.safe_default = safe_default

    def open(self, runtime_context: RuntimeContext):
        self.scorer = open_scorer(self.spec)
        metrics = runtime_context.get_metrics_group()
        self.decided = metrics.counter("decisions")
        self.shown = metrics.counter("decisions_shown")
        self.failed = metrics.counter("scoring_errors")

    def map(self, session: JoinedSession):
        value = self._value(session)
        self.decided.inc()
        if value:
            self.shown.inc()
        return Row(str(session.uuid), messages.prediction(session.uuid, value, self.token))

    def _value(self, session: JoinedSession) -> int:
        if session.timed_out and self.on_timeout == "default":
            return self.safe_default
        row = feature_row(
            session.demographic.features() if session.demographic else None,
            session.historic.features() if session.historic else None,
        )
        try:
            probability = self.scorer.score(row)
        except Exception:  # a record the engine cannot score gets the safe default, never a crash
            probability = math.nan
        if math.isnan(probability):  # failed, or the model predicts nothing for this record
            self.failed.inc()
        return decide(probability, self.spec.threshold, self.safe_default)

    def close(self):
        self.scorer.close()


def parse_both(demographic: DataStream, historic: DataStream, cfg: Config) -> tuple[DataStream, DataStream, DataStream]:
    """Wire text → (demographic records, historic records, dead letters as (key, value) rows)."""
    dead_letters = OutputTag("dead-letters", keyed_row_type())
    topics = cfg.kafka.topics

    def parsed(stream: DataStream, topic: str, parse) -> DataStream:
        return stream.process(
            ParseMessages(topic, parse, cfg.max_message_bytes, dead_letters),
            output_type=Types.PICKLED_BYTE_ARRAY(),
        ).name(f"parse {topic}").uid(f"parse-{topic}")

    demo = parsed(demographic, topics.demographic, parse_demographic)
    hist = parsed(historic, topics.historic, parse_historic)
    return demo, hist, demo.get_side_output(dead_letters).union(hist.get_side_output(dead_letters))


def build_decisions(
    demographic: DataStream, historic: DataStream, cfg: Config, spec: ModelSpec, token: str
) -> tuple[DataStream, DataStream]:
    """Wire-text streams → (predictions, dead letters), both as (key, value) rows."""
    demo, hist, rejected = parse_both(demographic, historic, cfg)
    joined = (
        demo.key_by(lambda r: r.uuid, key_type=Types.LONG())
        .connect(hist.key_by(lambda r: r.uuid, key_type=Types.LONG()))
        .process(SessionJoin(cfg.join.timeout_ms, cfg.join.state_ttl_ms), output_type=Types.PICKLED_BYTE_ARRAY())
        .name("join sessions")
        .uid("join-sessions")
    )
    predictions = joined.map(
        Decide(spec, token, cfg.join.on_timeout, cfg.model.safe_default), output_type=keyed_row_type()
    ).name("score and decide").uid("score-and-decide")
    return predictions, rejected


def make_environment(cfg: Config) -> StreamExecutionEnvironment:
    conf = Configuration()
    conf.set_string("python.execution-mode", cfg.flink.python_execution_mode)
    if "PYFLINK_GATEWAY_PORT" not in os.environ:
        # Started with `python -m job.main`: a local MiniCluster whose Python is this venv.
        # Under `flink run` the cluster's config.yaml names the TaskManagers' Python.
        conf.set_string("python.executable", sys.executable)
        conf.set_string("python.client.executable", sys.executable)
        conf.set_string("python.pythonpath", worker_pythonpath())
    for key, value in cfg.flink.properties.items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(cfg.flink.parallelism)
    env.enable_checkpointing(cfg.flink.checkpoint_interval_ms)
    return env


def kafka_source(cfg: Config, topic: str) -> KafkaSource:
    """Committed group offsets, earliest on first start; raw bytes via ISO-8859-1."""
    builder = (
        KafkaSource.builder()
        .set_bootstrap_servers(cfg.kafka.bootstrap_servers)
        .set_topics(topic)
        .set_group_id(cfg.kafka.group_id)
        .set_starting_offsets(KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST))
        .set_value_only_deserializer(SimpleStringSchema(messages.WIRE_CHARSET))
        .set_property("commit.offsets.on.checkpoint", "true")
    )
    for key, value in cfg.kafka.consumer_properties().items():
        builder.set_property(key, value)
    return builder.build()


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sink_table_ddl(name: str, cfg: Config, topic: str) -> str:
    """A Kafka table keyed by column k. The DataStream KafkaSink of PyFlink can only
    derive a key from the whole element; the SQL connector's key.fields can key by uuid."""
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": cfg.kafka.bootstrap_servers,
        "key.format": "raw",
        "key.fields": "k",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
        "sink.delivery-guarantee": "at-least-once",
        **{f"properties.{k}": v for k, v in cfg.kafka.producer_properties().items()},
    }
    body = ",\n  ".join(f"{_sql_string(k)} = {_sql_string(v)}" for k, v in options.items())
    return f"CREATE TEMPORARY TABLE `{name}` (k STRING, v STRING) WITH (\n  {body}\n)"


Build = Callable[[DataStream, DataStream], tuple[DataStream, DataStream]]


def attach_kafka(env: StreamExecutionEnvironment, cfg: Config, build: Build) -> None:
    """Kafka sources for the two input topics, ``build`` between them and the two sinks
    (predictions, dead letters); the benchmark's pass-through job reuses it unchanged."""
    kafka_compat.apply()
    topics = cfg.kafka.topics

    def source(topic: str) -> DataStream:
        return env.from_source(kafka_source(cfg, topic), WatermarkStrategy.no_watermarks(), topic).uid(
            f"source-{topic}"
        )

    predictions, dead_letters = build(source(topics.demographic), source(topics.historic))
    t_env = StreamTableEnvironment.create(env)
    statements = t_env.create_statement_set()
    for name, topic, stream in (
        ("predictions", topics.prediction, predictions),
        ("dead_letters", topics.dead_letter, dead_letters),
    ):
        t_env.execute_sql(sink_table_ddl(name, cfg, topic))
        statements.add_insert(name, t_env.from_data_stream(stream))
    statements.attach_as_datastream()
