"""The A/B planner: sizes match statsmodels, inverse questions round-trip, bad forms name the field."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from experiment import planner
from experiment.config import load_experiment
from experiment.numbers import money, percent
from experiment.planner import PlanError, detectable_effect, power_for, resolve, sample_size

DEFAULT = dict(alpha=0.05, power=0.8, mde=0.7, sd=15.0)
GRID = [
    dict(mde=mde, sd=sd, alpha=alpha, power=power, sided=sided, treatment_share=share)
    for mde, sd in ((0.7, 15.0), (2.0, 15.0), (0.3, 4.0))
    for alpha, power in ((0.05, 0.8), (0.01, 0.9), (0.1, 0.6))
    for sided in (1, 2)
    for share in (0.5, 0.2, 0.7)
]


def _alternative(sided):
    return "two-sided" if sided == 2 else "larger"


def test_default_design_needs_7209_per_arm():
    design = load_experiment(environ={}).design
    plan = sample_size(design.alpha, design.power, design.mde, design.sd)
    assert (plan.n_control, plan.n_treatment, plan.total) == (7209, 7209, 14418)
    assert plan.achieved_power >= 0.8 > power_for(7208, 7208, mde=0.7, sd=15.0)


@pytest.mark.parametrize("case", GRID, ids=lambda c: "-".join(f"{v:g}" for v in c.values()))
def test_sizes_are_statsmodels_normal_ind_power_rounded_up(case):
    plan = sample_size(**case)
    share = case["treatment_share"]
    nobs1 = NormalIndPower().solve_power(
        effect_size=case["mde"] / case["sd"],
        alpha=case["alpha"],
        power=case["power"],
        ratio=share / (1 - share),
        alternative=_alternative(case["sided"]),
    )
    for ours, theirs in ((plan.n_control, nobs1), (plan.n_treatment, nobs1 * share / (1 - share))):
        assert theirs - 1e-6 <= ours < theirs + 1 + 1e-6
    assert plan.achieved_power >= case["power"]


@pytest.mark.parametrize("case", GRID[::5], ids=lambda c: "-".join(f"{v:g}" for v in c.values()))
def test_power_and_effect_match_statsmodels_at_any_size(case):
    share, sided = case["treatment_share"], case["sided"]
    n_control = 3001
    ratio = share / (1 - share)
    ours = power_for(n_control, n_control * ratio, mde=case["mde"], sd=case["sd"], alpha=case["alpha"], sided=sided)
    theirs = NormalIndPower().power(
        case["mde"] / case["sd"], n_control, case["alpha"], ratio=ratio, alternative=_alternative(sided)
    )
    assert ours == pytest.approx(theirs, rel=1e-9)
    effect = detectable_effect(
        n_control, n_control * ratio, sd=case["sd"], alpha=case["alpha"], power=case["power"], sided=sided
    )
    # statsmodels' own root finder stops at ~1e-5; its power function is exact
    theirs = NormalIndPower().solve_power(
        None, n_control, case["alpha"], case["power"], ratio, alternative=_alternative(sided)
    )
    assert effect / case["sd"] == pytest.approx(theirs, rel=1e-4)
    assert NormalIndPower().power(
        effect / case["sd"], n_control, case["alpha"], ratio=ratio, alternative=_alternative(sided)
    ) == pytest.approx(case["power"], rel=1e-9)


@pytest.mark.parametrize("sided, share", [(2, 0.5), (1, 0.5), (2, 0.3)])
def test_close_to_the_t_test_at_large_n(sided, share):
    """Welch is what runs; at thousands per arm its t and the z of the plan differ by a customer or two."""
    plan = sample_size(**DEFAULT, sided=sided, treatment_share=share)
    nobs1 = TTestIndPower().solve_power(
        0.7 / 15.0, alpha=0.05, power=0.8, ratio=share / (1 - share), alternative=_alternative(sided)
    )
    assert abs(plan.n_control - nobs1) <= 2


def test_far_tail_counts_in_two_sided_power():
    """Both rejection regions: at a tiny effect the power is alpha, not alpha / 2."""
    assert power_for(10, 10, mde=1e-9, sd=1.0, alpha=0.05, sided=2) == pytest.approx(0.05)
    assert power_for(10, 10, mde=1e-9, sd=1.0, alpha=0.05, sided=1) == pytest.approx(0.05)
    far = power_for(20, 20, mde=0.5, sd=1.0, sided=2) - power_for(20, 20, mde=0.5, sd=1.0, sided=1, alpha=0.025)
    assert 0 < far < 1e-3


@settings(max_examples=60, deadline=None)
@given(n=st.integers(100, 2_000_000), ncp=st.floats(2.0, 4.5), sided=st.sampled_from([1, 2]))
def test_round_trip_n_power_n(n, ncp, sided):
    effect = ncp * math.sqrt(2 / n)  # sd 1: the non-centrality keeps power within 50 % and 99.9 %
    power = float(power_for(n, n, mde=effect, sd=1.0, sided=sided))
    plan = sample_size(0.05, power - 1e-9, effect, 1.0, sided=sided)
    assert (plan.n_control, plan.n_treatment) == (n, n)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(100, 2_000_000), power=st.floats(0.5, 0.99), sided=st.sampled_from([1, 2]))
def test_round_trip_n_effect_n(n, power, sided):
    effect = float(detectable_effect(n, n, sd=15.0, power=power, sided=sided))
    assert power_for(n, n, mde=effect, sd=15.0, sided=sided) == pytest.approx(power, abs=1e-9)
    plan = sample_size(0.05, power, effect * (1 + 1e-9), 15.0, sided=sided)
    assert (plan.n_control, plan.n_treatment) == (n, n)


def test_resolve_solves_the_empty_field():
    assert resolve(**DEFAULT) == sample_size(**DEFAULT)
    detect = resolve(**{**DEFAULT, "mde": None}, sample_size=20_000)
    assert detect.mde == pytest.approx(float(detectable_effect(10_000, 10_000, sd=15.0)))
    assert detect.mde < 0.7 and detect.achieved_power == pytest.approx(0.8)
    weak = resolve(**{**DEFAULT, "power": None}, sample_size=10_000)
    assert weak.power == weak.achieved_power == pytest.approx(float(power_for(5000, 5000, mde=0.7, sd=15.0)))
    roomy = resolve(**DEFAULT, treatment_share=0.3, sample_size=30_000)
    assert (roomy.n_control, roomy.n_treatment) == (21_000, 9_000) and roomy.achieved_power > 0.8


@pytest.mark.parametrize("case", GRID, ids=lambda c: "-".join(f"{v:g}" for v in c.values()))
def test_the_planners_own_total_is_accepted(case):
    """Re-splitting the planned total by the share must not drop an arm below its size."""
    plan = sample_size(**case)
    again = resolve(**case, sample_size=plan.total)
    assert again.n_control >= plan.n_control and again.n_treatment >= plan.n_treatment
    assert again.achieved_power >= case["power"]


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"alpha": 0}, "alpha", "strictly between 0 and 1, got 0"),
        ({"alpha": 1.0}, "alpha", "strictly between 0 and 1"),
        ({"alpha": 0.9}, "alpha", "between 0.0001 and 0.2, got 0.9: a looser test declares a winner"),  # defect 3
        ({"alpha": 1e-6}, "alpha", "between 0.0001 and 0.2.*a stricter test needs several times the customers"),
        ({"alpha": float("nan")}, "alpha", "finite"),
        ({"alpha": "five percent"}, "alpha", "expected a number"),
        ({"alpha": True}, "alpha", "expected a number"),
        ({"alpha": "1_0e-2"}, "alpha", "expected a number such as 0.05"),  # defect 6: float() reads it as 0.1
        ({"alpha": "\u0660.\u0660\u0665"}, "alpha", "expected a number such as 0.05"),  # Arabic-Indic 0.05
        ({"alpha": [0.05]}, "alpha", "expected a number"),
        ({"alpha": "9" * 400}, "alpha", "finite number, got '9{40}…'$"),  # defect 6: echoed 40 characters, not all
        ({"mde": 10**400}, "mde", "finite"),  # an int beyond any float
        ({"power": 1.0}, "power", "must be below 1.*infinitely many customers"),
        ({"power": 0.05}, "power", "not above alpha 0.05.*must exceed alpha"),
        ({"power": 0.0500001}, "power", "between 50 % and 99.9 %, got 5 %: a weaker test misses"),  # defect 3
        ({"power": 0.03, "alpha": 0.01}, "power", "between 50 % and 99.9 %, got 3 %"),  # defect 3
        ({"power": 0.9999999}, "power", "between 50 % and 99.9 %, got 99.99999 %: beyond it"),  # defect 4
        ({"power": float("inf")}, "power", "finite"),
        ({"mde": 0}, "mde", "minimum effect of interest.*must be positive"),
        ({"mde": -0.7}, "mde", "must be positive"),
        ({"mde": 1e-5}, "mde", r"needs 7.06e\+13 customers, more than 1e\+09.*too small relative to the noise"),
        ({"mde": 1e-200}, "mde", r"1.00e-200 \$ at sd 15.00 \$ .* needs more than 1e\+09 customers"),  # defect 1
        ({"mde": 5e-324}, "mde", "needs more than 1e\\+09 customers"),
        ({"mde": 1000}, "mde", r"1,000.00 \$ is more than the revenue sd \(15.00 \$\)"),  # defect 3
        ({"mde": 1e308}, "mde", r"1.00e\+308 \$ is more than the revenue sd"),  # defect 3: no 300-digit amount
        ({"sd": 1e200}, "sd", "beyond 1,000,000 \\$"),  # defect 1 (OverflowError) and 5 (it named mde)
        ({"sd": 1e308}, "sd", "beyond 1,000,000 \\$"),
        ({"sd": 0}, "sd", "revenue sd.*must be positive"),
        ({"sd": float("-inf")}, "sd", "finite"),
        ({"sided": 3}, "sided", "expected 1 .* or 2"),
        ({"sided": True}, "sided", "expected 1"),
        ({"treatment_share": 0.0}, "treatment_share", "share of customers sent to treatment"),
        ({"treatment_share": 1.2}, "treatment_share", "strictly between 0 and 1"),
        ({"treatment_share": 0.0001}, "treatment_share", "between 0.05 and 0.95"),  # defect 5: it named mde
        ({"treatment_share": 0.004}, "treatment_share", "between 0.05 and 0.95"),
        (
            {"sample_size": 10_000},
            "sample_size",  # all four given and incoherent: what they give, what is needed
            r"10,000 customers give 64.6 % power at 0.70 \$ \(sd 15.00 \$, alpha 0.05\); 80 % needs 14,418",
        ),
        ({"sample_size": 14_417.5}, "sample_size", "whole number"),
        ({"sample_size": 2e9}, "sample_size", "between 200 and 1,000,000,000"),
        ({"sample_size": 3}, "sample_size", "between 200 .*at least 100 per arm"),
        (
            {"sample_size": 1000, "treatment_share": 0.95, "power": None},
            "sample_size",
            "treatment 950; each arm needs at least 100 for the normal approximation.*give at least 2,000",
        ),
        (
            {"sample_size": 1000, "power": None},
            "sample_size",
            r"1,000 customers give 11.4 % power at 0.70 \$, below 50 %.*80 % needs 14,418",
        ),
        ({"sample_size": 1000, "alpha": None}, "alpha", "only with alpha above 0.2"),
        ({"sample_size": 10**6, "alpha": None}, "alpha", "even at alpha 0.0001: the data fix no alpha"),
        ({"mde": None}, "mde", "give three of alpha, power, minimum effect and sample size; mde and sample_size"),
        ({"power": None, "alpha": None}, "alpha", "only 1 given"),
    ],
)
def test_incoherent_settings_name_the_field(change, field, message):
    form = {**DEFAULT, "sided": 2, "treatment_share": 0.5, "sample_size": None, **change}
    with pytest.raises(PlanError, match=message) as caught:
        resolve(**form)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_split_rounds_treatment_half_up():
    assert planner.split(14_417, 0.5) == (7208, 7209)
    assert planner.split(10, 0.25) == (7, 3)


def test_any_three_of_the_four_settings_give_the_fourth():
    """The specification's four settings: each solved from the other three (statsmodels'
    NormalIndPower as the reference), and all four together accepted as coherent."""
    known = dict(alpha=0.05, power=0.8, mde=0.7, sample_size=20_000)
    reference = NormalIndPower()
    alpha = resolve(**{**known, "alpha": None}, sd=15.0).alpha
    assert alpha == pytest.approx(reference.solve_power(0.7 / 15, 10_000, None, 0.8), rel=1e-4)
    power = resolve(**{**known, "power": None}, sd=15.0).power
    assert power == pytest.approx(reference.power(0.7 / 15, 10_000, 0.05), rel=1e-9)
    mde = resolve(**{**known, "mde": None}, sd=15.0).mde
    assert mde / 15 == pytest.approx(reference.solve_power(None, 10_000, 0.05, 0.8), rel=1e-4)
    assert resolve(**{**known, "sample_size": None}, sd=15.0).total == 14_418
    for solved in ({"alpha": alpha}, {"power": power}, {"mde": mde}):
        plan = resolve(**{**known, **solved}, sd=15.0)  # the answer with the other three: coherent
        assert plan.total == 20_000 and plan.achieved_power >= plan.power - 1e-9


def test_a_per_arm_sample_size_puts_that_many_in_the_smaller_arm():
    assert resolve(**{**DEFAULT, "mde": None}, sample_size=10_000, per_arm=True).total == 20_000
    plan = resolve(**{**DEFAULT, "mde": None}, treatment_share=0.2, sample_size=1_000, per_arm=True)
    assert (plan.n_control, plan.n_treatment) == (4_000, 1_000)
    with pytest.raises(PlanError, match="between 100 and .* customers per arm"):
        resolve(**{**DEFAULT, "mde": None}, sample_size=99, per_arm=True)


def test_fixed_traffic_tells_the_effect_it_can_detect():
    """'I have 20,000 customers: which effect can I detect?'"""
    plan = resolve(alpha=0.05, power=0.8, mde=None, sd=15.0, sample_size=20_000)
    assert plan.mde == pytest.approx(float(detectable_effect(10_000, 10_000, sd=15.0)))
    assert "detectable effect 0.59 $/customer with 80 % power" in "\n".join(planner.describe(plan))


def test_a_large_effect_is_planned_at_the_normal_approximations_minimum_with_a_warning():
    plan = sample_size(0.05, 0.8, 10.0, 15.0)  # needs ~71 customers on its own
    assert (plan.n_control, plan.n_treatment) == (100, 100)
    assert any("keeps 100 per arm" in note for note in planner.warnings(plan))


@pytest.mark.parametrize(
    "design, says",
    [
        (dict(alpha=0.15), "alpha 0.15 is above the usual 0.05"),
        (dict(alpha=0.001), "stricter than the usual 0.05"),
        (dict(power=0.6), "power 60 % is below the usual 80 %: a real effect of 0.70 $ is missed 40 %"),
        (dict(treatment_share=0.1), "a 10 % treatment share needs 178% more customers than an even split"),
    ],
)
def test_unusual_choices_are_allowed_with_a_warning(design, says):
    plan = sample_size(**{**DEFAULT, **design})
    assert any(says in note for note in planner.warnings(plan)), planner.warnings(plan)
    assert planner.warnings(sample_size(**DEFAULT)) == []


def test_the_power_curve_runs_to_twice_the_plan_through_the_planned_point():
    plan = sample_size(**DEFAULT)
    points = planner.curve(plan)
    assert points[-1]["customers"] == 2 * plan.total
    powers = [p["power"] for p in points]
    assert powers == sorted(powers) and powers[0] < 0.06 and powers[-1] > 0.97
    middle = next(p for p in points if p["customers"] == plan.total)
    assert middle["power"] == pytest.approx(0.8, abs=1e-4)


@pytest.mark.parametrize(
    "value, shown",
    [
        (0.7, "0.70 $"),
        (0.004, "0.0040 $"),
        (15, "15.00 $"),
        (1234.5, "1,234.50 $"),
        (-0.7, "-0.70 $"),
        (1e308, "1.00e+308 $"),
        (float("nan"), "—"),
    ],
)
def test_money_keeps_the_digits_an_amount_needs(value, shown):
    """Defect 4: an effect of 0.004 $ printed as 0.00 $; 1e308 as 300 digits."""
    assert money(value) == shown


@pytest.mark.parametrize(
    "share, shown",
    [
        (0.8, "80 %"),
        (0.646, "64.6 %"),
        (0.999, "99.9 %"),
        (0.9999999, "99.99999 %"),
        (0.004, "0.4 %"),
        (0.05, "5 %"),
        (1 - 0.001, "99.9 %"),
    ],
)
def test_percent_never_rounds_to_0_or_100(share, shown):
    """Defect 4: alpha 0.001 showed an 'always-valid 100% interval', share 0.004 '0% treatment'."""
    assert percent(share) == shown
