"""How many customers the A/B test needs, and what a given number of customers can show.

The test compares mean revenue per customer-session, treatment (new targeting model) minus
control (original age/sex targeting). At the sizes involved (thousands per arm) Welch's t
is a z-test, so the plan uses the normal power function of a difference of two means:

    ncp   = mde / (sd * sqrt(1/n_control + 1/n_treatment))
    power = Phi(ncp - z) + Phi(-ncp - z)      z = Phi^-1(1 - alpha/2)   (two-sided)
    power = Phi(ncp - z)                      z = Phi^-1(1 - alpha)     (one-sided, larger)

including the far tail of the two-sided test, as statsmodels' ``NormalIndPower`` does.
Sizes are solved on the continuous scale and rounded up per arm (statsmodels' convention),
so the achieved power is never below the requested one.

``python -m experiment.plan_cli`` prints the plan for the configured design (conf/economics.yaml
and the design section of conf/experiment.yaml); every setting can be overridden on the
command line (``--help``).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal, Sequence

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from experiment.numbers import money, percent

MAX_CUSTOMERS = 1_000_000_000
# The plan treats Welch's t as a z-test on mean revenue, which is skewed (most customers
# buy nothing new, a few add 15 $): below about a hundred per arm neither the t/z
# equivalence nor the normality of the mean holds, so no arm is planned or accepted smaller.
MIN_PER_ARM = 100
# Ranges a person can defend in front of a review: beyond them the test either proves
# nothing (alpha 0.5, power 0.3) or costs without end (alpha 1e-9, power 0.9999).
ALPHA_RANGE = (0.0001, 0.2)
POWER_RANGE = (0.5, 0.999)
SHARE_RANGE = (0.05, 0.95)  # beyond it the small arm alone decides the variance
MAX_SD = 1e6  # $/customer: a revenue sd beyond it is a unit mistake (cents, or a total)
MAX_EFFECT_SDS = 1.0  # a "minimum" effect above one revenue sd is seen by any valid test
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")  # ASCII, no "_"
SHOWN = 40  # characters of a refused value echoed back

Sided = Literal[1, 2]
Field = Literal["alpha", "power", "mde", "sd", "sided", "treatment_share", "sample_size"]
UNKNOWNS = ("alpha", "power", "mde", "sample_size")  # the four settings: any three give the fourth


class PlanError(ValueError):
    """An incoherent experiment setting; ``field`` names the form field to correct."""

    def __init__(self, field: Field, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.reason = field, message


@dataclass(frozen=True)
class Plan:
    """A resolved design: the settings and the per-arm sizes that meet them."""

    alpha: float
    power: float  # requested power (the achieved one when power was the unknown)
    mde: float  # $/customer
    sd: float  # $/customer-session
    sided: Sided
    treatment_share: float
    n_control: int
    n_treatment: int
    achieved_power: float

    @property
    def total(self) -> int:
        return self.n_control + self.n_treatment

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}


def power_for(
    n_control: float, n_treatment: float, *, mde: float, sd: float, alpha: float = 0.05, sided: Sided = 2
) -> float | np.ndarray:
    """Power of the z-test for a true difference ``mde``; broadcasts over arrays of sizes."""
    ncp = mde / (sd * np.sqrt(1.0 / np.asarray(n_control, float) + 1.0 / np.asarray(n_treatment, float)))
    return _power_at_ncp(ncp, alpha, sided)


def power_for_total(
    total: int, *, treatment_share: float = 0.5, mde: float, sd: float, alpha: float = 0.05, sided: Sided = 2
) -> float:
    """Power when ``total`` customers are split by ``treatment_share`` (see ``split``)."""
    n_control, n_treatment = split(total, treatment_share)
    return float(power_for(n_control, n_treatment, mde=mde, sd=sd, alpha=alpha, sided=sided))


def detectable_effect(
    n_control: float,
    n_treatment: float,
    *,
    sd: float,
    alpha: float = 0.05,
    power: float = 0.8,
    sided: Sided = 2,
) -> float | np.ndarray:
    """Smallest true difference ($) detected with ``power``: the required non-centrality
    does not depend on n, so mde = ncp * sd * sqrt(1/n_control + 1/n_treatment)."""
    se_unit = np.sqrt(1.0 / np.asarray(n_control, float) + 1.0 / np.asarray(n_treatment, float))
    return _required_ncp(alpha, power, sided) * sd * se_unit


def sample_size(
    alpha: float,
    power: float,
    mde: float,
    sd: float,
    *,
    sided: Sided = 2,
    treatment_share: float = 0.5,
) -> Plan:
    """Smallest per-arm sizes with the requested power (validated like ``resolve``)."""
    return resolve(alpha=alpha, power=power, mde=mde, sd=sd, sided=sided, treatment_share=treatment_share)


def split(total: int, treatment_share: float) -> tuple[int, int]:
    """(n_control, n_treatment) for ``total`` customers, treatment rounded half up."""
    n_treatment = math.floor(total * treatment_share + 0.5)
    return total - n_treatment, n_treatment


def resolve(
    *,
    alpha: Any,
    power: Any,
    mde: Any,
    sd: Any,
    sided: Any = 2,
    treatment_share: Any = 0.5,
    sample_size: Any = None,
    per_arm: bool = False,
) -> Plan:
    """The A/B platform's form: validate every field and solve the one of the four
    settings (alpha, power, mde, sample_size) left as None. ``sample_size`` is the total,
    or with ``per_arm`` the least number of customers in each arm.

    All four given: the sample size must reach the power for mde at alpha, or the refusal
    says what it does reach and what is needed. Every bound (``ALPHA_RANGE``,
    ``POWER_RANGE``, ``MIN_PER_ARM``, ...) also holds for the solved value, so a plan this
    returns is one the platform can run and the analysis can trust. Anything incoherent
    raises ``PlanError`` naming the field to correct.
    """
    given = {"alpha": alpha, "power": power, "mde": mde, "sample_size": sample_size}
    missing = [name for name in UNKNOWNS if given[name] is None]
    if len(missing) > 1:
        raise PlanError(
            missing[0],
            f"give three of alpha, power, minimum effect and sample size; {' and '.join(missing)} are both empty"
            if len(missing) == 2
            else f"give three of alpha, power, minimum effect and sample size; only {4 - len(missing)} given",
        )
    sd = _positive("sd", sd, "the revenue sd ($/customer)")
    if sd > MAX_SD:
        raise PlanError(
            "sd",
            f"a revenue sd of {_shown(sd)} $/customer is beyond {MAX_SD:,.0f} $: "
            "is it in dollars, and per customer rather than a total?",
        )
    sided = _sided(sided)
    share = _bounded(
        "treatment_share",
        treatment_share,
        SHARE_RANGE,
        "the share of customers sent to treatment",
        ("the smaller arm would carry the whole variance",) * 2,
    )
    if alpha is not None:
        alpha = _bounded("alpha", alpha, ALPHA_RANGE, "the significance level", _ALPHA_WHY)
    if power is not None:
        power = _power(power, alpha)
    if mde is not None:
        mde = _effect(mde, sd)
    total = (
        None if sample_size is None else _per_arm_total(sample_size, share) if per_arm else _sample_size(sample_size)
    )
    settings = dict(sd=sd, sided=sided, treatment_share=share)

    if total is None:
        return _minimum_plan(alpha=alpha, power=power, mde=mde, **settings)
    n_control, n_treatment = _arms(total, share)
    if alpha is None:
        alpha = _alpha_for(n_control, n_treatment, power=power, mde=mde, **settings)
    if mde is None:
        mde = float(detectable_effect(n_control, n_treatment, sd=sd, alpha=alpha, power=power, sided=sided))
        _effect(mde, sd)
    achieved = float(power_for(n_control, n_treatment, mde=mde, sd=sd, alpha=alpha, sided=sided))
    if power is None:
        _achievable(achieved, total, alpha=alpha, mde=mde, **settings)
        return Plan(alpha, achieved, mde, sd, sided, share, n_control, n_treatment, achieved)
    needed = _minimum_plan(alpha=alpha, power=power, mde=mde, **settings)
    if total >= needed.total:
        # Keep every arm at its required size when the total allows it, so that the
        # planner's own answer (rounded up per arm) is never refused after re-splitting.
        n_treatment = int(np.clip(n_treatment, needed.n_treatment, total - needed.n_control))
        n_control = total - n_treatment
        achieved = float(power_for(n_control, n_treatment, mde=mde, sd=sd, alpha=alpha, sided=sided))
    if achieved < power - 1e-9:  # the tolerance of a solved alpha
        raise PlanError(
            "sample_size",
            (
                f"{total:,} customers give {percent(achieved)} power at {money(mde)} "
                f"(sd {money(sd)}, alpha {alpha:g}); "
                f"{percent(power)} needs {needed.total:,}: give {needed.total:,} or more customers, a lower power, a "
                f"larger minimum effect or a higher alpha, or leave one of them empty to have it solved"
            ),
        )
    return Plan(alpha, power, mde, sd, sided, share, n_control, n_treatment, achieved)


_ALPHA_WHY = (
    "a stricter test needs several times the customers for a certainty no business decision uses",
    "a looser test declares a winner that does not exist in more than one experiment in five",
)


def _per_arm_total(per_arm: Any, treatment_share: float) -> int:
    """The total that puts at least ``per_arm`` customers in the smaller arm (the form's
    "per arm" sample size, at any share)."""
    n = _sample_size(per_arm, low=MIN_PER_ARM, what="customers per arm")
    return _sample_size(math.ceil(n / min(treatment_share, 1.0 - treatment_share) - 1e-9))


def warnings(plan: Plan) -> list[str]:
    """Choices that are allowed but unusual, said next to the plan (never a refusal)."""
    notes = []
    if plan.alpha > 0.1:
        notes.append(
            f"alpha {plan.alpha:g} is above the usual 0.05: one test in {1 / plan.alpha:.0f} "
            "finds an effect that is not there"
        )
    if plan.alpha < 0.01:
        notes.append(f"alpha {plan.alpha:g} is stricter than the usual 0.05 and costs customers")
    if plan.power < 0.8:
        notes.append(
            f"power {percent(plan.power)} is below the usual 80 %: a real effect of "
            f"{money(plan.mde)} is missed {percent(1 - plan.power)} of the time"
        )
    even = _continuous_total(plan.alpha, plan.power, plan.mde / plan.sd, plan.sided, 0.5)
    if abs(plan.treatment_share - 0.5) > 0.2:
        uneven = _continuous_total(plan.alpha, plan.power, plan.mde / plan.sd, plan.sided, plan.treatment_share)
        notes.append(
            f"a {percent(plan.treatment_share)} treatment share needs {uneven / even - 1:.0%} more "
            "customers than an even split for the same power"
        )
    if min(plan.n_control, plan.n_treatment) == MIN_PER_ARM and even < 2 * MIN_PER_ARM:
        notes.append(
            f"the effect alone would need about {math.ceil(even):,} customers; the plan keeps "
            f"{MIN_PER_ARM} per arm, the least at which the normal approximation holds"
        )
    return notes


def curve(plan: Plan, points: int = 41) -> list[dict[str, float]]:
    """Power at the planned effect for 0 to twice the planned total: the chart beside the plan."""
    totals = np.unique(np.linspace(0, 2 * plan.total, points).round().astype(int).clip(2, None))
    n_treatment = np.floor(totals * plan.treatment_share + 0.5).clip(1, None)
    n_control = (totals - n_treatment).clip(1, None)
    power = power_for(n_control, n_treatment, mde=plan.mde, sd=plan.sd, alpha=plan.alpha, sided=plan.sided)
    return [{"customers": int(t), "power": float(p)} for t, p in zip(totals, power)]


def _continuous_total(alpha: float, power: float, effect_size: float, sided: Sided, share: float) -> float:
    """Customers (both arms, unrounded) for ``power`` at ``effect_size`` = mde / sd; inf
    when the number does not fit a float (an effect of 1e-200 sd)."""
    scale = _required_ncp(alpha, power, sided) / effect_size if effect_size > 0 else math.inf
    if scale > 1e150:  # its square would overflow a float
        return math.inf
    return scale**2 * (1.0 / share + 1.0 / (1.0 - share))


def _minimum_plan(*, alpha: float, power: float, mde: float, sd: float, sided: Sided, treatment_share: float) -> Plan:
    total = _continuous_total(alpha, power, mde / sd, sided, treatment_share)
    if total > MAX_CUSTOMERS:
        needs = f"more than {MAX_CUSTOMERS:.0e}" if math.isinf(total) else f"{total:.3g}"
        raise PlanError(
            "mde",
            (
                f"detecting {money(mde)} at sd {money(sd)} with {percent(power)} power needs {needs} customers"
                + ("" if math.isinf(total) else f", more than {MAX_CUSTOMERS:.0e}")
                + ": the effect is too small relative to the noise"
            ),
        )
    n_control = max(MIN_PER_ARM, math.ceil(total * (1.0 - treatment_share)))
    n_treatment = max(MIN_PER_ARM, math.ceil(total * treatment_share))
    achieved = float(power_for(n_control, n_treatment, mde=mde, sd=sd, alpha=alpha, sided=sided))
    return Plan(alpha, power, mde, sd, sided, treatment_share, n_control, n_treatment, achieved)


def _arms(total: int, share: float) -> tuple[int, int]:
    n_control, n_treatment = split(total, share)
    if min(n_control, n_treatment) < MIN_PER_ARM:
        raise PlanError(
            "sample_size",
            (
                f"{total:,} customers at a {percent(share)} treatment share leave control {n_control:,} + treatment "
                f"{n_treatment:,}; each arm needs at least {MIN_PER_ARM} for the normal approximation the test "
                f"relies on: give at least {math.ceil(MIN_PER_ARM / min(share, 1 - share)):,} customers"
            ),
        )
    return n_control, n_treatment


def _alpha_for(
    n_control: int, n_treatment: int, *, power: float, mde: float, sd: float, sided: Sided, treatment_share: float
) -> float:
    """The smallest alpha at which these arms reach ``power`` for ``mde`` (power grows with alpha)."""
    ncp = mde / (sd * math.sqrt(1.0 / n_control + 1.0 / n_treatment))
    low, high = ALPHA_RANGE
    total = n_control + n_treatment
    if _power_at_ncp(ncp, low, sided) >= power:
        raise PlanError(
            "alpha",
            (
                f"{total:,} customers reach {percent(power)} power at {money(mde)} even at alpha {low:g}: "
                "the data fix no alpha; give the one you will test at (usually 0.05)"
            ),
        )
    if _power_at_ncp(ncp, high, sided) < power:
        raise PlanError(
            "alpha",
            (
                f"{total:,} customers reach {percent(power)} power at {money(mde)} only with alpha above {high:g}: "
                "more customers, a larger minimum effect or a lower power"
            ),
        )
    return float(brentq(lambda a: _power_at_ncp(ncp, a, sided) - power, low, high, xtol=1e-15, rtol=1e-12))


def _achievable(
    achieved: float, total: int, *, alpha: float, mde: float, sd: float, sided: Sided, treatment_share: float
) -> None:
    """A solved power below the least defensible one is refused with what 80 % would need."""
    low, high = POWER_RANGE
    if achieved < low:
        needed = _minimum_plan(alpha=alpha, power=0.8, mde=mde, sd=sd, sided=sided, treatment_share=treatment_share)
        raise PlanError(
            "sample_size",
            (
                f"{total:,} customers give {percent(achieved)} power at {money(mde)}, below {percent(low)}: the test "
                f"would miss a real effect more often than find it; 80 % needs {needed.total:,}"
            ),
        )


def _power_at_ncp(ncp, alpha: float, sided: Sided):
    z = norm.isf(alpha / sided)
    power = norm.sf(z - ncp)
    if sided == 2:
        power = power + norm.cdf(-z - ncp)
    return power


def _required_ncp(alpha: float, power: float, sided: Sided) -> float:
    """Non-centrality at which the test has ``power``. One-sided: z_alpha + z_beta exactly;
    two-sided: the far tail adds a little power, so solve between 0 (power = alpha) and
    the one-tail answer (power >= target)."""
    one_tail = norm.isf(alpha / sided) + norm.ppf(power)
    if sided == 1:
        return float(one_tail)
    return float(brentq(lambda k: _power_at_ncp(k, alpha, 2) - power, 0.0, one_tail, xtol=1e-14, rtol=1e-15))


def _shown(value: Any) -> str:
    """A refused value as the refusal quotes it: never more than ``SHOWN`` characters of it."""
    if isinstance(value, str):
        return repr(value if len(value) <= SHOWN else value[:SHOWN] + "…")
    return repr(value)[:SHOWN]


def parse_number(field: str, value: Any) -> float:
    """A JSON number, or a string of ASCII digits as a person types one (``1e-3``, ``.5``):
    no ``1_0``, no other scripts' digits, no ``inf``/``nan``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PlanError(field, f"expected a number, got {_shown(value)}")
    if isinstance(value, str):
        if not NUMBER.fullmatch(value.strip()):
            raise PlanError(field, f"expected a number such as 0.05 or 1e-3, got {_shown(value)}")
        value = value.strip()
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        number = math.inf
    if not math.isfinite(number):
        raise PlanError(field, f"must be a finite number, got {_shown(value)}")
    return number


def _bounded(field: Field, value: Any, bounds: tuple[float, float], what: str, why: tuple[str, str]) -> float:
    """A probability within ``bounds``; ``why`` says what is wrong below and above them."""
    number = parse_number(field, value)
    if not 0.0 < number < 1.0:
        raise PlanError(field, f"{what} must lie strictly between 0 and 1, got {number:g}")
    low, high = bounds
    if not low <= number <= high:
        raise PlanError(
            field, f"{what} must lie between {low:g} and {high:g}, got {number:g}: {why[0] if number < low else why[1]}"
        )
    return number


def _power(value: Any, alpha: float | None) -> float:
    power = parse_number("power", value)
    if power >= 1.0:
        raise PlanError("power", f"must be below 1, got {power:g}: certainty needs infinitely many customers")
    if alpha is not None and power <= alpha:
        raise PlanError(
            "power",
            (
                f"{power:g} is not above alpha {alpha:g}: a test rejects with probability alpha even "
                "when there is no effect, so its power under the alternative must exceed alpha"
            ),
        )
    low, high = POWER_RANGE
    if not low <= power <= high:
        raise PlanError(
            "power",
            (
                f"must lie between {percent(low)} and {percent(high)}, got {percent(power)}: "
                + (
                    "a weaker test misses a real effect more often than it finds it"
                    if power < low
                    else "beyond it every further digit multiplies the customers for no decision it changes"
                )
            ),
        )
    return power


def _positive(field: Field, value: Any, what: str) -> float:
    number = parse_number(field, value)
    if number <= 0.0:
        raise PlanError(field, f"{what} must be positive, got {number:g}")
    return number


def _effect(value: Any, sd: float) -> float:
    mde = _positive("mde", value, "the minimum effect of interest ($/customer)")
    if mde > MAX_EFFECT_SDS * sd:
        raise PlanError(
            "mde",
            (
                f"{money(mde)} is more than the revenue sd ({money(sd)}): any test of {MIN_PER_ARM} customers per "
                f"arm sees an effect that large; the minimum effect is the smallest one worth detecting"
            ),
        )
    return mde


def _sided(value: Any) -> Sided:
    if isinstance(value, bool) or value not in (1, 2):
        raise PlanError("sided", f"expected 1 (treatment > control) or 2 (any difference), got {_shown(value)}")
    return int(value)


def _sample_size(value: Any, low: int = 2 * MIN_PER_ARM, what: str = "customers in total") -> int:
    number = parse_number("sample_size", value)
    if number != int(number):
        raise PlanError("sample_size", f"expected a whole number of customers, got {_shown(value)}")
    if not low <= number <= MAX_CUSTOMERS:
        raise PlanError(
            "sample_size",
            f"expected between {low:,} and {MAX_CUSTOMERS:,} {what} "
            f"(at least {MIN_PER_ARM} per arm), got {number:,.0f}",
        )
    return int(number)


def describe(plan: Plan, fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)) -> list[str]:
    """A console summary: the sizes, the effect detectable, and power at fractions of the plan."""
    test = "two-sided" if plan.sided == 2 else "one-sided (treatment > control)"
    mde_here = float(
        detectable_effect(
            plan.n_control, plan.n_treatment, sd=plan.sd, alpha=plan.alpha, power=plan.power, sided=plan.sided
        )
    )
    lines = [
        f"A/B test plan: {test} test of mean revenue per customer, alpha {plan.alpha:.3g}",
        f"  sample size       control {plan.n_control:,} + treatment {plan.n_treatment:,} = "
        f"{plan.total:,} customers ({percent(plan.treatment_share)} to treatment)",
        f"  power             {percent(plan.achieved_power)} to detect {money(plan.mde)}/customer "
        f"(revenue sd {money(plan.sd)}/customer)",
        f"  detectable effect {money(mde_here)}/customer with {percent(plan.power)} power at this size",
        f"  {'customers':>15} {'power at ' + money(plan.mde):>18} {'effect at ' + percent(plan.power) + ' power':>22}",
    ]
    for fraction in fractions:
        n_control, n_treatment = split(max(2 * MIN_PER_ARM, round(plan.total * fraction)), plan.treatment_share)
        power = power_for(n_control, n_treatment, mde=plan.mde, sd=plan.sd, alpha=plan.alpha, sided=plan.sided)
        effect = detectable_effect(
            n_control, n_treatment, sd=plan.sd, alpha=plan.alpha, power=plan.power, sided=plan.sided
        )
        lines.append(f"  {n_control + n_treatment:>15,} {percent(float(power)):>18} {money(float(effect)):>22}")
    return lines
