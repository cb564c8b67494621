"""Live monitoring statistics (job/monitoring): the issue's properties on streams drawn
like the training data, and the arithmetic they rest on.

The training population is ``contract.population.population``: its flag rates are fixed
by the seed, so a larger population with the same seed is further customers drawn like
the first; windows are drawn from it without the reference's own rows.
"""

import json
import math

import numpy as np
import pytest

from contract.population import population
from contract.schema import FEATURES, PRODUCT_BITS, PRODUCT_FIELDS
from job.monitoring.drift import (
    ALERT,
    INSUFFICIENT,
    OK,
    WARN,
    Thresholds,
    chi_square_homogeneity,
    chi_square_sf,
    compare,
    psi,
)
from job.monitoring.profile import (
    FLAG,
    NUMERIC,
    Histogram,
    LiveCounts,
    Profile,
    ProfileError,
    Sample,
    read_profile,
    reference_profile,
    write_profile,
)
from job.monitoring.windows import SESSIONS, TIME, ModelWindows, Monitors, WindowSpec

SEED = 11
REFERENCE_ROWS = 50_000
DEFAULT = (
    WindowSpec()
)  # the default window (5,000 sessions): the smallest in which the rarest flag doubling always alerted
THRESHOLDS = Thresholds()


@pytest.fixture(scope="module")
def frames():
    """(reference rows, a pool of further customers drawn like them)."""
    everyone = population(REFERENCE_ROWS + 120_000, seed=SEED)
    return everyone.iloc[:REFERENCE_ROWS], everyone.iloc[REFERENCE_ROWS:].reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(frames):
    training, _ = frames
    return reference_profile({name: training[name].tolist() for name in FEATURES}, source="synthetic")


def live_counts(reference: Profile, window) -> LiveCounts:
    """A window's counts with numpy (LiveCounts.add per sample is what the job does; a
    test below checks both count alike)."""
    counts = LiveCounts(reference)
    counts.sessions = len(window)
    for name, histogram in counts.fields.items():
        values = window[name].to_numpy(dtype=float)
        present = values[~np.isnan(values)]
        histogram.missing = int(len(values) - len(present))
        bins = (
            np.searchsorted(histogram.edges, present, side="right")
            if histogram.kind == NUMERIC
            else (present > 0).astype(int)
        )
        histogram.counts = np.bincount(bins, minlength=histogram.bins).tolist()
    return counts


def windows_of(pool, size: int, count: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield pool.iloc[rng.choice(len(pool), size=size, replace=False)]


def judged(reference, window) -> dict:
    return compare(reference, live_counts(reference, window), THRESHOLDS, scored_by_reference=False)


def flagged(record: dict) -> dict[str, str]:
    return {name: f["status"] for name, f in record["fields"].items() if f["status"] in (WARN, ALERT)}


def test_a_stream_drawn_like_the_training_data_raises_no_alert_in_99_percent_of_windows(frames, reference):
    _, pool = frames
    windows = 300
    records = [judged(reference, w) for w in windows_of(pool, DEFAULT.sessions, windows, seed=1)]
    noisy = [flagged(r) for r in records if flagged(r)]
    print(f"\n{len(noisy)} of {windows} windows of {DEFAULT.sessions} with a warning or alert: {noisy}")
    assert len(noisy) <= 0.01 * windows
    assert {r["status"] for r in records} <= {OK, WARN}


def shifted_age(window, years: int):
    shifted = window.copy()
    shifted["age"] = shifted["age"] + years
    return shifted


def doubled(window, flag: str, seed: int):
    """The same customers with ``flag`` set on as many more of them as had it."""
    result = window.copy()
    rng = np.random.default_rng(seed)
    ones, zeros = np.flatnonzero(result[flag].to_numpy() == 1), np.flatnonzero(result[flag].to_numpy() == 0)
    result.iloc[rng.choice(zeros, size=len(ones), replace=False), result.columns.get_loc(flag)] = 1
    return result


@pytest.mark.parametrize("years", [5, -5])
def test_age_shifted_by_five_years_alerts_on_age_only_within_one_window(frames, reference, years):
    _, pool = frames
    for window in windows_of(pool, DEFAULT.sessions, 20, seed=2):
        record = judged(reference, shifted_age(window, years))
        assert flagged(record) == {"age": ALERT}, record["fields"]["age"]
        assert record["status"] == ALERT


def flags_by_rate(reference):
    rates = {name: reference.fields[name].counts[1] / reference.fields[name].present for name in PRODUCT_FIELDS}
    ordered = sorted(rates, key=rates.get)
    return ordered[0], ordered[len(ordered) // 2], ordered[-1]


def test_one_flags_rate_doubled_alerts_on_that_flag_only_within_one_window(frames, reference):
    _, pool = frames
    for flag in flags_by_rate(reference):  # the rarest, the median and the most common flag
        for i, window in enumerate(windows_of(pool, DEFAULT.sessions, 10, seed=3)):
            record = judged(reference, doubled(window, flag, seed=i))
            assert flagged(record) == {flag: ALERT}, (flag, record["fields"][flag])


def test_too_few_sessions_is_insufficient_data_not_an_alert(frames, reference):
    _, pool = frames
    window = shifted_age(next(windows_of(pool, THRESHOLDS.min_sessions - 1, 1, seed=4)), 20)
    record = judged(reference, window)
    assert {f["status"] for f in record["fields"].values()} == {INSUFFICIENT}
    assert record["status"] == INSUFFICIENT


def test_a_bin_expecting_too_few_values_is_insufficient_data(reference):
    rare = Histogram(FLAG, counts=[49_990, 10])  # rate 0.0002: 1,000 sessions expect 0.2 ones
    live = Histogram(FLAG, counts=[995, 5])
    profile = Profile({"cat0": rare})
    counts = LiveCounts(profile)
    counts.fields["cat0"], counts.sessions = live, 1000
    assert compare(profile, counts, THRESHOLDS, False)["fields"]["cat0"]["status"] == INSUFFICIENT


def test_the_job_counts_samples_like_the_columns(frames, reference):
    _, pool = frames
    window = pool.iloc[:500].copy()
    window.loc[window.index[:20], ["age", "man", "woman"]] = np.nan  # no demographics
    window.loc[window.index[20:50], list(PRODUCT_FIELDS)] = np.nan  # no history
    counts = LiveCounts(reference)
    for row in window.to_dict("records"):
        has_history = not math.isnan(row["cat0"])
        mask = sum(PRODUCT_BITS[f] for f in PRODUCT_FIELDS if row[f] == 1) if has_history else None
        demo = [None if math.isnan(row[f]) else row[f] for f in ("age", "man", "woman")]
        counts.add(Sample("m", 0, *demo, products=mask, score=math.nan, value=0))
    expected = live_counts(reference, window)
    for name in FEATURES:
        assert (counts.fields[name].counts, counts.fields[name].missing) == (
            expected.fields[name].counts,
            expected.fields[name].missing,
        ), name
    assert counts.fields["cat3"].missing == 30 and counts.fields["age"].missing == 20


def test_psi_has_a_floor_for_empty_bins():
    assert psi([10, 20, 30], [10, 20, 30]) == 0
    assert psi([10, 20, 30], [20, 40, 60]) == pytest.approx(0)
    empty = psi([500, 500], [1000, 0])
    assert math.isfinite(empty) and empty > 2
    assert math.isnan(psi([1, 2], [0, 0]))


def test_chi_square_p_values():
    assert chi_square_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)
    assert chi_square_sf(18.307038053275146, 10) == pytest.approx(0.05, rel=1e-9)
    assert chi_square_sf(2.558212, 10) == pytest.approx(0.99, rel=1e-6)
    assert chi_square_sf(200.0, 3) == pytest.approx(4.3e-43, rel=0.02)  # scipy.stats.chi2.sf(200, 3)
    assert chi_square_sf(0.0, 4) == 1.0
    statistic, df, p = chi_square_homogeneity([100, 100], [100, 100])
    assert (statistic, df, p) == (0.0, 1, 1.0)
    assert chi_square_homogeneity([100, 0], [50, 0])[1:] == (0, 1.0)  # one bin: nothing to test


def test_the_score_is_compared_with_its_shown_share():
    rng = np.random.default_rng(5)
    training_scores = rng.beta(2, 12, size=20_000)
    reference = reference_profile({"age": rng.normal(40, 10, 20_000).tolist()}, training_scores.tolist(), threshold=0.2)
    for scores, status in ((rng.beta(2, 12, size=5_000), OK), (rng.beta(3, 10, size=5_000), ALERT)):
        counts = LiveCounts(reference)
        for s in scores:
            counts.add(Sample("m", 0, 40.0, 1, 0, 0, float(s), int(s >= 0.2)))
        record = compare(reference, counts, THRESHOLDS, scored_by_reference=True)
        assert record["score"]["status"] == status
        assert record["score"]["expected_shown_share"] == pytest.approx(np.mean(training_scores >= 0.2))
        assert (record["score"]["shown_share_p_value"] < 1e-6) == (status == ALERT)
    not_ours = compare(reference, counts, THRESHOLDS, scored_by_reference=False)
    assert "status" not in not_ours["score"] and not_ours["score"]["counts"] == counts.score.counts


def test_profile_round_trip_and_checksum(tmp_path, reference):
    path = tmp_path / "model.profile.json"
    digest = write_profile(reference, path)
    again = read_profile(path, digest)
    assert again.to_json() == reference.to_json()
    assert again.fields["age"].edges == reference.fields["age"].edges
    with pytest.raises(ProfileError, match="does not match"):
        read_profile(path, "0" * 64)
    body = json.loads(path.read_text())
    body["fields"]["age"]["counts"].pop()
    path.write_text(json.dumps(body))
    with pytest.raises(ProfileError, match="'age'"):
        read_profile(path)


def test_age_bins_cut_between_whole_years(reference):
    edges = reference.fields["age"].edges
    assert 6 <= len(edges) <= 9 and all(edge % 1 == 0.5 for edge in edges)


def sample(ts: int) -> Sample:
    return Sample("m", ts, 40.0, 1, 0, 0, 0.1, 0)


def test_windows_close_by_sessions_or_event_time(reference):
    windows = ModelWindows("m", reference, WindowSpec(sessions=3, period_ms=1000), THRESHOLDS, False)
    assert windows.add(sample(1500)) == [] and windows.add(sample(1600)) == []
    [record] = windows.add(sample(1700))
    assert record["closed_by"] == SESSIONS and record["sessions"] == 3
    assert record["window"] == {"start_ms": 1000, "end_ms": 2000, "first_ms": 1500, "last_ms": 1700}
    windows.add(sample(1800))
    [record] = windows.add(sample(2100))  # past the end: the old window closes, a new one opens
    assert (record["closed_by"], record["sessions"], record["status"]) == (TIME, 1, INSUFFICIENT)
    assert windows.close_due(2999) == []
    [record] = windows.close_due(3000)
    assert record["window"]["start_ms"] == 2000 and record["sessions"] == 1
    assert windows.close_due(10_000) == []


def test_settings_are_checked():
    with pytest.raises(ValueError, match="psi_warn"):
        Thresholds(psi_warn=0.3, psi_alert=0.25)
    with pytest.raises(ValueError, match="alpha"):
        Thresholds(alpha=0)
    with pytest.raises(ValueError, match="sessions or period_ms"):
        WindowSpec(sessions=None, period_ms=None)


def test_a_model_swap_starts_a_new_profile_for_the_new_model_id():
    rng = np.random.default_rng(8)
    reference = reference_profile(
        {"age": rng.normal(40, 10, 5_000).tolist()},
        rng.beta(2, 12, 5_000).tolist(),
        threshold=0.2,
        pmml_sha256="old-sha",
    )
    monitors = Monitors(reference, WindowSpec(sessions=None, period_ms=60_000), THRESHOLDS, reference_model="old")
    for i in range(1_500):
        assert monitors.add(Sample("old", i, float(rng.normal(40, 10)), 1, 0, 0, 0.1, 0)) == []
    for i in range(1_500, 3_000):  # after the swap: older customers, only on the new model
        assert monitors.add(Sample("new", i, float(rng.normal(50, 10)), 1, 0, 0, 0.1, 0)) == []
    # the next period: the new model's sample closes both windows, the old model's too
    new, old = monitors.add(Sample("new", 60_000, 50.0, 1, 0, 0, 0.1, 0))
    assert (old["model"], old["sessions"], old["fields"]["age"]["status"]) == ("old", 1_500, OK)
    assert (new["model"], new["sessions"], new["fields"]["age"]["status"]) == ("new", 1_500, ALERT)
    assert "status" in old["score"] and "status" not in new["score"]  # the reference's score is the old model's
