"""benchmarks/history.jsonl as a table: docs/performance-history.md, the figures the prose
links to instead of repeating them.

    python -m benchmarks.history        (a full `make bench` rewrites it too)
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
HISTORY = HERE / "history.jsonl"
TABLE = HERE.parent / "docs" / "performance-history.md"

# (column, how to read it from a history line); a figure a run did not measure is blank
COLUMNS = (
    ("run", lambda r: r["time"]),
    ("commit", lambda r: r["commit"]),
    ("load 1m", lambda r: r["load_average_1m"]),
    (
        "compiled vs pypmml, per record / batched",
        lambda r: f"{r['scoring_speedup']['compiled per-record']}x / {r['scoring_speedup']['compiled batched']}x",
    ),
    ("parse vs general parser", lambda r: " / ".join(f"{v}x" for v in r.get("parse_speedup", {}).values())),
    ("JVM parse µs", lambda r: " / ".join(str(v) for v in r.get("parse_jvm_us", {}).values())),
    ("p1 sessions/s", lambda r: r["p1"]["sessions_per_s"]),
    ("pass-through", lambda r: r["p1"]["ceiling_sessions_per_s"]),
    ("peer", lambda r: r["p1"].get("peer_sessions_per_s")),
    ("p99 ms at 300/s", lambda r: r["p1"].get("p99_ms_at_target")),
    ("peer p99 ms at 300/s", lambda r: r["p1"].get("peer_p99_ms_at_target")),
    ("catch-up/s", lambda r: r["p1"].get("catch_up_sessions_per_s")),
    ("wrong", lambda r: r["p1"].get("mismatched")),
    ("p2 sessions/s", lambda r: r.get("p2", {}).get("sessions_per_s")),
    ("monitoring (throughput x)", lambda r: monitoring(r)),
)


def monitoring(line: dict) -> str:
    if "monitoring_throughput_ratio" in line:
        return ", ".join(f"{name} {ratio}" for name, ratio in line["monitoring_throughput_ratio"].items())
    ratio = line["p1"].get("monitoring_capacity_ratio")
    return "" if ratio is None else f"every session {ratio} (ramp)"


def cell(read, line: dict) -> str:
    try:
        value = read(line)
    except KeyError:
        return ""
    if value is None:
        return ""
    return f"{value:,.0f}" if isinstance(value, float) and value >= 100 else str(value)


def render(lines: list[dict]) -> str:
    out = [
        "# Performance history",
        "",
        "Generated from `benchmarks/history.jsonl` by `python -m benchmarks.history` (a full",
        "`make bench` appends a line and rewrites this page). Method and reading:",
        "[performance](performance.md). Runs before commit ced5061 were taken on tansu with the",
        "sparse traffic profile.",
        "",
        "| " + " | ".join(name for name, _ in COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    out += ["| " + " | ".join(cell(read, line) for _, read in COLUMNS) + " |" for line in lines]
    return "\n".join(out) + "\n"


def write() -> Path:
    lines = [json.loads(text) for text in HISTORY.read_text().splitlines() if text.strip()]
    TABLE.write_text(render(lines))
    return TABLE


if __name__ == "__main__":
    print(f"wrote {write()}")
