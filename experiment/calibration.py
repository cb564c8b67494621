"""Monte-Carlo calibration of experiment/analysis.py at the planned design.

Does each test do at the planned size, on revenue shaped like the shop's, what its theory
promises? Revenue per session is 0 $ for 90% of sessions and a log-normal purchase otherwise,
with sd 15 $ (the sd the plan assumes) and a long right tail; the pre-experiment covariate is
another such revenue mixed in so that its correlation with the session's revenue is RHO.
A treatment effect is a location shift of mde $, which leaves the sd at 15 $ so the planned
power applies exactly.

Replications are simulated as per-look sums (``Moments``), vectorised over replications,
and analysed by the same functions ``analyse`` uses, so the rates below are those of the
shipped code. ``python -m experiment.calibration`` prints the table; tests/unit/test_analysis.py
holds each rate to its target within three Monte-Carlo standard errors.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from scipy import stats

from experiment.analysis import Moments, always_valid, cuped, srm, welch_summary
from experiment.planner import Plan, power_for, sample_size

BUY_RATE = 0.1
PURCHASE_MEAN = 40.0  # $
REVENUE_SD = 15.0  # $ per session, as in conf/economics.yaml
# Mixture variance: q (s² + m²) - (q m)² = sd²  ->  s, the purchase sd, then log-normal parameters.
PURCHASE_SD = math.sqrt((REVENUE_SD**2 + (BUY_RATE * PURCHASE_MEAN) ** 2) / BUY_RATE - PURCHASE_MEAN**2)
LOG_SIGMA = math.sqrt(math.log1p((PURCHASE_SD / PURCHASE_MEAN) ** 2))
LOG_MU = math.log(PURCHASE_MEAN) - LOG_SIGMA**2 / 2
RHO = 0.6  # correlation of pre-experiment revenue with the session's revenue
LOOKS = 20
SEED = 20240611
LABELS = {
    "aa_welch": "(a) A/A, Welch at the planned size: false positives",
    "aa_peek_naive": f"(b) A/A, naive Welch at each of {LOOKS} looks: false positives",
    "aa_peek_msprt": f"(b) A/A, always-valid mSPRT at {LOOKS} looks: false positives",
    "aa_peek_msprt_cuped": f"(b) A/A, mSPRT on CUPED values at {LOOKS} looks: false positives",
    "ab_sequence_covers": "(b) A/B, confidence sequence covers the effect at every look",
    "ab_welch_power": "(c) A/B at the mde, Welch: power",
    "aa_cuped": "(d) A/A, CUPED Welch: false positives",
    "ab_cuped_power": f"(d) A/B at the mde, CUPED Welch (rho {RHO}): power",
    "srm_52_48": "(e) SRM alarm on a 52/48 split",
    "srm_fair": "(e) SRM false alarm on a fair split",
}


@dataclass(frozen=True)
class Check:
    name: str
    rate: float
    expected: float
    relation: Literal["≈", "≤", "≥", ">"]  # ">": clearly above, the others within 3 s.e.
    replications: int

    @property
    def se(self) -> float:
        """Binomial Monte-Carlo standard error of the rate if it were ``expected``."""
        return math.sqrt(self.expected * (1 - self.expected) / self.replications)


def skewed_revenue(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    revenue = np.zeros(shape)
    buys = rng.random(shape) < BUY_RATE
    revenue[buys] = rng.lognormal(LOG_MU, LOG_SIGMA, int(buys.sum()))
    return revenue


def simulate(
    rng: np.random.Generator, replications: int, n_per_arm: int, looks: int = LOOKS, chunk: int = 100
) -> tuple[Moments, Moments]:
    """A/A experiments: cumulative per-arm moments of (revenue, pre-revenue) at ``looks``
    evenly spaced looks, arrays of shape (replications, looks)."""
    edges = np.linspace(0, n_per_arm, looks + 1).round().astype(int)
    arms = []
    for _ in range(2):
        blocks = []
        for start in range(0, replications, chunk):
            shape = (min(chunk, replications - start), n_per_arm)
            y = skewed_revenue(rng, shape)
            x = RHO * y + math.sqrt(1 - RHO**2) * skewed_revenue(rng, shape)
            blocks.append([np.add.reduceat(v, edges[:-1], axis=1) for v in (y, y * y, x, x * x, x * y)])
        sums = (np.cumsum(np.concatenate(parts), axis=1) for parts in zip(*blocks))
        arms.append(Moments(edges[1:].astype(float), *sums))
    return arms[0], arms[1]


def shifted(arm: Moments, delta: float) -> Moments:
    """The moments after adding ``delta`` $ to every session's revenue (exact)."""
    return Moments(
        arm.n,
        arm.y + delta * arm.n,
        arm.yy + 2 * delta * arm.y + delta**2 * arm.n,
        arm.x,
        arm.xx,
        arm.xy + delta * arm.x,
    )


def run(
    replications: int = 4000, srm_replications: int = 1_000_000, seed: int = SEED, plan: Plan | None = None
) -> dict[str, Check]:
    """Every check of the table, by name. A/B replications reuse the A/A draws shifted by
    the mde (exact for sums), so power and false-positive rates share their noise."""
    plan = plan or sample_size(0.05, 0.8, 0.7, REVENUE_SD)
    if plan.n_control != plan.n_treatment:
        raise ValueError("the calibration simulates equal arms")
    rng = np.random.default_rng(seed)
    n, alpha, mde = plan.n_control, plan.alpha, plan.mde
    control, treatment_aa = simulate(rng, replications, n, LOOKS)
    treatment_ab = shifted(treatment_aa, mde)

    def analysed(treatment: Moments, adjust: bool):
        if adjust:
            _, _, c, t = cuped(control, treatment)
        else:
            c, t = control.summary(), treatment.summary()
        fixed = welch_summary(c, t, alpha=alpha, sided=plan.sided)
        return fixed, always_valid(fixed.diff, fixed.se**2, tau=mde, alpha=alpha)

    def check(name: str, hits: np.ndarray, expected: float, relation: str = "≈") -> Check:
        return Check(name, float(np.mean(hits)), expected, relation, hits.size)

    aa, aa_valid = analysed(treatment_aa, adjust=False)
    ab, ab_valid = analysed(treatment_ab, adjust=False)
    aa_cuped, aa_cuped_valid = analysed(treatment_aa, adjust=True)
    ab_cuped, _ = analysed(treatment_ab, adjust=True)
    power = float(power_for(n, n, mde=mde, sd=REVENUE_SD, alpha=alpha, sided=plan.sided))
    cuped_power = float(power_for(n, n, mde=mde, sd=REVENUE_SD * math.sqrt(1 - RHO**2), alpha=alpha, sided=plan.sided))
    checks = [
        check("aa_welch", aa.p_value[:, -1] < alpha, alpha),
        check("aa_peek_naive", (aa.p_value < alpha).any(axis=1), alpha, ">"),
        check("aa_peek_msprt", aa_valid.p_value[:, -1] < alpha, alpha, "≤"),
        check("aa_peek_msprt_cuped", aa_cuped_valid.p_value[:, -1] < alpha, alpha, "≤"),
        check(
            "ab_sequence_covers", (ab_valid.ci_lower[:, -1] <= mde) & (mde <= ab_valid.ci_upper[:, -1]), 1 - alpha, "≥"
        ),
        check("ab_welch_power", ab.p_value[:, -1] < alpha, power),
        check("aa_cuped", aa_cuped.p_value[:, -1] < alpha, alpha),
        check("ab_cuped_power", ab_cuped.p_value[:, -1] < alpha, cuped_power),
    ]
    for name, share in (("srm_52_48", 0.52), ("srm_fair", plan.treatment_share)):
        treated = rng.binomial(plan.total, share, srm_replications)
        alarms = srm(plan.total - treated, treated, treatment_share=plan.treatment_share).mismatch
        checks.append(check(name, alarms, srm_alarm_rate(plan.total, share, plan.treatment_share)))
    return {c.name: c for c in checks}


def srm_alarm_rate(total: int, true_share: float, planned_share: float, threshold: float = 0.001) -> float:
    """Exact probability that ``srm`` alarms when treatment truly gets ``true_share``: the
    chi-square statistic (k - N p)² / (N p (1 - p)) exceeds its critical value exactly when
    the treatment count k leaves N p ± c, so sum the binomial tails."""
    centre = total * planned_share
    c = math.sqrt(stats.chi2.isf(threshold, 1) * total * planned_share * (1 - planned_share))
    counts = stats.binom(total, true_share)
    return float(counts.sf(math.floor(centre + c)) + counts.cdf(math.ceil(centre - c) - 1))


def table(checks: dict[str, Check]) -> list[str]:
    """Rate, expectation (exact binomial for SRM, planner power for power, alpha otherwise)
    and the 3 s.e. Monte-Carlo band the tests allow."""
    lines = [f"{'check':<66} {'rate':>7} {'expected':>10} {'3 s.e.':>7} {'runs':>9}"]
    for name, c in checks.items():
        lines.append(
            f"{LABELS[name]:<66} {c.rate:>7.4f} {c.relation + ' ' + format(c.expected, '.4f'):>10} "
            f"{3 * c.se:>7.4f} {c.replications:>9,}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiment.calibration", description=__doc__.split("\n")[0])
    parser.add_argument("--replications", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    plan = sample_size(0.05, 0.8, 0.7, REVENUE_SD)
    print(
        f"{args.replications:,} experiments of control {plan.n_control:,} + treatment {plan.n_treatment:,} "
        f"customers, alpha {plan.alpha:g}, mde {plan.mde:.2f} $, revenue sd {REVENUE_SD:g} $ "
        f"({1 - BUY_RATE:.0%} of sessions 0 $), seed {args.seed}"
    )
    print("\n".join(table(run(args.replications, seed=args.seed, plan=plan))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
