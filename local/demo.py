"""Feed synthetic sessions to the running job and show its decisions arriving.

python -m local.demo --sessions 3000 --malformed 0.02 --rate 400
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from job.config import load_config
from local import traffic


class _Progress:
    """One line for both counts: messages are sent from a thread while decisions are read,
    so that each decision's arrival is timed when it arrives, not after the feed ends."""

    WIDTH = 20

    def __init__(self, **totals: int):
        self.totals = totals
        self.done = dict.fromkeys(totals, 0)
        self.lock = threading.Lock()

    def counter(self, name: str):
        def update(done: int) -> None:
            with self.lock:
                self.done[name] = done
                print("\r" + "  ".join(map(self._bar, self.totals)), end="", flush=True)

        return update

    def _bar(self, name: str) -> str:
        done, total = self.done[name], self.totals[name]
        filled = int(self.WIDTH * min(done, total) / max(total, 1))
        return f"{name} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}"


SPARKS = "▁▂▃▄▅▆▇█"


def latency_by_second(sent: list[float], latencies_ms: list[float], most: int = 40) -> tuple[float, list[float]]:
    """The median latency per stretch of sending (1 s, longer when the feed has more than
    ``most`` seconds) and the stretch's length: one percentile over the whole feed hides a
    fresh TaskManager's first seconds, which run while its JIT compiles (docs/performance.md)."""
    start = min(sent)
    width = max(1.0, math.ceil((max(sent) - start + 1e-9) / most))
    buckets: dict[int, list[float]] = {}
    for at, latency in zip(sent, latencies_ms):
        buckets.setdefault(int((at - start) // width), []).append(latency)
    return width, [statistics.median(buckets[i]) for i in sorted(buckets)]


def sparkline(values_ms: list[float], low: float = 10.0, high: float = 10_000.0) -> str:
    """Log scale from ``low`` to ``high`` ms: latencies span three decades."""
    span = math.log(high / low)

    def spark(value: float) -> str:
        level = math.log(min(max(value, low), high) / low) / span
        return SPARKS[min(len(SPARKS) - 1, int(level * len(SPARKS)))]

    return "".join(map(spark, values_ms))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=3000)
    parser.add_argument("--malformed", type=float, default=0.02, help="share of malformed messages")
    # ~200 sessions/s: well inside what the job sustains at parallelism 1 (make bench), so a
    # queue in the latencies printed is the job's start, not the rate
    parser.add_argument("--rate", type=float, default=400, help="messages per second (0: unthrottled)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait with no new decision")
    args = parser.parse_args(argv)

    cfg = load_config()
    topics = {traffic.DEMOGRAPHIC: cfg.kafka.topics.demographic, traffic.HISTORIC: cfg.kafka.topics.historic}
    uuid_base = int(time.time() * 1000) * 1000  # fresh uuids each run: no clash with live join state
    plan = traffic.plan_sessions(
        traffic.customers(args.sessions, args.seed, uuid_base), args.seed, args.malformed, paired=True
    )
    # From the topics' current ends: earlier runs' outputs are not this run's
    security = cfg.kafka.security.librdkafka()
    reader = traffic.TopicReader(
        cfg.kafka.bootstrap_servers, cfg.kafka.topics.prediction, from_end=True, extra=security
    )
    dead_reader = traffic.TopicReader(
        cfg.kafka.bootstrap_servers, cfg.kafka.topics.dead_letter, from_end=True, extra=security
    )

    if (
        traffic.wait_for_answer(cfg.kafka.bootstrap_servers, topics, reader, uuid_base - 1, timeout=180, extra=security)
        is None
    ):
        print(
            f"error: no decision on {cfg.kafka.topics.prediction} within 180 s: is the job running (make status)?",
            file=sys.stderr,
        )
        return 1
    print(
        f"feeding {args.sessions} sessions ({len(plan.messages)} messages, {plan.malformed} malformed) "
        f"to {cfg.kafka.bootstrap_servers}"
    )
    progress = _Progress(sent=len(plan.messages), decisions=len(plan.complete))
    with ThreadPoolExecutor(1) as pool:
        feeding = pool.submit(
            traffic.produce,
            cfg.kafka.bootstrap_servers,
            topics,
            plan.messages,
            args.rate or None,
            progress.counter("sent"),
            security,
        )
        found = traffic.collect_predictions(reader, plan.complete, args.timeout, progress.counter("decisions"))
        sent_at = feeding.result()
    progress.counter("sent")(len(plan.messages))
    print()
    dead = len(dead_reader.read_until(lambda pairs: len(pairs) >= plan.malformed, idle=10.0))
    reader.close()
    dead_reader.close()

    decided = len(found)
    duplicates = sum(len(v) - 1 for v in found.values())
    shown = sum(v[0][1]["value"] for v in found.values())
    sent = [sent_at[u] for u in found]
    latencies = [(v[0][0] - sent_at[u]) * 1000 for u, v in found.items()]
    print(f"\nsessions sent        {len(plan.complete)}")
    print(
        f"decisions received   {decided} ({decided / max(len(plan.complete), 1):.1%}), "
        f"shown {shown} ({shown / max(decided, 1):.1%}), duplicates {duplicates}"
    )
    print(f"missing decisions    {len(plan.complete) - decided}")
    print(f"malformed sent       {plan.malformed}, dead-lettered seen {dead}")
    if latencies:
        q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
        print(
            f"decision latency ms  p50 {q[49]:.0f}  p95 {q[94]:.0f}  p99 {q[98]:.0f} (last half sent → prediction read)"
        )
        width, medians = latency_by_second(sent, latencies)
        label = f"p50 per {width:.0f} s sent"
        print(
            f"{label:21}{sparkline(medians)}  {medians[0]:.0f} ms first, {medians[-1]:.0f} ms last"
            " (log scale ▁ 10 ms .. █ 10 s)"
        )
    example = next(iter(found.values()))[0][1] if found else None
    if example:
        print(f"example prediction   {json.dumps({**example, 'token': '<redacted>'})}")
    return 0 if decided == len(plan.complete) else 1


if __name__ == "__main__":
    sys.exit(main())
