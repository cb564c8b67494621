"""The experiment's report: the effect over time with its intervals, the arms side by
side, and every number in one HTML page beside the PNGs.

The cumulative-effect plot draws both intervals on purpose: the fixed-horizon Welch band
is only valid at the planned size, and the always-valid band is the one to read while
the experiment runs. Seeing the narrow one cross zero early while the wide one does not
is the clearest explanation of why peeking at a plain t-test misleads.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiment.analysis import Analysis, revenue_by_model, summary_lines  # noqa: E402
from experiment.assignment import CONTROL, TREATMENT  # noqa: E402

EFFECT_PNG, ARMS_PNG, REPORT_HTML, SESSIONS_CSV, RESULT_JSON = (
    "effect.png",
    "arms.png",
    "report.html",
    "sessions.csv",
    "result.json",
)


def effect_plot(result: Analysis, path: Path, true_effect: float | None = None) -> None:
    seq = result.sequential.path
    d = result.design
    fig, ax = plt.subplots(figsize=(9, 4.8))
    ax.fill_between(
        seq["customers"],
        seq["welch_lower"],
        seq["welch_upper"],
        color="0.8",
        label=f"fixed-horizon {1 - d.alpha:.0%} CI (valid at the planned size only)",
    )
    ax.plot(
        seq["customers"],
        seq["av_lower"],
        color="tab:blue",
        lw=1.2,
        label=f"always-valid {1 - d.alpha:.0%} CI (mSPRT; safe to peek)",
    )
    ax.plot(seq["customers"], seq["av_upper"], color="tab:blue", lw=1.2)
    ax.plot(seq["customers"], seq["diff"], color="black", lw=1.5, label="effect estimate")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axhline(d.mde, color="tab:green", ls="--", lw=1, label=f"minimum effect {d.mde:g} $")
    if true_effect is not None:
        ax.axhline(true_effect, color="tab:red", ls=":", lw=1.2, label=f"true effect {true_effect:+.2f} $ (simulation)")
    ax.axvline(d.total, color="0.5", ls="--", lw=0.8)
    ax.annotate(
        "planned size", (d.total, 1), xycoords=("data", "axes fraction"), ha="right", va="top", fontsize=8, color="0.4"
    )
    finite = seq[["welch_lower", "welch_upper"]].replace([np.inf, -np.inf], np.nan)
    low, high = np.nanpercentile(finite.to_numpy(), [5, 95]) if finite.notna().any().any() else (-3, 3)
    ax.set_ylim(min(low, -0.5, d.mde * -1) - 0.5, max(high, d.mde * 2) + 0.5)
    ax.set_xlabel("customers analysed")
    ax.set_ylabel("treatment − control, $ per customer")
    ax.set_title("Cumulative effect of the new targeting on revenue per customer")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def arms_plot(sessions: pd.DataFrame, result: Analysis, path: Path) -> None:
    arms = [CONTROL, TREATMENT]
    means = [sessions.loc[sessions.arm == a, "revenue"].mean() for a in arms]
    half = [
        1.96 * sessions.loc[sessions.arm == a, "revenue"].std() / np.sqrt(max((sessions.arm == a).sum(), 1))
        for a in arms
    ]
    shown = [sessions.loc[sessions.arm == a, "decision"].mean() for a in arms]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.bar(arms, means, yerr=half, capsize=6, color=["0.6", "tab:blue"])
    left.set_ylabel("revenue per customer, $ (95% CI)")
    left.set_title("Revenue by arm")
    right.bar(arms, shown, color=["0.6", "tab:blue"])
    right.set_ylim(0, 1)
    right.set_ylabel("share of sessions shown the slot")
    right.set_title("Slot shown")
    for ax, values, tops, fmt in ((left, means, np.add(means, half), "{:.2f} $"), (right, shown, shown, "{:.1%}")):
        for x, (v, top) in enumerate(zip(values, tops)):
            ax.annotate(
                fmt.format(v), (x, top), ha="center", va="bottom", fontsize=9, xytext=(0, 3), textcoords="offset points"
            )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(rows: dict) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows.items())
    return f"<table>{cells}</table>"


def by_model_lines(rows: list[dict], alpha: float) -> list[str]:
    """The by-model breakdown as console lines."""
    return [
        f"  {r['arm']:<9} {r['model']:<32} {r['sessions']:>7,} sessions  shown {r['shown']:6.1%}  "
        f"revenue {r['revenue_mean']:6.2f} $ [{r['ci_lower']:.2f}, {r['ci_upper']:.2f}] ({1 - alpha:.0%} CI)"
        for r in rows
    ]


def _model_table(rows: list[dict], alpha: float) -> str:
    head = "".join(
        f"<th>{h}</th>" for h in ("arm", "model", "sessions", "shown", f"revenue per customer ({1 - alpha:.0%} CI)")
    )
    body = "".join(
        f"<tr><td>{html.escape(r['arm'])}</td><td>{html.escape(r['model'])}</td><td>{r['sessions']:,}</td>"
        f"<td>{r['shown']:.1%}</td><td>{r['revenue_mean']:.2f} $ [{r['ci_lower']:.2f}, {r['ci_upper']:.2f}]</td></tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write(out: Path, sessions: pd.DataFrame, result: Analysis, summary: dict) -> dict:
    """sessions.csv, result.json (``summary`` plus the revenue by deciding model),
    effect.png, arms.png and report.html into ``out``; returns what result.json holds."""
    out.mkdir(parents=True, exist_ok=True)
    sessions.to_csv(out / SESSIONS_CSV, index=False)
    summary = {**summary, "by_model": revenue_by_model(sessions, alpha=result.design.alpha)}
    (out / RESULT_JSON).write_text(json.dumps(summary, indent=2))
    truth = summary.get("ground_truth", {})
    effect_plot(result, out / EFFECT_PNG, truth.get("true_effect"))
    arms_plot(sessions, result, out / ARMS_PNG)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>A/B experiment: {html.escape(result.verdict)}</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }}
 pre {{ background: #f5f5f5; padding: 1rem; overflow-x: auto; }}
 table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; }}
 th, td {{ text-align: left; padding: 0.2rem 1rem 0.2rem 0; border-bottom: 1px solid #ddd; }}
 .verdict {{ font-size: 1.3rem; font-weight: 600; }}
</style></head><body>
<h1>New targeting vs the original age/sex targeting</h1>
<p class="verdict">Verdict: {html.escape(result.verdict)}</p>
<pre>{html.escape(chr(10).join(summary.get("summary_lines") or summary_lines(result)))}</pre>
<h2>Effect over time</h2>
<img src="{EFFECT_PNG}" alt="cumulative effect with fixed-horizon and always-valid intervals" width="100%">
<h2>Arms</h2>
<img src="{ARMS_PNG}" alt="revenue and slot share by arm" width="100%">
<h2>Revenue by deciding model</h2>
{_model_table(summary["by_model"], result.design.alpha)}
<h2>Decisions received from the job</h2>
{_table(summary.get("platform", {}))}
<h2>What only a simulation knows</h2>
{_table(truth)}
<h2>Settings</h2>
<pre>{html.escape(json.dumps(summary.get("config", {}), indent=2))}</pre>
<p>Sessions, one row each: <a href="{SESSIONS_CSV}">{SESSIONS_CSV}</a>;
every number: <a href="{RESULT_JSON}">{RESULT_JSON}</a>.</p>
</body></html>
"""
    (out / REPORT_HTML).write_text(page)
    return summary
