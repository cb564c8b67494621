"""Metrics and the money behind the decision threshold. Pure functions of labels and scores.

The threshold is chosen to maximise expected revenue, not accuracy: showing the slot is
worth ``gain_if_buy`` for a buyer and costs ``loss_if_not`` for anyone else, so with a
calibrated probability p it pays iff p >= loss / (gain + loss). The empirical curve
below is what the report plots and what picks the threshold; the closed form is kept
as a sanity check on calibration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score


@dataclass(frozen=True)
class Economics:
    gain_if_buy: float  # $ added to the session when a shown customer buys the new category
    loss_if_not: float  # $ of traditional conversions lost when a shown customer does not
    revenue_sd: float  # sd of revenue per customer-session, for sizing the A/B test
    baseline_cost_per_customer: float  # what the original age/sex targeting cost vs showing nobody
    min_effect: float  # $/customer the new model must add over the original targeting
    alpha: float = 0.05
    power: float = 0.8

    def __post_init__(self) -> None:
        for name in ("gain_if_buy", "loss_if_not", "revenue_sd"):
            if getattr(self, name) <= 0:
                raise ValueError(f"economics.{name} must be positive, got {getattr(self, name)}")
        if not (0 < self.alpha < 1 and 0 < self.power < 1):
            raise ValueError("economics.alpha and economics.power must lie in (0, 1)")

    @property
    def break_even_probability(self) -> float:
        return self.loss_if_not / (self.gain_if_buy + self.loss_if_not)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class GainCurve:
    """Revenue change per customer vs showing nobody, for each distinct threshold.

    ``thresholds`` are descending; showing the slot iff score >= thresholds[i] shows
    ``shown[i]`` of the customers and earns ``gain[i]`` $/customer. Entry 0 shows nobody.
    Thresholds sit midway between consecutive distinct scores so that a tiny numeric
    difference between scoring engines cannot flip a decision at the boundary.
    """

    thresholds: np.ndarray
    gain: np.ndarray
    shown: np.ndarray


def customer_value(y: np.ndarray, economics: Economics) -> np.ndarray:
    """What showing the slot to each customer is worth, in $."""
    y = np.asarray(y)
    return np.where(y == 1, economics.gain_if_buy, -economics.loss_if_not)


def gain_curve(y: np.ndarray, scores: np.ndarray, economics: Economics) -> GainCurve:
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    cumulative = np.cumsum(customer_value(y, economics)[order])
    # index of the last customer of each group of equal scores
    last = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    distinct = sorted_scores[last]
    below = np.r_[distinct[1:], 0.0]
    thresholds = np.r_[(1.0 + distinct[0]) / 2, (distinct + below) / 2]
    n = len(scores)
    return GainCurve(thresholds=thresholds, gain=np.r_[0.0, cumulative[last] / n], shown=np.r_[0.0, (last + 1) / n])


def best_threshold(curve: GainCurve) -> tuple[float, float]:
    """The threshold of highest gain; on ties the higher threshold (fewer customers shown)."""
    i = int(np.argmax(curve.gain))
    return float(curve.thresholds[i]), float(curve.gain[i])


def threshold_for_gain(curve: GainCurve, target: float) -> tuple[float, float]:
    """The threshold whose gain is closest to ``target``; on ties the higher threshold."""
    i = int(np.argmin(np.abs(curve.gain - target)))
    return float(curve.thresholds[i]), float(curve.gain[i])


def gain_at(y: np.ndarray, scores: np.ndarray, threshold: float, economics: Economics) -> float:
    shown = np.asarray(scores) >= threshold
    return float(np.mean(shown * customer_value(y, economics)))


def scores_summary(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": float(roc_auc_score(y, scores)),
        "log_loss": float(log_loss(y, scores, labels=[0, 1])),
        "brier": float(brier_score_loss(y, scores)),
        "positive_rate": float(np.mean(y)),
        "mean_score": float(np.mean(scores)),
        "rows": int(len(y)),
    }


def calibration(y: np.ndarray, scores: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    observed, predicted = calibration_curve(y, scores, n_bins=bins, strategy="quantile")
    return {"mean_predicted": predicted.tolist(), "observed_rate": observed.tolist()}


def cumulative_gains(y: np.ndarray, scores: np.ndarray, points: int = 100) -> dict[str, list[float]]:
    """Share of buyers reached when targeting the top x% by score, and the lift over random."""
    y = np.asarray(y)[np.argsort(-np.asarray(scores), kind="stable")]
    captured = np.cumsum(y) / y.sum()
    targeted = np.arange(1, len(y) + 1) / len(y)
    # from the top 1%: the lift of a handful of customers is noise
    pick = np.unique(np.linspace(np.ceil(len(y) / 100) - 1, len(y) - 1, points).round().astype(int))
    return {
        "targeted": targeted[pick].tolist(),
        "captured": captured[pick].tolist(),
        "lift": (captured[pick] / targeted[pick]).tolist(),
    }


def bootstrap_difference(
    y: np.ndarray, shown_a: np.ndarray, shown_b: np.ndarray, economics: Economics, resamples: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Paired bootstrap of gain(a) - gain(b) on the same customers, with a two-sided CI."""
    delta = (np.asarray(shown_a, float) - np.asarray(shown_b, float)) * customer_value(y, economics)
    rng = np.random.default_rng(seed)
    means = np.array([delta[rng.integers(0, len(delta), len(delta))].mean() for _ in range(resamples)])
    tail = economics.alpha / 2
    return {
        "mean": float(delta.mean()),
        "ci_low": float(np.quantile(means, tail)),
        "ci_high": float(np.quantile(means, 1 - tail)),
        "confidence": 1 - economics.alpha,
    }


def ab_sample_size(economics: Economics) -> int:
    """Customers per arm to detect ``min_effect`` with the given power (two-sided z-test)."""
    z = NormalDist().inv_cdf
    spread = z(1 - economics.alpha / 2) + z(economics.power)
    return int(np.ceil(2 * (spread * economics.revenue_sd / economics.min_effect) ** 2))
