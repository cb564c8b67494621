"""A/B statistics: Welch, SRM and CUPED against scipy/statsmodels, the mSPRT against its
definition, the verdict logic, and the Monte-Carlo calibration held to its standard errors."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from experiment import calibration
from experiment.analysis import (
    Moments,
    always_valid,
    analyse,
    cuped,
    revenue_by_model,
    sequential_path,
    srm,
    summary_lines,
    welch,
)
from experiment.planner import sample_size

PLAN = sample_size(0.05, 0.8, 0.7, 15.0)  # 7,209 + 7,209


def make_sessions(n, effect, seed, share=0.5, rho=calibration.RHO):
    """Skewed revenue as in the calibration, a covariate correlated rho, rows shuffled
    (completion order lives in decided_at only)."""
    rng = np.random.default_rng(seed)
    treated = rng.random(n) < share
    base = calibration.skewed_revenue(rng, (n,))
    pre = rho * base + math.sqrt(1 - rho**2) * calibration.skewed_revenue(rng, (n,))
    frame = pd.DataFrame(
        {
            "arm": np.where(treated, "treatment", "control"),
            "revenue": base + effect * treated,
            "pre_revenue": pre,
            "decided_at": np.sort(rng.uniform(0, 3600, n)),
        }
    )
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def arms(frame, column="revenue"):
    return [frame.loc[frame.arm == arm, column].to_numpy() for arm in ("control", "treatment")]


@pytest.fixture(scope="module")
def checks():
    return calibration.run()


# --- Welch -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sided, alternative", [(2, "two-sided"), (1, "greater")])
def test_welch_matches_scipy(sided, alternative):
    rng = np.random.default_rng(1)
    control, treatment = rng.exponential(4.0, 900), rng.exponential(5.0, 1300) * rng.integers(0, 2, 1300)
    ours = welch(control, treatment, alpha=0.1, sided=sided)
    theirs = stats.ttest_ind(treatment, control, equal_var=False, alternative=alternative)
    ci = theirs.confidence_interval(0.9)
    assert ours.diff / ours.se == pytest.approx(theirs.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)
    assert ours.df == pytest.approx(theirs.df, rel=1e-12)
    assert (ours.ci_lower, ours.ci_upper) == pytest.approx((ci.low, ci.high), rel=1e-9)


@pytest.mark.parametrize("sided, alternative", [(2, "two-sided"), (1, "larger")])
def test_welch_matches_statsmodels(sided, alternative):
    rng = np.random.default_rng(2)
    control, treatment = rng.normal(10, 15, 500), rng.normal(12, 25, 350)
    ours = welch(control, treatment, sided=sided)
    compare = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
    t, p, df = compare.ttest_ind(usevar="unequal", alternative=alternative)
    lower, upper = compare.tconfint_diff(alpha=0.05, usevar="unequal", alternative=alternative)
    assert (ours.diff / ours.se, ours.p_value, ours.df) == pytest.approx((t, p, df), rel=1e-9)
    assert ours.ci_lower == pytest.approx(lower, rel=1e-9)
    assert ours.ci_upper == (pytest.approx(upper, rel=1e-9) if sided == 2 else math.inf)


def test_welch_on_too_little_data_is_nan_not_an_error():
    result = welch(np.array([3.0]), np.array([1.0, 2.0]))
    assert math.isnan(result.p_value) and math.isnan(result.ci_lower)


# --- sample ratio mismatch ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "n_control, n_treatment, share",
    [
        (7209, 7209, 0.5),
        (7100, 7318, 0.5),
        (6921, 7497, 0.5),
        (10_080, 4_338, 0.3),
        (50, 61, 0.6),
    ],
)
def test_srm_matches_scipy_chisquare(n_control, n_treatment, share):
    total = n_control + n_treatment
    ours = srm(n_control, n_treatment, treatment_share=share)
    theirs = stats.chisquare([n_control, n_treatment], [total * (1 - share), total * share])
    assert (ours.chi2, ours.p_value) == pytest.approx((theirs.statistic, theirs.pvalue), rel=1e-9, abs=1e-300)
    assert ours.mismatch == (theirs.pvalue < 0.001)


def test_srm_fires_on_52_48_and_the_threshold_is_configurable():
    assert srm(6921, 7497).mismatch  # 52/48 of 14,418: p ~ 2e-6
    assert not srm(7100, 7318).mismatch  # p ~ 0.07: fine at 0.001 ...
    assert srm(7100, 7318, threshold=0.1).mismatch  # ... not at 0.1


# --- CUPED -------------------------------------------------------------------------------------


def test_cuped_is_welch_on_explicitly_adjusted_revenue():
    plan = sample_size(0.05, 0.8, 1.0, 15.0)
    frame = make_sessions(plan.total + 1000, 1.0, seed=3)
    result = analyse(frame, plan)
    horizon = frame.sort_values("decided_at").iloc[: plan.total]
    y, x = horizon.revenue.to_numpy(), horizon.pre_revenue.to_numpy()
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
    adjusted = horizon.assign(revenue=y - theta * (x - x.mean()))
    theirs = stats.ttest_ind(*arms(adjusted)[::-1], equal_var=False)
    assert result.cuped.applied and result.decided_by == "cuped"
    assert result.cuped.theta == pytest.approx(theta, rel=1e-9)
    assert result.cuped.welch.diff / result.cuped.welch.se == pytest.approx(theirs.statistic, rel=1e-9)
    assert result.cuped.welch.p_value == pytest.approx(theirs.pvalue, rel=1e-9)
    assert result.cuped.variance_reduction == pytest.approx(1 - np.var(adjusted.revenue) / np.var(y), rel=1e-9)


def test_cuped_reduces_variance_and_leaves_the_difference_unbiased():
    """2,000 experiments of 400 + 400 at rho 0.8: the CUPED difference has mean = effect,
    sd ~ sqrt(1 - rho²) = 0.6 of the plain one, and the se it reports is that sd."""
    rng = np.random.default_rng(4)
    reps, n, rho, effect = 2000, 400, 0.8, 1.0
    base, noise = rng.normal(0, 15, (2, reps, n)), rng.normal(0, 15, (2, reps, n))
    pre = rho * base + math.sqrt(1 - rho**2) * noise
    control, treatment = Moments.of(base[0], pre[0]), Moments.of(base[1] + effect, pre[1])
    _, reduction, adj_control, adj_treatment = cuped(control, treatment)
    plain = treatment.y / n - control.y / n
    adjusted = adj_treatment.mean - adj_control.mean
    se = np.sqrt(adj_control.var / n + adj_treatment.var / n)
    assert abs(adjusted.mean() - effect) < 3 * adjusted.std() / math.sqrt(reps)
    assert adjusted.std() / plain.std() == pytest.approx(0.6, abs=0.03)
    assert se.mean() == pytest.approx(adjusted.std(), rel=0.05)
    assert reduction.mean() == pytest.approx(rho**2, abs=0.01)


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda f: f.drop(columns="pre_revenue"), "no 'pre_revenue' column"),
        (lambda f: f.assign(pre_revenue=5.0), "'pre_revenue' is constant"),
        (lambda f: f.assign(pre_revenue=f.pre_revenue.where(f.index % 7 > 0)), "missing or non-finite"),
    ],
)
def test_cuped_skipped_without_a_usable_covariate(change, reason):
    result = analyse(change(make_sessions(PLAN.total, 0.0, seed=5)), PLAN)
    assert not result.cuped.applied and reason in result.cuped.reason
    assert result.cuped.welch is None and result.decided_by == "welch"
    assert (result.sequential.path.theta == 0).all()


# --- always-valid inference ----------------------------------------------------------------------


@pytest.mark.parametrize("diff, var, tau", [(0.9, 0.1, 0.7), (2.0, 0.5, 0.3), (-0.4, 0.01, 1.5)])
def test_msprt_is_the_normal_mixture_likelihood_ratio(diff, var, tau):
    """Lambda = ∫ N(diff; theta, var) / N(diff; 0, var) dN(theta; 0, tau²): numerically."""

    def integrand(theta):
        return (
            stats.norm.pdf(diff, theta, math.sqrt(var))
            / stats.norm.pdf(diff, 0, math.sqrt(var))
            * stats.norm.pdf(theta, 0, tau)
        )

    mixture = integrate.quad(integrand, -30 * tau, 30 * tau, points=[0, diff], limit=200)[0]
    assert mixture > 1
    assert always_valid(diff, var, tau=tau).p_value == pytest.approx([1 / mixture], rel=1e-7)


def test_confidence_sequence_is_where_the_msprt_does_not_reject():
    """At the edge of the interval the p-value is exactly alpha (test-interval duality)."""
    var, tau = np.array([[0.3], [0.02], [4.0]]), 0.7  # three experiments of one look each
    edge = always_valid(np.zeros((3, 1)), var, tau=tau, alpha=0.05).ci_upper
    assert always_valid(edge, var, tau=tau, alpha=0.05).p_value == pytest.approx(np.full((3, 1), 0.05), rel=1e-9)
    assert always_valid(edge * 1.01, var, tau=tau, alpha=0.05).p_value.max() < 0.05


def test_always_valid_p_and_interval_only_tighten():
    diff = np.array([3.0, 0.1, -2.0, 0.5, 0.6])
    var = np.array([1.0, 0.5, 0.3, 0.2, 0.1])
    result = always_valid(diff, var, tau=0.7)
    assert np.all(np.diff(result.p_value) <= 0) and result.p_value[1] == result.p_value[0] < 1
    assert np.all(np.diff(result.ci_lower) >= 0) and np.all(np.diff(result.ci_upper) <= 0)


def test_sequential_path_uses_only_the_past_at_each_look():
    frame = make_sessions(3000, 0.5, seed=6)
    path = sequential_path(frame, tau=0.7, looks=10)
    ordered = frame.sort_values("decided_at")
    assert list(path.customers) == list(range(300, 3001, 300))
    assert np.all(np.diff(path.av_p) <= 0) and (path.av_lower <= path.av_upper).all()
    for look in (0, 4, 9):
        prefix = ordered.iloc[: path.customers[look]]
        y, x = prefix.revenue.to_numpy(), prefix.pre_revenue.to_numpy()
        theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
        assert path.theta[look] == pytest.approx(theta, rel=1e-9)
        adjusted = prefix.assign(revenue=y - theta * x)
        theirs = stats.ttest_ind(*arms(adjusted)[::-1], equal_var=False)
        assert path.welch_p[look] == pytest.approx(theirs.pvalue, rel=1e-7)
        assert (path.n_control[look], path.n_treatment[look]) == tuple(map(len, arms(prefix)))


# --- the verdict -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, effect, share, verdict, decided_by, stopped",
    [
        (PLAN.total, 3.0, 0.5, "treatment better", "cuped", False),
        (PLAN.total, 0.0, 0.5, "not better", "cuped", False),
        (PLAN.total, -3.0, 0.5, "treatment worse", "cuped", False),
        (PLAN.total, 3.0, 0.55, "invalid: sample ratio mismatch", "cuped", False),
        (5000, 3.0, 0.5, "treatment better", "sequential", True),
        (5000, 0.0, 0.5, "incomplete", "none", False),
    ],
)
def test_verdict(n, effect, share, verdict, decided_by, stopped):
    result = analyse(make_sessions(n, effect, seed=7, share=share), PLAN)
    assert (result.verdict, result.decided_by, result.stopped_early) == (verdict, decided_by, stopped)
    assert result.treatment_better == (verdict == "treatment better")
    assert result.srm.mismatch == (share != 0.5)
    assert result.beats_min_effect == (verdict == "treatment better")  # 3 $ is far above the 0.7 $ mde


def test_beating_the_minimum_effect_needs_the_lower_bound_above_it():
    result = analyse(make_sessions(PLAN.total, 1.0, seed=8), PLAN)
    assert result.treatment_better
    assert result.cuped.welch.ci_lower < PLAN.mde and not result.beats_min_effect
    assert "does not exclude gains below the 0.70 $ minimum effect" in summary_lines(result)[-1]


def test_fixed_horizon_uses_the_first_planned_sessions_in_completion_order():
    frame = make_sessions(PLAN.total + 3000, 0.3, seed=9)
    result = analyse(frame, PLAN)
    first = frame.sort_values("decided_at").iloc[: PLAN.total]
    expected = welch(*arms(first))
    assert result.horizon_reached
    assert result.welch.n_control + result.welch.n_treatment == PLAN.total
    assert result.welch.p_value == pytest.approx(expected.p_value, rel=1e-9)
    assert result.n_control + result.n_treatment == PLAN.total + 3000
    assert result.sequential.path.customers.iloc[-1] == PLAN.total + 3000


def test_result_is_json_and_the_summary_reads_well():
    design = sample_size(0.05, 0.8, 0.7, 15.0, sided=1)
    result = analyse(make_sessions(PLAN.total, 3.0, seed=10), design)
    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert data["verdict"] == "treatment better" and data["design"]["total"] == design.total
    assert data["welch"]["ci_upper"] is None  # one-sided: unbounded above
    assert len(data["sequential"]["path"]) == 50 and data["cuped"]["applied"] is True
    lines = "\n".join(summary_lines(result))
    for text in (
        "control",
        "chi-square p =",
        "CUPED               theta",
        "variance -",
        "always-valid 95% CI",
        "one-sided",
        "the new targeting beats the original",
        "by at least the 0.70 $ minimum effect",
    ):
        assert text in lines


def test_analyse_works_on_almost_no_data():
    result = analyse(make_sessions(3, 1.0, seed=11), PLAN)
    assert result.verdict == "incomplete" and len(result.sequential.path) == 0
    json.dumps(result.as_dict(), allow_nan=False)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.drop(columns="decided_at"), "missing column"),
        (lambda f: f.assign(arm=f.arm.replace("treatment", "B")), "sessions.arm"),
        (lambda f: f.assign(revenue=f.revenue.where(f.index > 0)), "finite revenue"),
    ],
)
def test_malformed_sessions_raise(change, message):
    with pytest.raises(ValueError, match=message):
        analyse(change(make_sessions(100, 0.0, seed=12)), PLAN)


# --- Monte-Carlo calibration (experiment/calibration.py) ------------------------------------------


def test_simulated_revenue_is_the_shape_the_plan_assumes():
    rng = np.random.default_rng(13)
    base, other = calibration.skewed_revenue(rng, (2, 1_000_000))
    pre = calibration.RHO * base + math.sqrt(1 - calibration.RHO**2) * other
    assert base.std() == pytest.approx(15.0, rel=0.01) and np.mean(base == 0) == pytest.approx(0.9, abs=0.002)
    assert stats.skew(base) > 2
    assert np.corrcoef(base, pre)[0, 1] == pytest.approx(calibration.RHO, abs=0.005)


def within(check, sigmas=3):
    return abs(check.rate - check.expected) <= sigmas * check.se


def test_aa_false_positive_rate_is_alpha(checks):
    assert within(checks["aa_welch"]) and checks["aa_welch"].expected == 0.05


def test_peeking_inflates_naive_welch_but_not_the_msprt(checks):
    assert checks["aa_peek_naive"].rate > 2 * 0.05
    for name in ("aa_peek_msprt", "aa_peek_msprt_cuped"):
        assert checks[name].rate <= 0.05 + 3 * checks[name].se


def test_confidence_sequence_covers_the_true_effect_at_every_look(checks):
    assert checks["ab_sequence_covers"].rate >= 0.95 - 3 * checks["ab_sequence_covers"].se


def test_power_at_the_mde_is_the_planned_power(checks):
    assert checks["ab_welch_power"].expected == pytest.approx(0.8, abs=1e-3)
    assert within(checks["ab_welch_power"])


def test_cuped_keeps_the_false_positive_rate_and_raises_power(checks):
    assert within(checks["aa_cuped"])
    assert within(checks["ab_cuped_power"])  # the power of sd 15 * sqrt(1 - rho²)
    plain, adjusted = checks["ab_welch_power"], checks["ab_cuped_power"]
    assert adjusted.rate - plain.rate > 3 * math.hypot(plain.se, adjusted.se)


def test_srm_alarm_rates_match_the_exact_binomial(checks):
    assert within(checks["srm_52_48"]) and checks["srm_52_48"].expected > 0.9
    assert within(checks["srm_fair"]) and checks["srm_fair"].expected == pytest.approx(0.001, rel=0.05)
    k = np.arange(PLAN.total + 1)
    alarms = srm(PLAN.total - k, k).mismatch
    for share in (0.5, 0.52):
        exact = stats.binom.pmf(k, PLAN.total, share)[alarms].sum()
        assert calibration.srm_alarm_rate(PLAN.total, share, 0.5) == pytest.approx(exact, rel=1e-9)


def test_calibration_table_lists_every_check(checks):
    lines = calibration.table(checks)
    assert len(lines) == 1 + len(checks) and all(calibration.LABELS[name] in "\n".join(lines) for name in checks)


def test_revenue_by_model_splits_the_arms_by_the_deciding_version():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "arm": ["control"] * 400 + ["treatment"] * 600,
            "model": ["base:1"] * 400 + ["new:1"] * 300 + ["new:2"] * 250 + [""] * 50,
            "decision": rng.integers(0, 2, 1000),
            "revenue": np.r_[rng.normal(1, 3, 400), rng.normal(2, 3, 300), rng.normal(3, 3, 250), np.zeros(50)],
        }
    )
    rows = {(r["arm"], r["model"]): r for r in revenue_by_model(frame, alpha=0.1)}
    assert set(rows) == {
        ("control", "base:1"),
        ("treatment", "new:1"),
        ("treatment", "new:2"),
        ("treatment", "missing"),
    }
    group = frame[frame.model == "new:2"]
    r = rows[("treatment", "new:2")]
    low, high = stats.norm.interval(0.9, group.revenue.mean(), group.revenue.std(ddof=1) / math.sqrt(250))
    assert r["sessions"] == 250 and r["shown"] == pytest.approx(group.decision.mean())
    assert (r["revenue_mean"], r["ci_lower"], r["ci_upper"]) == pytest.approx((group.revenue.mean(), low, high))
    assert sum(r["sessions"] for r in rows.values()) == len(frame)
    assert revenue_by_model(frame.drop(columns="model")) == []
