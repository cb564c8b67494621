"""Threshold and economics logic, on examples small enough to check by hand."""

import numpy as np
import pytest

from training.evaluate import (
    Economics,
    ab_sample_size,
    best_threshold,
    bootstrap_difference,
    cumulative_gains,
    customer_value,
    gain_at,
    gain_curve,
    threshold_for_gain,
)
from training.train import choose_threshold

ECON = Economics(gain_if_buy=15, loss_if_not=2.5, revenue_sd=15, baseline_cost_per_customer=0.3, min_effect=0.7)
Y = np.array([1, 0, 1, 0, 0, 0])
P = np.array([0.9, 0.8, 0.5, 0.5, 0.2, 0.1])


def test_break_even_probability():
    assert ECON.break_even_probability == pytest.approx(2.5 / 17.5)


def test_customer_value():
    assert customer_value(Y, ECON).tolist() == [15, -2.5, 15, -2.5, -2.5, -2.5]


def test_gain_curve_by_hand():
    curve = gain_curve(Y, P, ECON)
    # show nobody, then top 1, top 2, the tied pair at 0.5, 0.2, 0.1
    assert curve.gain * 6 == pytest.approx([0, 15, 12.5, 25, 22.5, 20])
    assert curve.shown == pytest.approx([0, 1 / 6, 2 / 6, 4 / 6, 5 / 6, 1])
    assert curve.thresholds == pytest.approx([0.95, 0.85, 0.65, 0.35, 0.15, 0.05])
    for threshold, gain in zip(curve.thresholds, curve.gain):
        assert gain_at(Y, P, threshold, ECON) == pytest.approx(gain)


def test_best_threshold_maximises_revenue_not_accuracy():
    threshold, gain = best_threshold(gain_curve(Y, P, ECON))
    assert (threshold, gain) == (pytest.approx(0.35), pytest.approx(25 / 6))
    # accuracy would prefer 0.65 (5 of 6 right) over 0.35 (4 of 6 right)


def test_show_nobody_when_nothing_pays():
    threshold, gain = best_threshold(gain_curve(np.zeros(4), np.array([0.3, 0.2, 0.2, 0.1]), ECON))
    assert gain == 0 and threshold > 0.3


def test_ties_prefer_showing_fewer():
    y, p = np.array([1, 0, 0, 0, 0, 0, 0]), np.array([0.9, 0.5, 0.4, 0.3, 0.3, 0.3, 0.2])
    curve = gain_curve(y, p, ECON)
    assert best_threshold(curve)[0] == pytest.approx(0.7)


def test_threshold_for_gain_reproduces_a_cost():
    curve = gain_curve(Y, P, ECON)
    threshold, gain = threshold_for_gain(curve, 20 / 6)
    assert gain == pytest.approx(20 / 6) and threshold == pytest.approx(0.05)


def test_choose_threshold_rules():
    y = np.array([1] * 2 + [0] * 12)  # the age/sex-like scorer ranks buyers last
    p = np.linspace(0.05, 0.3, 14)
    assert choose_threshold(y, p, "optimal", ECON) == (pytest.approx((1 + 0.3) / 2), 0.0)  # show nobody
    threshold, gain = choose_threshold(y, p, "original_cost", ECON)
    assert gain == pytest.approx(-5 / 14)  # two non-buyers shown: the closest to -0.3 $/customer
    assert p[-3] < threshold < p[-2]
    with pytest.raises(ValueError, match="unknown threshold rule"):
        choose_threshold(y, p, "accuracy", ECON)


def test_economics_change_moves_the_threshold():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.6, 20000)
    y = (rng.random(20000) < p).astype(int)
    cheap = Economics(15, 1.0, 15, 0.3, 0.7)
    dear = Economics(15, 5.0, 15, 0.3, 0.7)
    t_cheap, _ = best_threshold(gain_curve(y, p, cheap))
    t_dear, _ = best_threshold(gain_curve(y, p, dear))
    assert t_cheap < t_dear
    # with calibrated scores the empirical optimum sits near the break-even probability
    assert t_cheap == pytest.approx(cheap.break_even_probability, abs=0.03)
    assert t_dear == pytest.approx(dear.break_even_probability, abs=0.03)


def test_ab_sample_size():
    # 2 * (1.96 + 0.8416)^2 * 15^2 / 0.7^2
    assert ab_sample_size(ECON) == 7209


def test_bootstrap_difference_is_paired():
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.2).astype(int)
    a, b = rng.random(2000) < 0.5, np.zeros(2000, bool)
    result = bootstrap_difference(y, a, b, ECON, resamples=300, seed=2)
    assert result["mean"] == pytest.approx(gain_at(y, a.astype(float), 0.5, ECON))
    assert result["ci_low"] < result["mean"] < result["ci_high"]
    assert bootstrap_difference(y, a, a, ECON, resamples=50)["ci_high"] == 0


@pytest.mark.parametrize("field", ["gain_if_buy", "loss_if_not", "revenue_sd"])
def test_economics_must_be_positive(field):
    values = dict(gain_if_buy=15, loss_if_not=2.5, revenue_sd=15, baseline_cost_per_customer=0.3, min_effect=0.7)
    with pytest.raises(ValueError, match=field):
        Economics(**{**values, field: 0})


def test_cumulative_gains_start_at_the_top_percent():
    y = np.array([1] * 10 + [0] * 190)
    chart = cumulative_gains(y, np.linspace(1, 0, 200), points=20)
    assert chart["targeted"][0] == pytest.approx(0.01) and chart["targeted"][-1] == 1
    assert chart["captured"][0] == pytest.approx(0.2) and chart["captured"][-1] == 1
    assert chart["lift"][0] == pytest.approx(20)
