"""The job's data flow; the only module that knows Kafka.

``build_decisions`` is the whole logic on plain string streams (tests feed it with
``from_collection``); ``attach_kafka`` puts Kafka sources and sinks around it.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional

from pyflink.common import Configuration, Duration, Row, Types, WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import DataStream, KeyedStream, OutputTag, StreamExecutionEnvironment
from pyflink.datastream.connectors.kafka import KafkaOffsetResetStrategy, KafkaOffsetsInitializer, KafkaSource
from pyflink.datastream.functions import ProcessFunction, RuntimeContext
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment

from job import outputs
from job.config import Config, WatermarkConfig, worker_pythonpath
from job.control import model_id
from job.inputs import Rejection, general_demographic, general_historic
from job.join import SessionJoin
from job.model import ModelSpec
from job.monitor import MonitorModels
from job.monitoring.profile import Profile
from job.serving import ServeModels, decision_row_type, registry_descriptor
from job.sessions import Rules

CONTROL_FETCH_WAIT_MS = 500  # a model push reaches the job within half a second


def keyed_row_type():
    """(k, v) rows: Kafka key and value. Built per use: a TypeInformation that a source or
    operator already used cannot be pickled into another function (PyFlink 2.0)."""
    return Types.ROW_NAMED(["k", "v"], [Types.STRING(), Types.STRING()])


class ParseMessages(ProcessFunction):
    """Wire text that the JVM parser did not recognise → (uuid, record columns) rows as the
    JVM parser writes them; anything invalid → dead-letter side output with its reason."""

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
        payload = outputs.from_wire(value)
        parsed = self.parse(payload, self.max_bytes)
        if isinstance(parsed, Rejection):
            self.rejected.inc()
            letter = outputs.dead_letter(self.source_topic, payload, parsed, self.max_bytes, int(time.time() * 1000))
            yield self.dead_letters, Row(self.source_topic, letter)
        else:
            self.accepted.inc()
            yield Row(parsed.uuid, Row(*parsed.columns()))


JVM_PARSER = "com.silocompro.targeting.records.ParseHalves"


def record_type(side: str):
    """The columns of one half's record (job/inputs.py ``columns``), as both parsers write them."""
    if side == "demographic":
        return Types.ROW_NAMED(
            ["uuid", "age", "man", "woman"], [Types.LONG(), Types.DOUBLE(), Types.INT(), Types.INT()]
        )
    return Types.ROW_NAMED(["uuid", "low", "high"], [Types.LONG(), Types.LONG(), Types.LONG()])


def keyed_type(side: str):
    """(uuid, record) rows: the shape PyFlink's own key_by gives a keyed operator's input."""
    return Types.ROW([Types.LONG(), record_type(side)])


def parse_both(demographic: DataStream, historic: DataStream, cfg: Config) -> tuple[DataStream, DataStream, DataStream]:
    """Wire text → (demographic (uuid, record) rows, historic ones, dead letters as (key,
    value) rows).

    The common shapes are parsed on the JVM (jvm/records ``ParseHalves``, job/shapes.py's
    rules), chained to the source: no Python call for them, and the GIL is left to the join
    and the scorer. The rest (rare: other spellings, and every invalid message) goes to the
    Python parser, which alone decides rejections; both write the same rows, merged here."""
    topics = cfg.kafka.topics
    gateway = get_gateway()
    parser = getattr(gateway.jvm, JVM_PARSER)
    general = {"demographic": general_demographic, "historic": general_historic}

    def parsed(stream: DataStream, topic: str, side: str) -> tuple[DataStream, DataStream]:
        # A tag per side: a tag whose type a side output already used cannot be pickled again.
        dead_letters = OutputTag(f"dead-letters-{side}", keyed_row_type())
        common = DataStream(
            stream._j_data_stream.process(parser(side, cfg.max_message_bytes), keyed_type(side).get_java_type_info())
        )
        common.name(f"parse {topic}").uid(f"parse-{topic}")
        rest = (
            DataStream(common._j_data_stream.getSideOutput(parser.UNRECOGNISED))
            .process(
                ParseMessages(topic, general[side], cfg.max_message_bytes, dead_letters), output_type=keyed_type(side)
            )
            .name(f"parse {topic} (general)")
            .uid(f"parse-{topic}-general")
            # Not chained to its source: a chained operator's time counts against the
            # source's idleness (FLINK-40234), so a flood of odd messages parsed slowly in
            # Python got a split with records waiting in the source marked idle and the
            # join's watermark ran past them. In its own task the source sees back-pressure
            # instead, which pauses idleness; a fetch that arrives late still counts
            # (docs/join.md: idleness stays well above it).
            .start_new_chain()
        )
        return common.union(rest), rest.get_side_output(dead_letters)

    demo, demo_rejected = parsed(demographic, topics.demographic, "demographic")
    hist, hist_rejected = parsed(historic, topics.historic, "historic")
    return demo, hist, demo_rejected.union(hist_rejected)


def by_uuid(stream: DataStream, side: str) -> KeyedStream:
    """(uuid, record) rows keyed by their first column on the JVM, as PyFlink's key_by keys
    the rows its Python key selector writes: no Python call per record before the join."""
    keyed = stream._j_data_stream.keyBy(
        get_gateway().jvm.KeyByKeySelector(), Types.ROW([Types.LONG()]).get_java_type_info()
    )
    return KeyedStream(keyed, record_type(side), stream)


@dataclass(frozen=True)
class Outputs:
    """What a job writes, each a stream of (k, v) rows for the topic of the same role
    (``Topics``).
    Rows with model_name and model_version columns too are written with those as Kafka
    headers (``HEADERS``), the value untouched."""

    prediction: DataStream
    dead_letter: DataStream
    model_status: Optional[DataStream] = None
    shadow_scores: Optional[DataStream] = None
    model_monitoring: Optional[DataStream] = None


# Kafka header of each prediction → the column of the decision row it carries (UTF-8).
HEADERS = {outputs.MODEL_NAME_HEADER: "model_name", outputs.MODEL_VERSION_HEADER: "model_version"}


def build_decisions(
    demographic: DataStream,
    historic: DataStream,
    control: DataStream,
    cfg: Config,
    spec: ModelSpec,
    token: str,
    reference: Optional[Profile] = None,
) -> Outputs:
    """Wire-text streams (the two halves and model control messages) → what the job writes.
    ``reference``: the profile live monitoring compares with (none: no monitoring)."""
    demo, hist, rejected = parse_both(demographic, historic, cfg)
    joined = (
        by_uuid(demo, "demographic")
        .connect(by_uuid(hist, "historic"))
        .process(
            SessionJoin(Rules(cfg.join.timeout_ms, cfg.join.valve_ms), cfg.join.state_ttl_ms),
            output_type=Types.PICKLED_BYTE_ARRAY(),
        )
        .name("join sessions")
        .uid("join-sessions")
    )
    status, shadow = OutputTag("model-status", keyed_row_type()), OutputTag("shadow-scores", keyed_row_type())
    monitored = cfg.monitoring.enabled and reference is not None
    samples = OutputTag("monitoring-samples", Types.PICKLED_BYTE_ARRAY()) if monitored else None
    serve = ServeModels(
        spec,
        cfg.model.pmml,
        token,
        cfg.join.on_timeout,
        cfg.model.safe_default,
        cfg.models.routing_salt,
        status,
        shadow,
        samples,
        cfg.monitoring.window.sample,
    )
    predictions = (
        joined.connect(control.broadcast(registry_descriptor()))
        .process(serve, output_type=decision_row_type())
        .name("score and decide")
        .uid("score-and-decide")
    )
    windows = None
    if monitored:
        scored_by = model_id(spec.name, spec.version) if reference.pmml_sha256 == spec.pmml_sha256 else None
        windows = (
            predictions.get_side_output(samples)
            .key_by(lambda sample: sample.model, key_type=Types.STRING())
            .process(
                MonitorModels(reference, cfg.monitoring.window, cfg.monitoring.thresholds, scored_by),
                output_type=keyed_row_type(),
            )
            .name("monitor models")
            .uid("monitor-models")
        )
    return Outputs(
        predictions, rejected, predictions.get_side_output(status), predictions.get_side_output(shadow), windows
    )


ALIGNMENT_GROUP = "session-halves"


def event_time(marks: WatermarkConfig) -> WatermarkStrategy:
    """Watermarks for one input's event time: bounded out-of-orderness, and idleness so a
    partition without records does not hold the join's watermark back. Without a timestamp
    assigner the records' own timestamps are event time (a KafkaSource's: the Kafka record
    timestamps, when the enrichment pipelines wrote them)."""
    return WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(marks.out_of_orderness_ms)).with_idleness(
        Duration.of_millis(marks.idleness_ms)
    )


def source_watermarks(cfg: Config, topic: str) -> WatermarkStrategy:
    """The two halves' sources are aligned in one group, so during a catch-up neither
    reads far ahead of the other. The control topic carries no event time: it is
    broadcast to scoring, after the join, where nothing uses watermarks, and it must
    neither pause nor be paused by the halves' sources."""
    if topic == cfg.kafka.topics.model_control:
        return WatermarkStrategy.no_watermarks()
    marks = cfg.join.watermarks
    return event_time(marks).with_watermark_alignment(
        ALIGNMENT_GROUP, Duration.of_millis(marks.max_drift_ms), Duration.of_millis(marks.alignment_update_ms)
    )


def make_environment(cfg: Config) -> StreamExecutionEnvironment:
    conf = Configuration()
    conf.set_string("python.execution-mode", cfg.flink.python_execution_mode)
    if "PYFLINK_GATEWAY_PORT" not in os.environ:
        # Started with `python -m job.main`: a local MiniCluster whose Python is this venv.
        # Under `flink run` the cluster's config.yaml names the TaskManagers' Python.
        conf.set_string("python.executable", sys.executable)
        conf.set_string("python.client.executable", sys.executable)
        conf.set_string("python.pythonpath", worker_pythonpath())
        conf.set_string("execution.checkpointing.dir", cfg.flink.local_checkpoint_dir.resolve().as_uri())
    for key, value in cfg.flink.properties.items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    # The connector travels with the job (pipeline.jars): a MiniCluster, the local cluster
    # and a remote one all get the jar that matches this Flink, and the client's planner too.
    env.add_jars(*(jar.resolve().as_uri() for jar in (*cfg.flink.connector_jars, cfg.flink.operator_jar)))
    env.set_parallelism(cfg.flink.parallelism)
    env.enable_checkpointing(cfg.flink.checkpoint_interval_ms)
    return env


def kafka_source(cfg: Config, topic: str) -> KafkaSource:
    """Committed group offsets, earliest on first start; raw bytes via ISO-8859-1.

    The control topic is read from its start on every fresh submission, whatever its
    group committed, so the model registry is rebuilt from the whole log; after a
    restore every source resumes from its checkpointed offsets, and the registry from state.
    """
    control = topic == cfg.kafka.topics.model_control
    builder = (
        KafkaSource.builder()
        .set_bootstrap_servers(cfg.kafka.bootstrap_servers)
        .set_topics(topic)
        .set_group_id(f"{cfg.kafka.group_id}-models" if control else cfg.kafka.group_id)
        .set_starting_offsets(
            KafkaOffsetsInitializer.earliest()
            if control
            else KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST)
        )
        .set_value_only_deserializer(SimpleStringSchema(outputs.WIRE_CHARSET))
        .set_property("commit.offsets.on.checkpoint", "true")
    )
    for key, value in cfg.kafka.consumer_properties().items():
        builder.set_property(key, value)
    if control:  # a quiet topic: no need to ask it 50 times a second
        builder.set_property("fetch.max.wait.ms", str(CONTROL_FETCH_WAIT_MS))
    return builder.build()


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def delivery_options(cfg: Config, role: str) -> dict[str, str]:
    """The prediction sink's guarantee as configured; the other outputs (dead letters, model
    status, shadow scores) stay at-least-once: a repeat there is harmless, and they should
    not wait for a checkpoint. Transactional ids are per job (its group id) and per sink."""
    if role != "prediction" or cfg.kafka.delivery_guarantee == "at-least-once":
        return {"sink.delivery-guarantee": "at-least-once"}
    return {
        "sink.delivery-guarantee": "exactly-once",
        "sink.transactional-id-prefix": f"{cfg.kafka.group_id}-{role}",
        "properties.transaction.timeout.ms": str(cfg.kafka.transaction_timeout_ms),
    }


def sink_table_ddl(name: str, cfg: Config, topic: str, headers: bool = False) -> str:
    """A Kafka table keyed by column k. The DataStream KafkaSink of PyFlink can only
    derive a key from the whole element; the SQL connector's key.fields can key by uuid.
    ``headers``: a writable ``headers`` metadata column, written as the record's headers."""
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": cfg.kafka.bootstrap_servers,
        "key.format": "raw",
        "key.fields": "k",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
        **delivery_options(cfg, name),
        **{f"properties.{k}": v for k, v in cfg.kafka.producer_properties().items()},
    }
    body = ",\n  ".join(f"{_sql_string(k)} = {_sql_string(v)}" for k, v in options.items())
    columns = "k STRING, v STRING" + (", headers MAP<STRING, BYTES> METADATA" if headers else "")
    return f"CREATE TEMPORARY TABLE `{name}` ({columns}) WITH (\n  {body}\n)"


Build = Callable[[DataStream, DataStream, DataStream], Outputs]


def attach_kafka(env: StreamExecutionEnvironment, cfg: Config, build: Build) -> None:
    """Kafka sources for the input topics and the model control topic, ``build`` between
    them and a sink per output; the benchmark's pass-through job reuses it (a source that
    ``build`` does not use never becomes part of the job)."""
    topics = cfg.kafka.topics

    def source(topic: str) -> DataStream:
        return env.from_source(kafka_source(cfg, topic), source_watermarks(cfg, topic), topic).uid(f"source-{topic}")

    outputs = build(source(topics.demographic), source(topics.historic), source(topics.model_control))
    t_env = StreamTableEnvironment.create(env)
    statements = t_env.create_statement_set()
    for role, stream in vars(outputs).items():
        if stream is None:
            continue
        table = t_env.from_data_stream(stream)
        with_headers = "model_name" in table.get_schema().get_field_names()
        t_env.execute_sql(sink_table_ddl(role, cfg, getattr(topics, role), with_headers))
        if with_headers:
            t_env.create_temporary_view(f"{role}_rows", table)
            pairs = ", ".join(f"{_sql_string(h)}, ENCODE({c}, 'UTF-8')" for h, c in HEADERS.items())
            statements.add_insert_sql(f"INSERT INTO `{role}` SELECT k, v, MAP[{pairs}] FROM `{role}_rows`")
        else:
            statements.add_insert(role, table)
    statements.attach_as_datastream()
