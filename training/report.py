"""The evaluation report: figures as JSON, PNG plots, and one self-contained HTML page.

Everything is drawn from the JSON figures, so the numbers on the page, in the PNGs
and in figures.json cannot disagree.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first: no display on servers)
import numpy as np  # noqa: E402

from training import evaluate  # noqa: E402

CURVE_POINTS = 600
COLORS = {"model": "#1f77b4", "baseline": "#d62728"}
PLOTS = {
    "gain_vs_threshold": "Expected revenue change per customer vs threshold (held-out)",
    "calibration": "Calibration (held-out, deciles of predicted probability)",
    "gain_chart": "Cumulative gain and lift (held-out)",
    "reference_profile": "Reference profile for live monitoring: age, score with the threshold, flag rates",
}


def figures(
    results: Mapping[str, Any],
    y: np.ndarray,
    comparison: Mapping[str, Any],
    economics: evaluate.Economics,
    model: Any,
    baseline: Any,
    published: Mapping[str, Mapping[str, Any]],
    profile: Any = None,
) -> dict[str, Any]:
    arms = {}
    for arm in (model, baseline):
        scores, curve = results[arm.name]["scores"], results[arm.name]["curve"]
        keep = np.unique(
            np.r_[np.linspace(0, len(curve.gain) - 1, CURVE_POINTS).round().astype(int), np.argmax(curve.gain)]
        )
        arms[arm.name] = {
            "description": arm.description,
            "version": published[arm.name]["version"],
            "pmml_sha256": published[arm.name]["pmml_sha256"],
            "features": published[arm.name]["features"],
            "metrics": results[arm.name]["metrics"],
            "gain_curve": {
                "threshold": curve.thresholds[keep].tolist(),
                "gain": curve.gain[keep].tolist(),
                "shown": curve.shown[keep].tolist(),
            },
            "calibration": evaluate.calibration(y, scores),
            "cumulative_gains": evaluate.cumulative_gains(y, scores),
            "search": [
                {"log_loss": t.log_loss, "n_estimators": t.n_estimators, "seconds": round(t.seconds, 2), **t.params}
                for t in arm.result.trials
            ],
        }
    meta = published["model"]
    return {
        "economics": economics.as_dict(),
        "comparison": dict(comparison),
        "arms": arms,
        "data": {
            "source": meta["training_data"],
            "sha256": meta["training_data_sha256"],
            **meta["rows"],
            "label": meta["label"],
        },
        "created_at": meta["created_at"],
        "library_versions": meta["library_versions"],
        "reference_profile": profile_figures(profile) if profile is not None else None,
    }


def profile_figures(profile: Any) -> dict[str, Any]:
    """What the monitoring will compare live windows with (job/monitoring, pmml/model.profile.json)."""
    flags = {name: h.counts[1] / h.present for name, h in profile.fields.items() if h.kind == "flag" and h.present}
    return {
        "age": profile.fields["age"].to_json() if "age" in profile.fields else None,
        "score": profile.score.to_json() if profile.score else None,
        "threshold": profile.threshold,
        "shown_share": profile.shown_share,
        "flag_rates": flags,
    }


def write(figs: Mapping[str, Any], report_dir: str | Path) -> Path:
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "figures.json").write_text(json.dumps(figs, indent=1) + "\n")
    drawers = {"gain_vs_threshold": _plot_gain, "calibration": _plot_calibration, "gain_chart": _plot_gain_chart}
    if figs.get("reference_profile"):
        drawers["reference_profile"] = _plot_profile
    images = {}
    for name, draw in drawers.items():
        fig = draw(figs)
        path = report_dir / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        images[name] = path.read_bytes()
    page = report_dir / "report.html"
    page.write_text(_html(figs, images))
    return page


def _plot_gain(figs: Mapping[str, Any]) -> plt.Figure:
    econ, comparison = figs["economics"], figs["comparison"]
    fig, ax = plt.subplots(figsize=(8.5, 5))
    right = 0.0
    for name, arm in figs["arms"].items():
        curve, m = arm["gain_curve"], arm["metrics"]
        ax.plot(curve["threshold"], curve["gain"], color=COLORS[name], lw=1.4, label=f"{name}")
        ax.plot(
            [m["threshold"]],
            [m["gain_per_customer"]],
            "o",
            color=COLORS[name],
            ms=8,
            label=f"{name} threshold {m['threshold']:.3f}: {m['gain_per_customer']:+.2f} $/customer, "
            f"{m['shown_share']:.0%} shown",
        )
        right = max(right, float(np.quantile(curve["threshold"][1:], 0.98)) if len(curve["threshold"]) > 1 else 1.0)
    ax.axhline(0, color="black", lw=0.8)
    ax.text(0.005, 0.02, "show nobody", fontsize=8, va="bottom")
    ax.axhline(
        -econ["baseline_cost_per_customer"],
        color="grey",
        ls="--",
        lw=0.9,
        label=f"original targeting, stated cost -{econ['baseline_cost_per_customer']:.2f} $/customer",
    )
    ax.axvline(
        comparison["break_even_probability"],
        color="grey",
        ls=":",
        lw=0.9,
        label=f"break-even probability {comparison['break_even_probability']:.3f}",
    )
    ax.set_xlim(0, min(1.0, right * 1.1))
    ax.set_xlabel("threshold: show the slot iff P(buy) >= threshold")
    ax.set_ylabel("$ per customer vs showing nobody")
    ax.set_title(PLOTS["gain_vs_threshold"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _plot_calibration(figs: Mapping[str, Any]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    for name, arm in figs["arms"].items():
        cal = arm["calibration"]
        ax.plot(cal["mean_predicted"], cal["observed_rate"], "o-", color=COLORS[name], label=name)
        top = max(top, max(cal["mean_predicted"]), max(cal["observed_rate"]))
    ax.plot([0, top * 1.05], [0, top * 1.05], color="grey", ls="--", lw=0.9, label="perfect calibration")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed purchase rate")
    ax.set_title(PLOTS["calibration"], fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _plot_gain_chart(figs: Mapping[str, Any]) -> plt.Figure:
    fig, (gain_ax, lift_ax) = plt.subplots(1, 2, figsize=(10, 4.5))
    for name, arm in figs["arms"].items():
        cg = arm["cumulative_gains"]
        gain_ax.plot([0.0, *cg["targeted"]], [0.0, *cg["captured"]], color=COLORS[name], label=name)
        lift_ax.plot(cg["targeted"], cg["lift"], color=COLORS[name], label=name)
    gain_ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.9, label="random")
    lift_ax.axhline(1, color="grey", ls="--", lw=0.9, label="random")
    gain_ax.set_xlabel("share of customers shown (highest scores first)")
    gain_ax.set_ylabel("share of buyers reached")
    lift_ax.set_xlabel("share of customers shown (highest scores first)")
    lift_ax.set_ylabel("lift over random")
    lift_ax.set_ylim(bottom=0)
    for ax in (gain_ax, lift_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(PLOTS["gain_chart"])
    return fig


def _bin_labels(edges: list[float]) -> list[str]:
    bounds = [f"{e:.3g}" for e in edges]
    return [f"< {bounds[0]}"] + [f"{a}-{b}" for a, b in zip(bounds, bounds[1:])] + [f">= {bounds[-1]}"]


def _plot_profile(figs: Mapping[str, Any]) -> plt.Figure:
    """Equally populated bins draw as equal bars, so the bars' labels carry the shape."""
    ref = figs["reference_profile"]
    fig, (ax_age, ax_score, ax_flags) = plt.subplots(1, 3, figsize=(15, 3.8))
    for ax, name in ((ax_age, "age"), (ax_score, "score")):
        body = ref[name]
        if not body:
            continue
        shares = np.array(body["counts"]) / max(sum(body["counts"]), 1)
        ax.bar(range(len(shares)), shares, color=COLORS["model"])
        ax.set_xticks(range(len(shares)), _bin_labels(body["edges"]), rotation=60, fontsize=7)
        ax.set_title(f"{name}: share per reference bin")
    if ref["score"] and ref["threshold"] is not None:
        position = np.searchsorted(ref["score"]["edges"], ref["threshold"], side="right") - 0.5
        ax_score.axvline(
            position,
            color="black",
            linestyle="--",
            label=f"threshold {ref['threshold']:.3f}: {ref['shown_share']:.1%} shown",
        )
        ax_score.legend(fontsize=8)
    rates = sorted(ref["flag_rates"].values())
    ax_flags.plot(rates, marker=".", linestyle="none", color=COLORS["model"])
    ax_flags.set_title(f"{len(rates)} 0/1 inputs (sex, products): share of 1s, sorted")
    ax_flags.set_xlabel("flag (sorted by rate)")
    fig.tight_layout()
    return fig


def _html(figs: Mapping[str, Any], images: Mapping[str, bytes]) -> str:
    econ, comparison, arms = figs["economics"], figs["comparison"], figs["arms"]
    model, baseline = arms["model"]["metrics"], arms["baseline"]["metrics"]
    diff = comparison["model_minus_baseline"]
    verdict = "meets" if comparison["meets_min_effect"] else "does NOT meet"
    rows = [
        ("chosen threshold (show iff P(buy) &ge;)", f"{model['threshold']:.4f}", f"{baseline['threshold']:.4f}"),
        (
            "threshold rule",
            "maximise expected revenue (out-of-fold)",
            html.escape(_baseline_rule(comparison["baseline_rule"])),
        ),
        ("customers shown", f"{model['shown_share']:.1%}", f"{baseline['shown_share']:.1%}"),
        (
            "expected gain vs showing nobody, $/customer",
            f"{model['gain_per_customer']:+.3f}",
            f"{baseline['gain_per_customer']:+.3f}",
        ),
        ("ROC AUC", f"{model['roc_auc']:.4f}", f"{baseline['roc_auc']:.4f}"),
        ("log loss", f"{model['log_loss']:.4f}", f"{baseline['log_loss']:.4f}"),
        ("Brier score", f"{model['brier']:.4f}", f"{baseline['brier']:.4f}"),
        (
            "hindsight best on held-out (not used)",
            f"{model['hindsight_best_gain']:+.3f} at {model['hindsight_best_threshold']:.4f}",
            f"{baseline['hindsight_best_gain']:+.3f} at {baseline['hindsight_best_threshold']:.4f}",
        ),
    ]
    table = "".join(f"<tr><th>{a}</th><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
    econ_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{v:g}</td></tr>" for k, v in econ.items())
    plots = "".join(
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(images[name]).decode()}"><figcaption>{html.escape(title)}</figcaption></figure>'
        for name, title in PLOTS.items()
        if name in images
    )
    data = figs["data"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>New-category targeting: model report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
.headline {{ font-size: 1.25em; background: #f3f7fb; padding: 0.8em 1em; border-left: 4px solid #1f77b4; }}
img {{ max-width: 100%; }} figure {{ margin: 1.5em 0; }} code {{ background: #f4f4f4; }}
</style></head><body>
<h1>New-category targeting: model report</h1>
<p class="headline">At threshold <b>{model["threshold"]:.4f}</b> the model earns
<b>{model["gain_per_customer"]:+.3f} $/customer</b>
against showing nobody; the age/sex baseline earns {baseline["gain_per_customer"]:+.3f}.
Model &minus; baseline: <b>{diff["mean"]:+.3f} $/customer</b>
({diff["confidence"]:.0%} bootstrap CI {diff["ci_low"]:+.3f} to {diff["ci_high"]:+.3f}),
which {verdict} the required {econ["min_effect"]:g} $/customer.
Against the original system's stated cost of {econ["baseline_cost_per_customer"]:g} $/customer the model adds
{comparison["model_vs_stated_original"]:+.3f} $/customer.</p>
<p>Held-out rows: {data["held_out"]} (never used for the search or the thresholds). Showing everybody would earn
{comparison["show_everybody_gain"]:+.3f} $/customer; the break-even probability is
loss / (gain + loss) = {comparison["break_even_probability"]:.4f}. The baseline's best threshold in hindsight earns
{comparison["baseline_hindsight_optimal_gain"]:+.3f} $/customer. An A/B test needs about
<b>{comparison["ab_customers_per_arm"]:,}</b> customers per arm to detect {econ["min_effect"]:g} $/customer with
power {econ["power"]:g} at a two-sided {econ["alpha"]:g} level (revenue sd {econ["revenue_sd"]:g} $).</p>
<h2>Decision and metrics (held-out)</h2>
<table><tr><th></th><th>model</th><th>baseline (age, sex)</th></tr>{table}</table>
{plots}
<h2>Economics</h2><table>{econ_rows}</table>
<h2>Provenance</h2>
<p>Data: <code>{html.escape(str(data["source"]))}</code>, sha256 <code>{data["sha256"]}</code>,
{data["train"]} training / {data["held_out"]} held-out rows, label <code>{html.escape(data["label"])}</code>.<br>
Model {html.escape(arms["model"]["version"])} ({len(arms["model"]["features"])} PMML input fields,
{len(arms["model"]["search"])} search trials); baseline {html.escape(arms["baseline"]["version"])}.<br>
Created {figs["created_at"]}; {html.escape(", ".join(f"{k} {v}" for k, v in figs["library_versions"].items()))}.</p>
</body></html>
"""


def _baseline_rule(rule: str) -> str:
    return {
        "original_cost": "reproduce the original targeting's stated cost (out-of-fold)",
        "optimal": "maximise expected revenue (out-of-fold)",
    }.get(rule, rule)
