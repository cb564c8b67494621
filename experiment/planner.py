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

``python -m experiment.planner`` prints the plan for the configured design (conf/economics.yaml
and the design section of conf/experiment.yaml); every setting can be overridden on the
command line (``--help``).
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

MAX_CUSTOMERS = 1_000_000_000
MIN_PER_ARM = 2  # a variance needs two observations per arm

Sided = Literal[1, 2]
Field = Literal["alpha", "power", "mde", "sd", "sided", "treatment_share", "sample_size"]


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
    n_control: float, n_treatment: float, *, sd: float, alpha: float = 0.05, power: float = 0.8,
    sided: Sided = 2,
) -> float | np.ndarray:
    """Smallest true difference ($) detected with ``power``: the required non-centrality
    does not depend on n, so mde = ncp * sd * sqrt(1/n_control + 1/n_treatment)."""
    se_unit = np.sqrt(1.0 / np.asarray(n_control, float) + 1.0 / np.asarray(n_treatment, float))
    return _required_ncp(alpha, power, sided) * sd * se_unit


def sample_size(
    alpha: float, power: float, mde: float, sd: float, *, sided: Sided = 2, treatment_share: float = 0.5,
) -> Plan:
    """Smallest per-arm sizes with the requested power (validated like ``resolve``)."""
    return resolve(alpha=alpha, power=power, mde=mde, sd=sd, sided=sided, treatment_share=treatment_share)


def split(total: int, treatment_share: float) -> tuple[int, int]:
    """(n_control, n_treatment) for ``total`` customers, treatment rounded half up."""
    n_treatment = math.floor(total * treatment_share + 0.5)
    return total - n_treatment, n_treatment


def resolve(
    *, alpha: Any, power: Any, mde: Any, sd: Any, sided: Any = 2, treatment_share: Any = 0.5,
    sample_size: Any = None,
) -> Plan:
    """The A/B platform's form: validate every field and solve the one left empty.

    Give power and mde to get the sample size; a sample size and power to get the effect it
    detects; a sample size and mde to get its power; all three to check that the sample size
    is enough. Anything incoherent raises ``PlanError`` naming the field.
    """
    alpha = _probability("alpha", alpha)
    sd = _positive("sd", sd, "the revenue sd per customer-session ($)")
    sided = _sided(sided)
    share = _probability("treatment_share", treatment_share)
    if power is not None:
        power = _power(power, alpha)
    if mde is not None:
        mde = _positive("mde", mde, "the minimum effect of interest ($/customer)")
    if mde is None and sample_size is None:
        raise PlanError("mde", "give the minimum effect of interest ($/customer) to size the test, "
                               "or a sample size to learn which effect it can detect")
    if power is None and (mde is None or sample_size is None):
        raise PlanError("power", "give the power, unless both mde and sample_size are given")
    settings = dict(alpha=alpha, sd=sd, sided=sided, treatment_share=share)

    needed = None
    if mde is not None and power is not None:
        needed = _minimum_plan(mde=mde, power=power, **settings)
        if sample_size is None:
            return needed

    total = _sample_size(sample_size)
    n_control, n_treatment = split(total, share)
    if needed is not None and total >= needed.total:
        # Keep every arm at its required size when the total allows it, so that the
        # planner's own answer (rounded up per arm) is never refused after re-splitting.
        n_treatment = int(np.clip(n_treatment, needed.n_treatment, total - needed.n_control))
        n_control = total - n_treatment
    if min(n_control, n_treatment) < MIN_PER_ARM:
        raise PlanError("sample_size", f"{total:,} customers at a {share:.1%} treatment share leave "
                                       f"control {n_control:,} + treatment {n_treatment:,}; each arm "
                                       f"needs at least {MIN_PER_ARM}")
    if mde is None:
        mde = float(detectable_effect(n_control, n_treatment, sd=sd, alpha=alpha, power=power, sided=sided))
    achieved = float(power_for(n_control, n_treatment, mde=mde, sd=sd, alpha=alpha, sided=sided))
    if power is None:
        power = achieved
    elif achieved < power:
        raise PlanError("sample_size", (
            f"{total:,} customers (control {n_control:,} + treatment {n_treatment:,}) reach only "
            f"{achieved:.1%} power for a {mde:.2f} $ effect at sd {sd:.2f} $; {power:.0%} power needs "
            f"control {needed.n_control:,} + treatment {needed.n_treatment:,} = {needed.total:,} customers"))
    return Plan(alpha, power, mde, sd, sided, share, n_control, n_treatment, achieved)


def _minimum_plan(*, alpha: float, power: float, mde: float, sd: float, sided: Sided,
                  treatment_share: float) -> Plan:
    ncp = _required_ncp(alpha, power, sided)
    total = (ncp * sd / mde) ** 2 * (1.0 / treatment_share + 1.0 / (1.0 - treatment_share))
    if total > MAX_CUSTOMERS:
        raise PlanError("mde", (
            f"detecting {mde:g} $ at sd {sd:g} $ with {power:.0%} power needs {total:.3g} customers, "
            f"more than {MAX_CUSTOMERS:.0e}: the effect is too small relative to the noise"))
    n_control = max(MIN_PER_ARM, math.ceil(total * (1.0 - treatment_share)))
    n_treatment = max(MIN_PER_ARM, math.ceil(total * treatment_share))
    achieved = float(power_for(n_control, n_treatment, mde=mde, sd=sd, alpha=alpha, sided=sided))
    return Plan(alpha, power, mde, sd, sided, treatment_share, n_control, n_treatment, achieved)


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


def _number(field: Field, value: Any) -> float:
    if isinstance(value, bool):
        raise PlanError(field, f"expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PlanError(field, f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise PlanError(field, f"must be a finite number, got {value!r}")
    return number


def _probability(field: Field, value: Any) -> float:
    number = _number(field, value)
    if not 0.0 < number < 1.0:
        what = "the significance level" if field == "alpha" else "the share of customers sent to treatment"
        raise PlanError(field, f"{what} must lie strictly between 0 and 1, got {number:g}")
    return number


def _power(value: Any, alpha: float) -> float:
    power = _number("power", value)
    if power >= 1.0:
        raise PlanError("power", f"must be below 1, got {power:g}: certainty needs infinitely many customers")
    if power <= alpha:
        raise PlanError("power", (
            f"{power:g} is not above alpha {alpha:g}: a test rejects with probability alpha even "
            "when there is no effect, so its power under the alternative must exceed alpha"))
    return power


def _positive(field: Field, value: Any, what: str) -> float:
    number = _number(field, value)
    if number <= 0.0:
        raise PlanError(field, f"{what} must be positive, got {number:g}")
    return number


def _sided(value: Any) -> Sided:
    if isinstance(value, bool) or value not in (1, 2):
        raise PlanError("sided", f"expected 1 (treatment > control) or 2 (any difference), got {value!r}")
    return int(value)


def _sample_size(value: Any) -> int:
    number = _number("sample_size", value)
    if number != int(number):
        raise PlanError("sample_size", f"expected a whole number of customers, got {value!r}")
    if not 2 * MIN_PER_ARM <= number <= MAX_CUSTOMERS:
        raise PlanError("sample_size", f"expected between {2 * MIN_PER_ARM} and {MAX_CUSTOMERS:,} "
                                       f"customers in total, got {number:,.0f}")
    return int(number)


def describe(plan: Plan, curve: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)) -> list[str]:
    """A console summary: the sizes, the effect detectable, and power at fractions of the plan."""
    test = "two-sided" if plan.sided == 2 else "one-sided (treatment > control)"
    mde_here = float(detectable_effect(plan.n_control, plan.n_treatment, sd=plan.sd, alpha=plan.alpha,
                                       power=plan.power, sided=plan.sided))
    lines = [
        f"A/B test plan: {test} test of mean revenue per customer, alpha {plan.alpha:g}",
        f"  sample size       control {plan.n_control:,} + treatment {plan.n_treatment:,} = "
        f"{plan.total:,} customers ({plan.treatment_share:.0%} to treatment)",
        f"  power             {plan.achieved_power:.1%} to detect {plan.mde:.2f} $/customer "
        f"(revenue sd {plan.sd:.2f} $)",
        f"  detectable effect {mde_here:.2f} $/customer with {plan.power:.0%} power at this size",
        f"  {'customers':>15} {'power at ' + format(plan.mde, '.2f') + ' $':>18} "
        f"{'effect at ' + format(plan.power, '.0%') + ' power':>20}",
    ]
    for fraction in curve:
        n_control, n_treatment = split(max(2 * MIN_PER_ARM, round(plan.total * fraction)), plan.treatment_share)
        power = power_for(n_control, n_treatment, mde=plan.mde, sd=plan.sd, alpha=plan.alpha, sided=plan.sided)
        effect = detectable_effect(n_control, n_treatment, sd=plan.sd, alpha=plan.alpha, power=plan.power,
                                   sided=plan.sided)
        lines.append(f"  {n_control + n_treatment:>15,} {power:>18.1%} {effect:>17.2f} $")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    from experiment.config import DEFAULT_ECONOMICS, load_experiment  # the config module builds on this one
    from job.config import ConfigError

    parser = argparse.ArgumentParser(prog="python -m experiment.planner", description=__doc__.split("\n")[0])
    parser.add_argument("--economics", default=str(DEFAULT_ECONOMICS), help="alpha, power, min_effect, "
                                                                            "revenue_sd (%(default)s)")
    parser.add_argument("--alpha", type=float, help="significance level")
    parser.add_argument("--power", type=float, help="power to detect the minimum effect")
    parser.add_argument("--mde", type=float, help="minimum effect of interest, $/customer")
    parser.add_argument("--sd", type=float, help="sd of revenue per customer-session, $")
    parser.add_argument("--sided", type=int, help="1: treatment > control, 2: any difference")
    parser.add_argument("--split", type=float, help="share of customers sent to treatment")
    parser.add_argument("--n", type=float, help="total customers available (both arms): plan with these "
                                                "instead, refused if they cannot reach the power")
    args = parser.parse_args(argv)
    try:
        design = load_experiment(economics_path=Path(args.economics)).design
    except ConfigError as exc:
        print(f"planner: {exc}", file=sys.stderr)
        return 2
    settings = {"alpha": design.alpha, "power": design.power, "mde": design.mde, "sd": design.sd,
                "sided": design.sided, "split": design.treatment_share}
    settings.update({key: value for key, value in vars(args).items() if key in settings and value is not None})
    try:
        plan = resolve(alpha=settings["alpha"], power=settings["power"], mde=settings["mde"], sd=settings["sd"],
                       sided=settings["sided"], treatment_share=settings["split"], sample_size=args.n)
    except PlanError as exc:
        print(f"planner: {exc}", file=sys.stderr)
        return 2
    print("\n".join(describe(plan)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
