"""The local A/B platform's simulation parts: assignment, arrivals, response, settings."""

from __future__ import annotations

import numpy as np
import pytest

from experiment.arrivals import Delay, Enrichment, schedule
from experiment.assignment import CONTROL, TREATMENT, arm_of, bucket
from experiment.config import load_experiment
from experiment.response import ResponseModel, draw_outcomes, revenue, true_effect
from job.config import ConfigError
from job.inputs import Demographic, Historic, parse_demographic, parse_historic
from local.traffic import DEMOGRAPHIC, HISTORIC, customers


def test_assignment_is_a_deterministic_split_at_the_configured_share():
    uuids = range(1_000_000, 1_100_000)
    arms = [arm_of(u, 0.3, "salt-a") for u in uuids]
    share = arms.count(TREATMENT) / len(arms)
    assert abs(share - 0.3) < 3 * np.sqrt(0.3 * 0.7 / len(arms))
    assert arms == [arm_of(u, 0.3, "salt-a") for u in uuids]
    assert set(arms) == {CONTROL, TREATMENT}


def test_a_new_salt_rerandomizes_customers():
    uuids = range(50_000)
    same = np.mean([arm_of(u, 0.5, "one") == arm_of(u, 0.5, "two") for u in uuids])
    assert abs(same - 0.5) < 0.01  # independent splits agree half the time
    assert 0 <= min(bucket(u, "one") for u in range(1000)) and max(bucket(u, "one") for u in range(1000)) < 1


@pytest.mark.parametrize("share", [0, 1, -0.1, 1.5])
def test_assignment_refuses_a_degenerate_share(share):
    with pytest.raises(ValueError, match="treatment_share"):
        arm_of(1, share, "salt")


def test_delays_have_the_stated_median_and_99th_percentile():
    draws = Delay(median_ms=40, p99_ms=900).draw(np.random.default_rng(1), 400_000) * 1000
    assert np.median(draws) == pytest.approx(40, rel=0.02)
    assert np.percentile(draws, 99) == pytest.approx(900, rel=0.05)


def test_schedule_reorders_duplicates_and_drops_halves_and_payloads_parse_back():
    people = customers(4000, seed=3, uuid_base=10_000)
    enrichment = Enrichment(Delay(20, 400), Delay(60, 1200), duplicate_share=0.05, missing_side_share=0.02)
    plan = schedule(people, rate=200, enrichment=enrichment, seed=5)

    times = [s.at for s in plan.messages]
    assert times == sorted(times)
    assert np.all(np.diff(plan.starts) > 0)
    assert len(plan.starts) / plan.starts[-1] == pytest.approx(200, rel=0.1)

    first: dict[tuple[int, str], float] = {}
    counts: dict[tuple[int, str], int] = {}
    for s in plan.messages:
        key = (s.message.uuid, s.message.side)
        first.setdefault(key, s.at)
        counts[key] = counts.get(key, 0) + 1
    assert 0.01 < len(plan.missing_side) / len(people) < 0.03
    for uuid, side in plan.missing_side.items():
        assert (uuid, side) not in counts
    duplicated = sum(c > 1 for c in counts.values()) / len(counts)
    assert 0.035 < duplicated < 0.065
    both = [c["uuid"] for c in people if c["uuid"] not in plan.missing_side]
    historic_first = np.mean([first[(u, HISTORIC)] < first[(u, DEMOGRAPHIC)] for u in both])
    assert 0.1 < historic_first < 0.5  # the slower pipeline still wins now and then

    for uuid in both:
        gap = first[(uuid, HISTORIC)] - first[(uuid, DEMOGRAPHIC)]
        assert plan.complete_at(uuid) == max(first[(uuid, HISTORIC)], first[(uuid, DEMOGRAPHIC)])
        assert plan.unseen_side(uuid, 0.5) == (None if abs(gap) <= 0.5 else HISTORIC if gap > 0 else DEMOGRAPHIC)
    assert sum(plan.unseen_side(u, 0.5) is not None for u in both) > 0
    for uuid, side in plan.missing_side.items():
        assert plan.complete_at(uuid) is None and plan.unseen_side(uuid, 0.5) == side

    by_uuid = {c["uuid"]: c for c in people}
    for s in plan.messages[:500]:
        c = by_uuid[s.message.uuid]
        if s.message.side == DEMOGRAPHIC:
            parsed = parse_demographic(s.message.payload, 65536)
            assert isinstance(parsed, Demographic) and (parsed.age, parsed.man, parsed.woman) == (
                c["age"],
                c["man"],
                c["woman"],
            )
        else:
            parsed = parse_historic(s.message.payload, 65536)
            assert isinstance(parsed, Historic)
            assert all(value == c[name] for name, value in parsed.features().items())


RESPONSE = ResponseModel(
    traditional_mean=10, customer_sd=8, session_sd=12, pre_sessions=4, gain_if_buy=15, loss_if_not=2.5
)


def test_response_model_moments_and_the_covariate_correlation():
    buys = np.random.default_rng(0).random(300_000) < 0.12
    outcomes = draw_outcomes(RESPONSE, buys, seed=1)
    not_shown = revenue(RESPONSE, outcomes, np.zeros_like(buys))
    assert not_shown.mean() == pytest.approx(10, abs=0.1)
    assert not_shown.std() == pytest.approx(RESPONSE.revenue_sd_unshown, rel=0.01)
    # cov(pre, revenue) = var(m) = 64; var(pre) = 64 + 144/4; var(revenue) = 64 + 144
    assert np.corrcoef(outcomes.pre_revenue, not_shown)[0, 1] == pytest.approx(64 / np.sqrt(100 * 208), abs=0.01)
    shown = revenue(RESPONSE, outcomes, np.ones_like(buys))
    assert set(np.round(shown - not_shown, 9)) == {15.0, -2.5}
    assert np.array_equal(np.isclose(shown - not_shown, 15), buys)


def test_true_effect_counts_only_customers_whose_decision_differs():
    outcomes = draw_outcomes(RESPONSE, np.array([True, False, True, False]), seed=0)
    treatment, control = np.array([1, 0, 1, 1]), np.array([0, 0, 1, 0])
    assert true_effect(RESPONSE, outcomes.buys_if_shown, treatment, control) == pytest.approx((15 - 2.5) / 4)


def test_experiment_settings_load_and_name_the_bad_key(tmp_path):
    cfg = load_experiment(environ={})
    assert (cfg.design.alpha, cfg.design.power, cfg.design.mde, cfg.design.sd) == (0.05, 0.8, 0.7, 15.0)
    assert cfg.response.gain_if_buy == 15.0
    assert load_experiment(environ={"SILOCOMPRO_EXPERIMENT__PLATFORM__RATE": "40"}).platform.rate == 40
    for override, message in [
        ({"design.treatment_share": "1"}, "design.treatment_share"),
        ({"design.sided": "3"}, "design.sided"),
        ({"enrichment.historic.p99_ms": "5"}, "enrichment.historic"),
        ({"platform.sessions": "1"}, "platform.sessions"),
        ({"response.pre_sessions": "0"}, "response.pre_sessions"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_experiment(overrides=override, environ={})
