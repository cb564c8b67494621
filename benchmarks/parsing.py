"""The parsers on the same messages, in one run: the JVM's (what the job runs), Python's
fast path and the general parser.

    python -m benchmarks --parsing-only

The messages are local.traffic's: specification-shaped histories (every key, repeats,
shuffled) in each quote style, the idealised sparse profile, and demographics. Each
message set is timed through ``parse_*`` (job/shapes.py first, the general parser for
the rest) and through ``general_*`` alone, the two taking turns on slices of the set, a
speed being that of the median slice (as in benchmarks/scoring.py); every message's two
results are compared as well, so the speed-up is only reported next to its parity. The
JVM's parser (jvm/records Shapes, which the job runs in its sources' tasks) is timed
inside its own JVM on the same messages (median of as many rounds, after 50,000 calls
of warm-up for the JIT, as a TaskManager's is warm), with the count of messages it leaves to Python; the parity of
its records is tests/unit/test_jvm_shapes.py's.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Callable

from job.config import load_config
from job.inputs import Parsed, general_demographic, general_historic, parse_demographic, parse_historic
from local.jvm_shapes import JvmShapes
from local.traffic import SPARSE, customers, demographic_message, historic_message

LIMIT = 65536  # parsing.max_message_bytes in conf/job.yaml
ROUNDS = 5
Parse = Callable[[bytes, int], Parsed]


def message_sets(count: int, seed: int) -> dict[str, tuple[list[bytes], Parse, Parse]]:
    """name → (messages, parse, general). traffic writes each message in one quote style,
    so its first quote tells the style."""
    people, rng = customers(count, seed=seed, uuid_base=1_000_000), random.Random(seed)
    histories = [historic_message(customer, rng) for customer in people]
    return {
        "historic, specification, literal": (
            [m for m in histories if m.startswith(b"{'")],
            parse_historic,
            general_historic,
        ),
        "historic, specification, JSON": (
            [m for m in histories if m.startswith(b'{"')],
            parse_historic,
            general_historic,
        ),
        "historic, sparse (idealised)": (
            [historic_message(c, rng, SPARSE) for c in people],
            parse_historic,
            general_historic,
        ),
        "demographic": ([demographic_message(c, rng) for c in people], parse_demographic, general_demographic),
    }


def run(count: int = 2000, seed: int = 0, rounds: int = ROUNDS) -> dict:
    """{"sets": [{"messages", "count", "mean_bytes", "general_us", "fast_us", "speedup", "differences",
    "jvm_us", "jvm_left_to_python"}]}."""
    load_before = os.getloadavg()[0]
    results = []
    jvm = JvmShapes(load_config(environ={}).flink.operator_jar)
    for name, (payloads, parse, general) in message_sets(count, seed).items():
        slices = [payloads[i::rounds] for i in range(rounds)]
        for variant in (parse, general):
            variant(payloads[0], LIMIT)  # warm up
        timings: dict[Parse, list[float]] = {parse: [], general: []}
        for batch in slices:
            for variant in timings:
                timings[variant].append(_us_per_message(variant, batch))
        general_us, fast_us = statistics.median(timings[general]), statistics.median(timings[parse])
        jvm_us, left = jvm.time("demographic" if parse is parse_demographic else "historic", payloads, rounds)
        results.append(
            {
                "messages": name,
                "count": len(payloads),
                "mean_bytes": round(sum(map(len, payloads)) / len(payloads)),
                "general_us": general_us,
                "fast_us": fast_us,
                "speedup": general_us / fast_us,
                "differences": sum(parse(p, LIMIT) != general(p, LIMIT) for p in payloads),
                "jvm_us": jvm_us,
                "jvm_left_to_python": left,
            }
        )
    jvm.close()
    return {
        "customers": count,
        "seed": seed,
        "rounds": rounds,
        "sets": results,
        "load_average_1m": [load_before, os.getloadavg()[0]],
    }


def _us_per_message(parse: Parse, payloads: list[bytes]) -> float:
    started = time.perf_counter()
    for payload in payloads:
        parse(payload, LIMIT)
    return (time.perf_counter() - started) / len(payloads) * 1e6


def table(report: dict) -> str:
    lines = [
        f"local.traffic messages for {report['customers']} customers (seed {report['seed']}) in "
        f"{report['rounds']} interleaved slices, median slice; general = the general parser alone, "
        "parse = fast path first, jvm = the job's parser (left: messages it leaves to Python); load average (1 min) "
        + " -> ".join(f"{x:.2f}" for x in report["load_average_1m"]),
        f"{'messages':<36}{'count':>6}{'bytes':>7}{'general us':>12}{'parse us':>10}{'speed-up':>10}{'differ':>8}"
        f"{'jvm us':>8}{'left':>6}",
    ]
    for r in report["sets"]:
        lines.append(
            f"{r['messages']:<36}{r['count']:>6}{r['mean_bytes']:>7}{r['general_us']:>12.1f}"
            f"{r['fast_us']:>10.1f}{r['speedup']:>9.1f}x{r['differences']:>8}{r['jvm_us']:>8.2f}{r['jvm_left_to_python']:>6}"
        )
    return "\n".join(lines)
