"""`make bench`: scoring engines, the parser, then the job end to end against its pass-through ceiling.

    python -m benchmarks [--quick | --scoring-only | --parsing-only | --monitoring-only | --scenarios-only]
                         [--set section.key=value ...]

Everything is measured in one run on this machine and reported as ratios (to pypmml per
record, to the general parser, to the pass-through job), because absolute numbers move with whatever else the
machine does (the load average is recorded with each run). Results go to
benchmarks/results/<time>.json and .png (not committed); a full run also appends one
summary line to benchmarks/history.jsonl and replaces benchmarks/latest.png (both
committed), so a change can be compared with the runs before it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from benchmarks import broker, endtoend, history, parsing, scenarios, scoring  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS, HISTORY, LATEST = HERE / "results", history.HISTORY, HERE / "latest.png"


def machine() -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout
    return {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "commit": commit.strip(),
    }


def summary(report: dict) -> dict:
    """The history line: the figures the performance targets are stated in."""
    engines = {e["engine"]: e for e in report["scoring"]["engines"]}
    line = {
        "time": report["time"],
        "commit": report["machine"]["commit"],
        "load_average_1m": round(report["machine"]["load_average"][0], 2),
        "scoring_speedup": {name: round(e["speedup"], 1) for name, e in engines.items()},
        # the compiled engine's parity; pypmml's DataFrame call rounds inputs (scoring.py)
        "scoring_max_abs_difference": max(
            e["max_abs_difference"] for name, e in engines.items() if name.startswith("compiled")
        ),
        "parse_speedup": {r["messages"]: round(r["speedup"], 1) for r in report["parsing"]["sets"]},
        "parse_differences": sum(r["differences"] for r in report["parsing"]["sets"]),
        "parse_jvm_us": {r["messages"]: round(r["jvm_us"], 2) for r in report["parsing"]["sets"]},
    }
    line["broker_p50_ms_first_last_quarter"] = [
        round(report["broker"][part]["p50"], 1) for part in ("first_quarter", "last_quarter")
    ]
    for run in report["endtoend"]["runs"]:
        p = run["parallelism"]
        figures = {
            "sessions_per_s": run["decision"]["capacity"],
            "ceiling_sessions_per_s": run["passthrough"]["capacity"],
            "capacity_ratio": run["ratios"]["capacity"],
            "p99_ms_at_50pct": run["decision"]["loads"][1]["p99"],
            "ceiling_p99_ms_at_50pct": run["passthrough"]["loads"][1]["p99"],
            "p99_ratio_at_50pct": run["ratios"]["p99_at_50pct"],
            "p99_ms_at_target": run["decision"]["loads"][-1]["p99"],
            "catch_up_sessions_per_s": run["decision"]["backlog"]["catch_up_sessions_per_s"],
            "mismatched": endtoend.wrong(run["decision"]),
        }
        if "peer" in run:
            figures.update(
                {
                    "peer_sessions_per_s": run["peer"]["capacity"],
                    "peer_capacity_ratio": run["peer_ratios"]["capacity"],
                    "peer_p99_ms_at_target": run["peer"]["loads"][-1]["p99"],
                    "peer_catch_up_ratio": run["peer_ratios"]["catch_up"],
                }
            )
        line[f"p{p}"] = {k: None if v != v else round(v, 2) for k, v in figures.items()}  # NaN: not measured
    cost = report["endtoend"]["monitoring"]["cost"]
    line["monitoring_throughput_ratio"] = {
        name: round(cost[f"{name}: throughput"]["median"], 3) for name in endtoend.MONITORING if name != "off"
    }
    return line


def plot(report: dict, path: Path) -> None:
    """Top: scoring, and latency against the offered rate per parallelism; bottom: the
    broker's CPU during each load, and the 50 % load second by second, to tell a few
    pauses from a drift."""
    engines = report["scoring"]["engines"]
    runs = report["endtoend"]["runs"]
    kinds = ((endtoend.DECISION, "tab:blue"), (endtoend.PASSTHROUGH, "0.5"), (endtoend.PEER, "tab:orange"))
    fig, axes = plt.subplots(2, 1 + len(runs), figsize=(5 + 4.5 * len(runs), 7.5), squeeze=False)
    ax = axes[0][0]
    ax.barh([e["engine"] for e in engines], [e["us_per_record"] for e in engines], color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("µs per record (log)")
    ax.set_title("Scoring engines\nsame PMML and records", fontsize=10)
    for y, e in enumerate(engines):
        ax.annotate(
            f"{e['speedup']:.1f}x",
            (e["us_per_record"], y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax = axes[1][0]
    markers = {endtoend.DECISION: "o-", endtoend.PASSTHROUGH: "s--", endtoend.PEER: "^:"}
    for run in runs:
        for kind in (kind for kind, _ in kinds if kind in run):
            loads = run[kind]["loads"]
            ax.plot(
                [load["rate"] for load in loads],
                [load["broker_cores"] for load in loads],
                markers[kind],
                label=f"{kind} p{run['parallelism']}",
            )
    ax.set_xlabel("sessions/s offered")
    ax.set_ylabel("cores")
    ax.set_title("The local broker's CPU during each load")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    for column, run in enumerate(runs, 1):
        ax = axes[0][column]
        for kind, colour in ((kind, colour) for kind, colour in kinds if kind in run):
            loads = sorted(run[kind]["loads"], key=lambda load: load["rate"])
            rates = [load["rate"] for load in loads]
            ax.plot(rates, [load["p50"] for load in loads], "o--", color=colour, label=f"{kind} p50")
            ax.plot(rates, [load["p99"] for load in loads], "o-", color=colour, label=f"{kind} p99")
        ax.set_yscale("log")
        ax.set_xlabel("sessions/s offered")
        ax.set_ylabel("latency ms (log)")
        ax.set_title(
            f"parallelism {run['parallelism']}: capacity {run['decision']['capacity']:,.0f}/s\n"
            f"pass-through {run['passthrough']['capacity']:,.0f}/s"
            + (f", peer {run['peer']['capacity']:,.0f}/s" if "peer" in run else ""),
            fontsize=10,
        )
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax = axes[1][column]
        for kind, colour in ((kind, colour) for kind, colour in kinds if kind in run):
            load = run[kind]["loads"][1]
            seconds, p50, worst = zip(*load["timeline"]) if load.get("timeline") else ((), (), ())
            ax.plot(seconds, p50, "--", color=colour, label=f"{kind} p50")
            ax.plot(seconds, worst, "-", color=colour, label=f"{kind} max")
        ax.set_yscale("log")
        ax.set_xlabel("second of the load")
        ax.set_ylabel("latency ms (log)")
        ax.set_title(f"parallelism {run['parallelism']}, 50 % load ({run['decision']['loads'][1]['rate']:,.0f}/s)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="parallelism 1 only, smaller loads (a smoke run)")
    parser.add_argument("--scoring-only", action="store_true", help="the scoring engines only (~30 s, a smoke run)")
    parser.add_argument("--parsing-only", action="store_true", help="the parser only (~20 s, a smoke run)")
    parser.add_argument(
        "--monitoring-only",
        action="store_true",
        help="model monitoring's cost only: backlog drains without it, on a tenth and on every "
        "session, three rounds, parallelism 1 (~15 min)",
    )
    parser.add_argument(
        "--scenarios-only",
        action="store_true",
        help="issue 16's six scenarios on a standalone cluster, the peer beside (~15 min)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a job setting for both jobs of the end-to-end part",
    )
    args = parser.parse_args(argv)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    report = {"time": stamp, "machine": machine()}
    only = [part for part in ("scoring", "parsing", "monitoring", "scenarios") if getattr(args, f"{part}_only")]
    parts = set(only) or {"scoring", "parsing", "endtoend"}
    if "monitoring" in parts:
        with endtoend.private_broker() as (kafka, workdir):
            report["monitoring"] = endtoend.monitoring_run(kafka.bootstrap, workdir, endtoend.progress, tuple(args.set))
        print(
            "model monitoring (decision p1, backlog drains in turns): "
            + endtoend.monitoring_line(report["monitoring"]["cost"])
        )
    if "scenarios" in parts:
        report["scenarios"] = scenarios.run()
        print(scenarios.table(report["scenarios"]), flush=True)
    if "scoring" in parts:
        print("scoring engines (benchmarks/scoring.py)", flush=True)
        report["scoring"] = scoring.run()
        print(scoring.table(report["scoring"]), flush=True)
    if "parsing" in parts:
        print("\nparsing (benchmarks/parsing.py)", flush=True)
        report["parsing"] = parsing.run()
        print(parsing.table(report["parsing"]), flush=True)
    if "endtoend" in parts:
        print("\nthe local broker alone (benchmarks/broker.py)", flush=True)
        report["broker"] = broker.run(seconds=10.0 if args.quick else 30.0)
        print(broker.line(report["broker"]), flush=True)
        print("\nend to end (benchmarks/endtoend.py)", flush=True)
        report["endtoend"] = endtoend.run(
            (1,) if args.quick else (1, 2),
            3000 if args.quick else 6000,
            10.0 if args.quick else 30.0,
            settings=tuple(args.set),
            **({"monitoring_repeats": 1, "monitoring_sessions": 3000} if args.quick else {}),
        )
        print(endtoend.table(report["endtoend"]))
    report["machine"]["load_average_after"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2))
    if "endtoend" not in parts:  # a part alone: no plot, no history line
        print(f"\nresults: {RESULTS / stamp}.json")
        return 0
    plot(report, RESULTS / f"{stamp}.png")
    if not args.quick:
        with HISTORY.open("a") as fh:
            fh.write(json.dumps(summary(report)) + "\n")
        history.write()
        shutil.copy(RESULTS / f"{stamp}.png", LATEST)
    print(f"\nresults: {RESULTS / stamp}.json and .png" + ("" if args.quick else f"; history: {HISTORY}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
