"""The benchmark's ceiling: the job's Kafka sources, parsers and sinks with nothing between.

    python -m benchmarks.passthrough [--set section.key=value ...]

Both topics are read and every message parsed, as the decision job does; each historic
message is echoed at once as a contract-shaped prediction keyed by its uuid (no join, no
state, no model), so what it sustains and how fast it answers is what PyFlink, the
connector and the broker cost on this machine. One echo per session, like the decision
job's one decision, so both put the same load on the broker.
"""

from __future__ import annotations

import argparse
import sys

from pyflink.common import Row
from pyflink.datastream.functions import CoFlatMapFunction

from job import outputs
from job.config import ConfigError, load_config, parse_set_flags, read_token
from job.pipeline import Outputs, attach_kafka, keyed_row_type, make_environment, parse_both


class EchoHistoric(CoFlatMapFunction):
    """The demographic half is parsed and dropped here, so that both topics cost what they
    cost the decision job up to its join (one Python call per record, as the join's)."""

    def __init__(self, token: str):
        self.token = token

    def flat_map1(self, row):
        return ()

    def flat_map2(self, row):
        uuid = row[0]
        yield Row(str(uuid), outputs.prediction(uuid, 1, self.token))


def build_passthrough(demographic, historic, cfg, token):
    demo, hist, rejected = parse_both(demographic, historic, cfg)
    echoed = demo.connect(hist).flat_map(EchoHistoric(token), output_type=keyed_row_type()).name("echo").uid("echo")
    return Outputs(echoed, rejected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(overrides=parse_set_flags(args.set))
        token = read_token(cfg)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    env = make_environment(cfg)
    attach_kafka(env, cfg, lambda demo, hist, _control: build_passthrough(demo, hist, cfg, token))
    env.execute(f"{cfg.flink.job_name}-passthrough")
    return 0


if __name__ == "__main__":
    sys.exit(main())
