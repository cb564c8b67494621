"""The statistics of the A/B test: is the new targeting worth more revenue per customer?

Pure functions over numpy arrays and one pandas DataFrame of sessions with columns
``arm`` ("control" / "treatment"), ``revenue`` ($), ``decided_at`` (completion order, s)
and optionally ``pre_revenue`` ($, the customer's revenue before the experiment).

Every statistic is computed from per-arm sums (``Moments``) whose fields broadcast, so one
formula serves a single analysis, a path over looks and a batch of Monte-Carlo replications
(experiment/calibration.py checks these exact functions). Degenerate data (an arm with fewer
than two sessions, zero variance) gives NaN statistics and an "incomplete" or "not better"
verdict rather than an exception; malformed input (unknown arm, missing column) raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from experiment.planner import Plan, Sided

ARMS = ("control", "treatment")
COVARIATE = "pre_revenue"
Verdict = Literal["treatment better", "not better", "treatment worse", "incomplete", "invalid: sample ratio mismatch"]


@dataclass(frozen=True)
class Summary:
    """Count, mean and sample variance (ddof 1) of one arm; fields may be arrays."""

    n: Any
    mean: Any
    var: Any


@dataclass(frozen=True)
class Moments:
    """Sums of y, y², x, x², xy over one arm's sessions: sufficient for Welch and CUPED."""

    n: Any
    y: Any
    yy: Any
    x: Any = 0.0
    xx: Any = 0.0
    xy: Any = 0.0

    @classmethod
    def of(cls, y: np.ndarray, x: np.ndarray | None = None) -> "Moments":
        """Moments of the values along the last axis."""
        y = np.asarray(y, float)
        x = np.zeros_like(y) if x is None else np.asarray(x, float)
        return cls(y.shape[-1], y.sum(-1), (y * y).sum(-1), x.sum(-1), (x * x).sum(-1), (x * y).sum(-1))

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def _central(self, a: Any, b: Any, ab: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (ab - a * b / self.n) / (self.n - 1)

    @property
    def var_y(self) -> Any:
        return self._central(self.y, self.y, self.yy)

    @property
    def var_x(self) -> Any:
        return self._central(self.x, self.x, self.xx)

    @property
    def cov(self) -> Any:
        return self._central(self.x, self.y, self.xy)

    def summary(self) -> Summary:
        with np.errstate(divide="ignore", invalid="ignore"):
            return Summary(self.n, self.y / self.n, self.var_y)


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of mean(treatment) - mean(control)."""

    alpha: float
    sided: Sided  # 1: alternative treatment > control, upper CI bound +inf
    n_control: Any
    n_treatment: Any
    mean_control: Any
    mean_treatment: Any
    diff: Any
    se: Any
    df: Any
    p_value: Any
    ci_lower: Any
    ci_upper: Any


def welch_summary(control: Summary, treatment: Summary, *, alpha: float = 0.05, sided: Sided = 2) -> Welch:
    """Welch (1947): se² = s_t²/n_t + s_c²/n_c, Welch–Satterthwaite degrees of freedom
    df = se⁴ / ((s_t²/n_t)²/(n_t-1) + (s_c²/n_c)²/(n_c-1)); the CI inverts the same test."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v_c = np.asarray(control.var / control.n, float)
        v_t = np.asarray(treatment.var / treatment.n, float)
        diff = np.asarray(treatment.mean - control.mean, float)
        se = np.sqrt(v_c + v_t)
        df = (v_c + v_t) ** 2 / (v_c**2 / (control.n - 1) + v_t**2 / (treatment.n - 1))
        t = diff / se
        if sided == 2:
            p = 2 * stats.t.sf(np.abs(t), df)
            q = stats.t.isf(alpha / 2, df)
            lower, upper = diff - q * se, diff + q * se
        else:
            p = stats.t.sf(t, df)
            lower, upper = diff - stats.t.isf(alpha, df) * se, np.full_like(diff, np.inf)
    return Welch(
        alpha,
        sided,
        *map(_unwrap, (control.n, treatment.n, control.mean, treatment.mean, diff, se, df, p, lower, upper)),
    )


def welch(control: np.ndarray, treatment: np.ndarray, *, alpha: float = 0.05, sided: Sided = 2) -> Welch:
    """Welch's test on two samples of revenue (see ``welch_summary``)."""
    return welch_summary(Moments.of(control).summary(), Moments.of(treatment).summary(), alpha=alpha, sided=sided)


@dataclass(frozen=True)
class Srm:
    """Sample-ratio-mismatch check of the arm counts against the configured split."""

    n_control: Any
    n_treatment: Any
    expected_share: float
    observed_share: Any
    chi2: Any
    p_value: Any
    threshold: float
    mismatch: Any


def srm(n_control: Any, n_treatment: Any, *, treatment_share: float = 0.5, threshold: float = 0.001) -> Srm:
    """Pearson's chi-square goodness of fit, 1 df (Fabijan et al. 2019, "Diagnosing Sample
    Ratio Mismatch"). A broken assignment or logging invalidates every other statistic, so
    the check alarms at a strict threshold to keep false alarms rare (p < 0.001)."""
    n_c, n_t = np.asarray(n_control, float), np.asarray(n_treatment, float)
    total = n_c + n_t
    with np.errstate(divide="ignore", invalid="ignore"):
        expected_t, expected_c = total * treatment_share, total * (1 - treatment_share)
        chi2 = (n_t - expected_t) ** 2 / expected_t + (n_c - expected_c) ** 2 / expected_c
        p = stats.chi2.sf(chi2, 1)
        share = n_t / total
    return Srm(
        _unwrap(n_c),
        _unwrap(n_t),
        treatment_share,
        _unwrap(share),
        _unwrap(chi2),
        _unwrap(p),
        threshold,
        _unwrap(p < threshold),
    )


def cuped(control: Moments, treatment: Moments) -> tuple[Any, Any, Summary, Summary]:
    """CUPED (Deng, Xu, Kohavi & Walker 2013): y_adj = y - theta (x - mean x) with
    theta = cov(y, x) / var(x) estimated on both arms pooled. The pre-experiment x is
    independent of the arm, so the adjustment keeps the difference unbiased and divides the
    variance by 1 / (1 - rho²). Returns theta, the variance reduction
    1 - var(y_adj) / var(y) = rho², and the adjusted per-arm summaries. Where var(x) = 0
    theta is 0: no adjustment is possible, the plain analysis remains."""
    pooled = control + treatment
    var_x, cov = np.asarray(pooled.var_x, float), np.asarray(pooled.cov, float)
    usable = var_x > 0
    theta = np.divide(cov, var_x, out=np.zeros_like(cov), where=usable)
    reduction = np.divide(cov * theta, pooled.var_y, out=np.zeros_like(cov), where=usable)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_x = pooled.x / pooled.n

        def adjusted(arm: Moments) -> Summary:
            plain = arm.summary()
            return Summary(
                arm.n,
                plain.mean - theta * (arm.x / arm.n - mean_x),
                plain.var - 2 * theta * arm.cov + theta**2 * arm.var_x,
            )

        return _unwrap(theta), _unwrap(reduction), adjusted(control), adjusted(treatment)


@dataclass(frozen=True)
class AlwaysValid:
    """Always-valid p-values and confidence sequence along the last axis (the looks; a
    single look is an array of one)."""

    p_value: Any
    ci_lower: Any
    ci_upper: Any


def always_valid(diff: Any, var: Any, *, tau: float, alpha: float = 0.05) -> AlwaysValid:
    """Mixture SPRT with a N(0, tau²) mixture over the effect (Johari, Koomen, Pekelis &
    Walsh 2017/2022, "Always valid inference"), for a difference of means whose variance
    is estimated by var = s_t²/n_t + s_c²/n_c:

        Lambda = sqrt(var / (var + tau²)) * exp(tau² diff² / (2 var (var + tau²)))

    p is the running minimum of min(1, 1/Lambda); the confidence sequence is the running
    intersection of diff ± sqrt(var (var + tau²) / tau² * (log((var + tau²) / var) + 2 log(1/alpha))),
    the set of effects whose own mSPRT has not rejected, so p < alpha exactly when 0 has
    left it. Both stay valid however often and whenever one looks. The mixture is
    symmetric: the test is two-sided whatever the design's sidedness."""
    diff, var = np.atleast_1d(np.asarray(diff, float)), np.atleast_1d(np.asarray(var, float))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_lambda = 0.5 * np.log(var / (var + tau**2)) + tau**2 * diff**2 / (2 * var * (var + tau**2))
        p_now = np.minimum(1.0, np.exp(-log_lambda))
        half = np.sqrt(var * (var + tau**2) / tau**2 * (np.log((var + tau**2) / var) + 2 * np.log(1 / alpha)))
    # fmin/fmax skip looks where the variance is still 0 (NaN) instead of propagating them
    return AlwaysValid(
        np.fmin.accumulate(np.fmin(p_now, 1.0), axis=-1),
        np.fmax.accumulate(diff - half, axis=-1),
        np.fmin.accumulate(diff + half, axis=-1),
    )


def sequential_path(
    sessions: pd.DataFrame, *, tau: float, alpha: float = 0.05, sided: Sided = 2, looks: int = 50
) -> pd.DataFrame:
    """The experiment as seen at ``looks`` evenly spaced points in completion order: counts,
    difference, the fixed-horizon Welch CI and p (valid only at a pre-planned horizon) next to
    the always-valid CI and p (valid at every look). With a usable ``pre_revenue`` the values
    are CUPED-adjusted with theta estimated from the sessions up to that look only, so no
    look uses data from its future. Looks before both arms have two sessions are skipped."""
    ordered = _ordered(sessions)
    treated = (ordered["arm"] == "treatment").to_numpy()
    y = ordered["revenue"].to_numpy(float)
    x = ordered[COVARIATE].to_numpy(float) if _has_covariate(ordered) else np.zeros_like(y)
    # Shifting y and x by a constant changes neither differences nor (co)variances; centring
    # first keeps the cumulative sums of squares free of cancellation.
    y, x = y - y.mean(), x - x.mean()
    at = np.unique(np.ceil(np.linspace(0, len(y), looks + 1)[1:]).astype(int)) - 1
    at = at[at >= 0]

    def cumulative(mask: np.ndarray) -> Moments:
        columns = (mask, y * mask, y * y * mask, x * mask, x * x * mask, x * y * mask)
        return Moments(*(np.cumsum(c.astype(float))[at] for c in columns))

    control, treatment = cumulative(~treated), cumulative(treated)
    keep = (control.n >= 2) & (treatment.n >= 2)
    control, treatment = (Moments(*(getattr(m, f.name)[keep] for f in fields(m))) for m in (control, treatment))
    theta, _, adj_control, adj_treatment = cuped(control, treatment)
    fixed = welch_summary(adj_control, adj_treatment, alpha=alpha, sided=sided)
    valid = always_valid(fixed.diff, fixed.se**2, tau=tau, alpha=alpha)
    return pd.DataFrame(
        {
            "customers": (control.n + treatment.n).astype(int),
            "n_control": control.n.astype(int),
            "n_treatment": treatment.n.astype(int),
            "theta": theta,
            "diff": fixed.diff,
            "se": fixed.se,
            "welch_lower": fixed.ci_lower,
            "welch_upper": fixed.ci_upper,
            "welch_p": fixed.p_value,
            "av_lower": valid.ci_lower,
            "av_upper": valid.ci_upper,
            "av_p": valid.p_value,
        }
    )


@dataclass(frozen=True)
class Cuped:
    """CUPED at the horizon, or why it was skipped."""

    applied: bool
    reason: str
    theta: float
    variance_reduction: float
    welch: Welch | None


@dataclass(frozen=True)
class Sequential:
    """The mSPRT over the path; p and CI are those of the last look."""

    tau: float
    p_value: float
    ci_lower: float
    ci_upper: float
    crossed_at: int | None  # customers at the first look with always-valid p < alpha
    path: pd.DataFrame


@dataclass(frozen=True)
class Analysis:
    """What ``analyse`` found; ``as_dict`` is what goes into result.json."""

    design: Plan
    n_control: int  # all sessions received
    n_treatment: int
    horizon_reached: bool  # at least design.total sessions: the fixed-horizon test applies
    welch: Welch  # plain, on the first design.total sessions (all of them before the horizon)
    cuped: Cuped
    srm: Srm
    sequential: Sequential
    stopped_early: bool  # before the horizon, on the sequential rule
    decided_by: Literal["cuped", "welch", "sequential", "none"]
    treatment_better: bool  # significant at alpha and positive
    beats_min_effect: bool  # ... and the CI's lower bound is above design.mde
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN and ±inf (undefined or unbounded) become None, the path a list."""
        return _jsonable({f.name: getattr(self, f.name) for f in fields(self)})


def analyse(
    sessions: pd.DataFrame,
    design: Plan,
    *,
    looks: int = 50,
    tau: float | None = None,
    srm_threshold: float = 0.001,
    use_cuped: bool = True,
    sequential_stop: bool = True,
) -> Analysis:
    """The experiment's result. The verdict comes from one pre-registered test: at the
    planned horizon, Welch on CUPED-adjusted revenue (plain revenue without a covariate)
    on the first ``design.total`` sessions; before it, only the always-valid mSPRT may end
    the experiment (tau defaults to design.mde), since a fixed-horizon p-value read at an
    unplanned look has an inflated false-positive rate. A sample ratio mismatch voids it.

    The experiment's settings may switch either off before it starts: ``use_cuped=False``
    tests plain revenue at the horizon, ``sequential_stop=False`` keeps the mSPRT as a
    report only, so nothing but the planned horizon decides."""
    ordered = _ordered(sessions)
    counts = ordered["arm"].value_counts()
    n_control, n_treatment = int(counts.get("control", 0)), int(counts.get("treatment", 0))
    ratio = srm(n_control, n_treatment, treatment_share=design.treatment_share, threshold=srm_threshold)
    reached = len(ordered) >= design.total
    horizon = ordered.iloc[: design.total]
    arms = [horizon[horizon["arm"] == arm] for arm in ARMS]
    plain = welch(*(a["revenue"] for a in arms), alpha=design.alpha, sided=design.sided)
    adjusted = (
        _cuped_at_horizon(horizon, arms, design)
        if use_cuped
        else Cuped(False, "switched off in the experiment's settings", math.nan, math.nan, None)
    )

    tau = design.mde if tau is None else tau
    path = sequential_path(ordered, tau=tau, alpha=design.alpha, sided=design.sided, looks=looks)
    last = path.iloc[-1] if len(path) else pd.Series(np.nan, index=path.columns)
    crossed = path.loc[path["av_p"] < design.alpha, "customers"]
    sequential = Sequential(
        tau,
        float(last["av_p"]),
        float(last["av_lower"]),
        float(last["av_upper"]),
        int(crossed.iloc[0]) if len(crossed) else None,
        path,
    )
    stopped_early = sequential_stop and not reached and sequential.p_value < design.alpha

    if reached:
        decided_by = "cuped" if adjusted.applied else "welch"
        primary = adjusted.welch if adjusted.applied else plain
        lower, upper = primary.ci_lower, primary.ci_upper
        significant = primary.p_value < design.alpha
    elif stopped_early:
        decided_by, lower, upper, significant = "sequential", sequential.ci_lower, sequential.ci_upper, True
    else:
        decided_by, lower, upper, significant = "none", math.nan, math.nan, False
    better = bool(significant and lower > 0 and not ratio.mismatch)
    verdict: Verdict
    if ratio.mismatch:
        verdict = "invalid: sample ratio mismatch"
    elif decided_by == "none":
        verdict = "incomplete"
    else:
        verdict = "treatment better" if better else "treatment worse" if significant and upper < 0 else "not better"
    return Analysis(
        design,
        n_control,
        n_treatment,
        reached,
        plain,
        adjusted,
        ratio,
        sequential,
        stopped_early,
        decided_by,
        better,
        better and bool(lower > design.mde),
        verdict,
    )


def summary_lines(result: Analysis) -> list[str]:
    """The console summary: counts, SRM, each test with units, and the verdict as a sentence."""
    d, w, c, s, q = result.design, result.welch, result.cuped, result.srm, result.sequential
    level = f"{1 - d.alpha:.0%}"
    lines = [
        f"sessions            control {result.n_control:,} + treatment {result.n_treatment:,} = "
        f"{result.n_control + result.n_treatment:,} (planned {d.n_control:,} + {d.n_treatment:,} = {d.total:,})",
        f"sample ratio        {s.observed_share:.2%} treatment vs {s.expected_share:.0%} planned, chi-square "
        f"p = {s.p_value:.3g}: {'MISMATCH' if s.mismatch else 'ok'} (alarm below {s.threshold:g})",
        f"difference          {w.diff:+.3f} $/customer (treatment {w.mean_treatment:.3f} $, control "
        f"{w.mean_control:.3f} $) on {w.n_control + w.n_treatment:,} customers",
        f"Welch               {level} CI {_interval(w.ci_lower, w.ci_upper)}, p = {w.p_value:.3g}, "
        f"df {w.df:,.0f}, {'two' if d.sided == 2 else 'one'}-sided",
    ]
    if c.applied:
        a = c.welch
        lines.append(
            f"CUPED               theta {c.theta:.3f}, variance -{c.variance_reduction:.1%}: "
            f"{a.diff:+.3f} $, {level} CI {_interval(a.ci_lower, a.ci_upper)}, p = {a.p_value:.3g}"
        )
    else:
        lines.append(f"CUPED               not applied: {c.reason}")
    crossed = f"first below {d.alpha:g} at {q.crossed_at:,} customers" if q.crossed_at else f"never below {d.alpha:g}"
    lines.append(
        f"sequential (mSPRT)  tau {q.tau:.2f} $: always-valid {level} CI {_interval(q.ci_lower, q.ci_upper)}, "
        f"p = {q.p_value:.3g}, {crossed}"
    )
    lines.append(f"verdict             {verdict_sentence(result)}")
    return lines


def verdict_sentence(result: Analysis) -> str:
    d = result.design
    if result.verdict == "invalid: sample ratio mismatch":
        return (
            f"INVALID: the arms hold {result.srm.observed_share:.2%} treatment instead of "
            f"{d.treatment_share:.0%} (p = {result.srm.p_value:.2g}); fix the assignment before reading any effect."
        )
    if result.verdict == "incomplete":
        return (
            f"INCOMPLETE: {result.n_control + result.n_treatment:,} of the planned {d.total:,} customers and "
            f"the always-valid p = {result.sequential.p_value:.3g} has not crossed {d.alpha:g}: keep going."
        )
    if result.decided_by == "sequential":
        test, (lower, upper, p) = (
            "always-valid mSPRT, stopped early",
            (result.sequential.ci_lower, result.sequential.ci_upper, result.sequential.p_value),
        )
    else:
        primary = result.cuped.welch if result.decided_by == "cuped" else result.welch
        test = "Welch on CUPED-adjusted revenue" if result.decided_by == "cuped" else "Welch"
        lower, upper, p = primary.ci_lower, primary.ci_upper, primary.p_value
    ci = f"{1 - d.alpha:.0%} CI {_interval(lower, upper)}, p = {p:.3g}, {test}"
    if result.verdict == "treatment better":
        strength = (
            f"and by at least the {d.mde:.2f} $ minimum effect"
            if result.beats_min_effect
            else f"but the CI does not exclude gains below the {d.mde:.2f} $ minimum effect"
        )
        return f"the new targeting beats the original ({ci}), {strength}."
    if result.verdict == "treatment worse":
        return f"the new targeting loses revenue against the original ({ci})."
    return f"no significant gain of the new targeting over the original ({ci})."


def revenue_by_model(sessions: pd.DataFrame, *, alpha: float = 0.05) -> list[dict]:
    """Revenue per customer for each arm and the model version that decided (column
    ``model``): when the job serves several versions by traffic share, or swaps one during
    the experiment, the treatment arm's revenue splits by the version each decision names.
    A treatment session nobody decided by the deadline is listed under "missing". The
    intervals are per group (normal approximation); the verdict compares the arms only."""
    if "model" not in sessions:
        return []
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    models = sessions["model"].replace("", "missing")
    for (arm, model), group in sessions.groupby([sessions["arm"], models], sort=True):
        revenue = group["revenue"].to_numpy(float)
        half = z * revenue.std(ddof=1) / math.sqrt(len(revenue)) if len(revenue) > 1 else math.nan
        rows.append(
            {
                "arm": arm,
                "model": model,
                "sessions": len(revenue),
                "shown": float(group["decision"].mean()),
                "revenue_mean": float(revenue.mean()),
                "ci_lower": float(revenue.mean() - half),
                "ci_upper": float(revenue.mean() + half),
            }
        )
    return rows


def _cuped_at_horizon(horizon: pd.DataFrame, arms: list[pd.DataFrame], design: Plan) -> Cuped:
    if not _has_covariate(horizon):
        reason = (
            f"no '{COVARIATE}' column"
            if COVARIATE not in horizon
            else f"'{COVARIATE}' has missing or non-finite values"
        )
        return Cuped(False, reason, math.nan, math.nan, None)
    if not np.var(horizon[COVARIATE].to_numpy(float)) > 0:
        return Cuped(False, f"'{COVARIATE}' is constant", math.nan, math.nan, None)
    theta, reduction, control, treatment = cuped(*(Moments.of(a["revenue"], a[COVARIATE]) for a in arms))
    return Cuped(
        True,
        "",
        float(theta),
        float(reduction),
        welch_summary(control, treatment, alpha=design.alpha, sided=design.sided),
    )


def _has_covariate(frame: pd.DataFrame) -> bool:
    return COVARIATE in frame and bool(np.isfinite(frame[COVARIATE].to_numpy(float)).all())


def _ordered(sessions: pd.DataFrame) -> pd.DataFrame:
    missing = {"arm", "revenue", "decided_at"} - set(sessions.columns)
    if missing:
        raise ValueError(f"sessions: missing column(s) {', '.join(sorted(missing))}")
    unknown = set(sessions["arm"].unique()) - set(ARMS)
    if unknown:
        raise ValueError(f"sessions.arm: expected {' or '.join(ARMS)}, got {sorted(map(str, unknown))}")
    if not np.isfinite(sessions["revenue"].to_numpy(float)).all():
        raise ValueError("sessions.revenue: every session needs a finite revenue ($, 0 when nothing was bought)")
    return sessions.sort_values("decided_at", kind="stable", ignore_index=True)


def _interval(lower: float, upper: float) -> str:
    upper_text = "+inf" if upper == math.inf else f"{upper:+.3f}"
    return f"[{lower:+.3f}, {upper_text}] $"


def _unwrap(value: Any) -> Any:
    """0-d arrays to numpy scalars (floats for json), arrays unchanged."""
    value = np.asarray(value)
    return value[()] if value.ndim == 0 else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return _jsonable(value.to_dict(orient="records"))
    if isinstance(value, Plan):
        return _jsonable(value.as_dict())
    if hasattr(value, "__dataclass_fields__"):
        return _jsonable({f.name: getattr(value, f.name) for f in fields(value)})
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
