"""``make monitor``: the model monitoring page, drawn from the window records on
kafka.topics.model_monitoring and the reference profile (docs/monitoring.md).

Per serving model: each field's PSI over time against the warn and alert lines, live
vs training histograms for the fields that moved in the latest window, and the score
distribution with the threshold. Written as PNGs and one HTML page under ``--out``; a
local tool, never imported by the job.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first: no display)

from job.config import REPO_ROOT, ConfigError, load_config, parse_set_flags  # noqa: E402
from job.monitoring.drift import ALERT, WARN, Thresholds  # noqa: E402
from job.monitoring.profile import Histogram, Profile, ProfileError, load_reference  # noqa: E402

MOVED_SHOWN = 3  # histograms per model: the fields that moved most in the latest window
NAMED_LINES = 8  # PSI lines drawn in colour and named: the worst that warned; the rest muted
PSI_FLOOR = 1e-4  # a log axis needs a floor; PSI below it is no drift anyone reads


def read_topic(cfg, idle: float = 3.0) -> list[dict]:
    """Every record on the monitoring topic, read until it is quiet for ``idle`` seconds."""
    from job.topic_reader import TopicReader

    reader = TopicReader(
        cfg.kafka.bootstrap_servers, cfg.kafka.topics.model_monitoring, extra=cfg.kafka.security.librdkafka()
    )
    try:
        return [json.loads(m.value()) for _, m in reader.read_until(lambda found: False, idle=idle, linger=0)]
    finally:
        reader.close()


def by_model(records: Iterable[dict]) -> dict[str, list[dict]]:
    models: dict[str, list[dict]] = {}
    for record in sorted(records, key=lambda r: r["window"]["first_ms"]):
        models.setdefault(record["model"], []).append(record)
    return models


def moved(record: dict, limit: int = MOVED_SHOWN) -> list[str]:
    """The fields that warned or alerted, worst PSI first; else the highest PSIs."""
    judged = {n: f for n, f in record["fields"].items() if f.get("psi") is not None}
    flagged = [n for n, f in judged.items() if f["status"] in (WARN, ALERT)]
    pool = flagged or list(judged)
    return sorted(pool, key=lambda n: -judged[n]["psi"])[:limit]


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _labels(histogram: Histogram) -> list[str]:
    if histogram.kind == "flag":
        return ["0", "1"]
    edges = [f"{e:.3g}" for e in histogram.edges]
    return [f"<{edges[0]}"] + [f"{a}-{b}" for a, b in zip(edges, edges[1:])] + [f">={edges[-1]}"]


def bin_position(edges: tuple[float, ...], value: float) -> float:
    """Where ``value`` falls on an axis of equally wide bars for the bins (bar i centred at
    i): interpolated inside its bin, so the threshold line sits where it cuts."""
    index = sum(1 for e in edges if e <= value)
    if index == 0 or index == len(edges):
        return index - 0.5
    low, high = edges[index - 1], edges[index]
    return index - 0.5 + (value - low) / (high - low)


def _compare_bars(ax, title: str, reference: Histogram, live_counts: list[int]) -> None:
    positions = range(reference.bins)
    ax.bar([p - 0.2 for p in positions], _shares(reference.counts), width=0.4, label="training", color="#999999")
    ax.bar([p + 0.2 for p in positions], _shares(live_counts), width=0.4, label="live", color="#1f77b4")
    ax.set_xticks(list(positions), _labels(reference), rotation=60, fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def draw_model(model: str, records: list[dict], reference: Profile, thresholds: Thresholds, path: Path) -> None:
    latest = records[-1]
    shown = moved(latest)
    fig = plt.figure(figsize=(15, 8))
    grid = fig.add_gridspec(2, MOVED_SHOWN + 1, height_ratios=[1.3, 1])
    ax = fig.add_subplot(grid[0, :])
    times = [_when(r["window"]["last_ms"]) for r in records]
    ever = {n for r in records for n, f in r["fields"].items() if f["status"] in (WARN, ALERT)}
    latest_psi = {n: f.get("psi") or 0.0 for n, f in latest["fields"].items()}
    named = set(sorted(ever, key=lambda n: -latest_psi.get(n, 0.0))[:NAMED_LINES])
    others = len(ever - named)
    for name in [*latest["fields"], "score"]:
        values = [
            max((r["score"] if name == "score" else r["fields"].get(name, {})).get("psi") or PSI_FLOOR, PSI_FLOOR)
            for r in records
        ]
        if name in named or name == "score":
            ax.plot(times, values, marker="o", linewidth=1.8, label=name, zorder=3)
        elif name in ever:  # warned at some point, but not among the worst now
            ax.plot(
                times,
                values,
                linewidth=0.7,
                color="#f4a582",
                zorder=2,
                label=f"{others} more that warned" if others and name == min(ever - named) else None,
            )
        else:
            ax.plot(times, values, linewidth=0.6, color="#cccccc", zorder=1)
    for level, style in ((thresholds.psi_warn, ":"), (thresholds.psi_alert, "--")):
        ax.axhline(level, color="black", linestyle=style, linewidth=1)
    ax.set_yscale("log")
    ax.set_ylabel("PSI (log)")
    ax.set_title(
        f"{model}: PSI per field and window (grey: never warned; dotted warn {thresholds.psi_warn:g}, "
        f"dashed alert {thresholds.psi_alert:g})",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    for i, name in enumerate(shown):
        field = latest["fields"][name]
        _compare_bars(
            fig.add_subplot(grid[1, i]),
            f"{name}: {field['status']}, PSI {field['psi']:.3f}",
            reference.fields[name],
            field["counts"],
        )
    score_ax = fig.add_subplot(grid[1, MOVED_SHOWN])
    score = latest["score"]
    if reference.score is not None and "status" in score:
        _compare_bars(
            score_ax,
            f"score: {score['status']}; shown {score['shown_share']:.1%} vs "
            f"{score['expected_shown_share']:.1%} expected",
            reference.score,
            score["counts"],
        )
        if reference.threshold is not None:
            score_ax.axvline(
                bin_position(reference.score.edges, reference.threshold),
                color="black",
                linestyle="--",
                linewidth=1,
                label=f"threshold {reference.threshold:.3f}",
            )
            score_ax.legend(fontsize=7)
    else:
        score_ax.bar(range(len(score["counts"])), _shares(score["counts"]), color="#1f77b4")
        score_ax.set_title("score (no training profile for this model)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render(records: Iterable[dict], reference: Profile, thresholds: Thresholds, out: Path) -> Path:
    """PNGs per model and an index page; returns the page."""
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for model, windows in by_model(records).items():
        image = out / f"{''.join(c if c.isalnum() else '_' for c in model)}.png"
        draw_model(model, windows, reference, thresholds, image)
        latest = windows[-1]
        parts.append(
            f"<h2>{html.escape(model)}</h2><p>{len(windows)} windows; latest "
            f"{_when(latest['window']['first_ms']):%Y-%m-%d %H:%M:%S}&ndash;"
            f"{_when(latest['window']['last_ms']):%H:%M:%S} UTC, {latest['sessions']} sessions: "
            f'<b>{html.escape(latest["status"])}</b></p><img src="{image.name}" alt="{html.escape(model)}">'
        )
    body = "".join(parts) or "<p>No window records yet: the job writes one per window (conf/job.yaml monitoring).</p>"
    page = out / "index.html"
    page.write_text(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Model monitoring</title>'
        f"<style>body{{font-family:system-ui,sans-serif;max-width:1500px;margin:1em auto}}img{{max-width:100%}}"
        f"</style></head><body><h1>Model monitoring</h1>{body}</body></html>\n"
    )
    return page


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.monitor_page", description=__doc__)
    parser.add_argument("--config", default=str(REPO_ROOT / "conf" / "job.yaml"))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--records", help="a file of window records, one JSON per line, instead of the topic")
    parser.add_argument("--out", default=str(REPO_ROOT / ".run" / "monitor"))
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, parse_set_flags(args.set))
        reference, said = load_reference(cfg.monitoring.profile, cfg.model.metadata)
    except (ConfigError, ProfileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if reference is None:
        print(f"error: {said}", file=sys.stderr)
        return 2
    if args.records:
        records = [json.loads(line) for line in Path(args.records).read_text().splitlines() if line.strip()]
    else:
        records = read_topic(cfg)
    page = render(records, reference, cfg.monitoring.thresholds, Path(args.out))
    print(f"{len(records)} window records -> {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
