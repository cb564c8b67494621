"""The demo's latency profile: a fresh job's slow first seconds must show, not average away."""

import pytest

from local.demo import latency_by_second, sparkline


def test_latency_by_second_keeps_a_slow_start_apart_from_the_steady_state():
    sent = [100.0 + i / 10 for i in range(50)]  # 5 s of sending, 10 sessions a second
    latencies = [2_000.0 if at < 101 else 20.0 for at in sent]
    latencies[3] = 60_000.0  # one straggler: a median, not a mean
    width, medians = latency_by_second(sent, latencies)
    assert width == 1.0
    assert medians == [2_000.0, 20.0, 20.0, 20.0, 20.0]


def test_a_long_feed_is_summed_up_in_at_most_forty_stretches():
    sent = [float(i) for i in range(400)]
    width, medians = latency_by_second(sent, [float(i) for i in range(400)])
    assert width == 10.0
    assert len(medians) == 40
    assert medians[0] == pytest.approx(4.5)


def test_sparkline_is_log_scaled_and_clamped():
    assert sparkline([1, 10, 100, 1_000, 9_999, 50_000]) == "▁▁▃▆██"
