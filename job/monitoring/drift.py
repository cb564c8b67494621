"""One live window against the reference: per field the population stability index (PSI),
a two-sample test and a status; for the score its PSI and the shown share.

Why two numbers per field. PSI, sum over bins of (live - ref) * ln(live / ref), is the
size of a shift, and its convention (>= 0.1 warn, >= 0.25 alert) is what people know.
But a PSI from a window is noisy (a flag with rate 0.01 in 1,000 sessions has ~10 ones,
and a handful more or fewer moves its PSI), and with ~113 fields per window some field
would cross any fixed PSI bar by chance. So a PSI level only counts when the field's
two-sample test says the difference is not sampling noise: Pearson's chi-square test of
homogeneity on the 2 x bins table (reference counts vs live counts, the values present),
at a family-wise level ``alpha`` per window, Bonferroni-split over the fields tested.
That bounds the share of windows with any false warning or alert by ``alpha`` (1 %).

PSI cannot show every real change: a flag's rate doubling from 0.03 to 0.06 is PSI
0.02, and five years more on age is ~0.14 (about a third of its standard deviation). A
field whose test is decisive (p below ``decisive_p``, 1e-9) and whose PSI is not
negligible (>= ``min_effect_psi``, 0.01) is an alert too: such a shift is certain, and big
enough to move the model's inputs. PSI uses a small-count floor (a bin's share is at
least half a count over the window) so an empty bin gives a large but finite PSI.

Degenerate data never raises: a window too small to judge is "insufficient data" (fewer
than ``min_sessions`` values present, or a bin expecting fewer than ``min_expected``
values, where the chi-square approximation no longer holds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from job.monitoring.profile import Histogram, LiveCounts, Profile

OK, WARN, ALERT, INSUFFICIENT = "ok", "warn", "alert", "insufficient data"
SEVERITY = {INSUFFICIENT: 0, OK: 1, WARN: 2, ALERT: 3}


@dataclass(frozen=True)
class Thresholds:
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    alpha: float = 0.01
    decisive_p: float = 1e-9
    min_effect_psi: float = 0.01
    min_sessions: int = 1000
    min_expected: float = 5.0

    def __post_init__(self):
        if not 0 < self.psi_warn <= self.psi_alert:
            raise ValueError(f"psi_warn ({self.psi_warn}) must be > 0 and <= psi_alert ({self.psi_alert})")
        if not 0 < self.alpha < 1 or not 0 < self.decisive_p < 1:
            raise ValueError(f"alpha ({self.alpha}) and decisive_p ({self.decisive_p}) must be in (0, 1)")
        if self.min_effect_psi < 0 or self.min_sessions < 1 or self.min_expected <= 0:
            raise ValueError(
                f"min_effect_psi ({self.min_effect_psi}) must be >= 0, min_sessions "
                f"({self.min_sessions}) >= 1, min_expected ({self.min_expected}) > 0"
            )


def psi(reference: Sequence[int], live: Sequence[int]) -> float:
    """Population stability index of two count vectors over the same bins, each share
    floored at half a count of its own sample."""
    n_ref, n_live = sum(reference), sum(live)
    if n_ref == 0 or n_live == 0:
        return math.nan
    total = 0.0
    for r, v in zip(reference, live, strict=True):
        if r == 0 and v == 0:
            continue
        p, q = max(r, 0.5) / n_ref, max(v, 0.5) / n_live
        total += (q - p) * math.log(q / p)
    return total


def chi_square_homogeneity(reference: Sequence[int], live: Sequence[int]) -> tuple[float, int, float]:
    """(statistic, degrees of freedom, p-value) of Pearson's test that both samples come
    from one distribution; bins empty in both are left out."""
    pairs = [(r, v) for r, v in zip(reference, live, strict=True) if r + v > 0]
    n_ref, n_live = sum(r for r, _ in pairs), sum(v for _, v in pairs)
    if len(pairs) < 2 or n_ref == 0 or n_live == 0:
        return 0.0, 0, 1.0
    n = n_ref + n_live
    statistic = 0.0
    for r, v in pairs:
        column = r + v
        for observed, row in ((r, n_ref), (v, n_live)):
            expected = row * column / n
            statistic += (observed - expected) ** 2 / expected
    df = len(pairs) - 1
    return statistic, df, chi_square_sf(statistic, df)


def chi_square_sf(x: float, df: int) -> float:
    """P(X >= x) for X ~ chi-square(df): the regularized upper incomplete gamma Q(df/2, x/2)
    (series below a + 1, Lentz's continued fraction above; Numerical Recipes 6.2). Not
    scipy's chdtrc, which agrees to ~1e-15 and is installed: importing scipy.special takes
    ~0.65 s, which would land on every `job.config` import (every CLI) if imported here at
    the top, or on the TaskManager's shared GIL when the first window closes if imported
    lazily."""
    if x <= 0:
        return 1.0
    a, x = df / 2.0, x / 2.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        k = a
        for _ in range(10_000):
            k += 1
            term *= x / k
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(log_front) * h


def field_statistics(reference: Histogram, live: Histogram, tested: int, thresholds: Thresholds) -> dict:
    """One field's entry of the window record. ``tested``: how many fields share the
    family-wise ``alpha`` (Bonferroni)."""
    n_live, n_ref = live.present, reference.present
    body = {
        "sessions": live.total,
        "present": n_live,
        "counts": list(live.counts),
        "missing_share": live.missing / live.total if live.total else None,
        "reference_missing_share": reference.missing / reference.total if reference.total else None,
    }
    expected_min = min((n_live * c / n_ref for c in reference.counts if c), default=0.0) if n_ref else 0.0
    if n_live < thresholds.min_sessions or expected_min < thresholds.min_expected:
        return {**body, "psi": None, "chi_square": None, "p_value": None, "status": INSUFFICIENT}
    value = psi(reference.counts, live.counts)
    statistic, df, p_value = chi_square_homogeneity(reference.counts, live.counts)
    return {
        **body,
        "psi": value,
        "chi_square": statistic,
        "df": df,
        "p_value": p_value,
        "status": status_of(value, p_value, tested, thresholds),
    }


def status_of(value: float, p_value: float, tested: int, thresholds: Thresholds) -> str:
    if p_value >= thresholds.alpha / max(tested, 1):
        return OK  # not distinguishable from sampling noise, whatever the PSI
    if value >= thresholds.psi_alert or (p_value < thresholds.decisive_p and value >= thresholds.min_effect_psi):
        return ALERT
    return WARN if value >= thresholds.psi_warn else OK


def worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=SEVERITY.__getitem__) if statuses else INSUFFICIENT


def compare(reference: Profile, live: LiveCounts, thresholds: Thresholds, scored_by_reference: bool) -> dict:
    """The statistics part of a window record. ``scored_by_reference``: the live scores
    come from the model the reference's score profile was made for (else they are counted
    but not compared: another model's scores have another distribution)."""
    has_score = scored_by_reference and reference.score is not None
    tested = len(reference.fields) + (1 if has_score else 0)
    fields = {
        name: field_statistics(reference.fields[name], live.fields[name], tested, thresholds)
        for name in reference.fields
    }
    statuses = [f["status"] for f in fields.values()]
    score: dict = {"counts": live.score.counts, "missing": live.score.missing}
    if has_score:
        score.update(field_statistics(reference.score, live.score, tested, thresholds))
        statuses.append(score["status"])
        score.update(shown_share(reference, live))
    return {"sessions": live.sessions, "fields": fields, "score": score, "status": overall(statuses)}


def overall(statuses: Sequence[str]) -> str:
    """The worst judged status; "insufficient data" only when no field could be judged."""
    judged = [s for s in statuses if s != INSUFFICIENT]
    return worst(judged) if judged else INSUFFICIENT


def shown_share(reference: Profile, live: LiveCounts) -> dict:
    """Live share shown vs the share the reference expects at the threshold, with a
    two-sided binomial z-test p-value: a moved share means the threshold, chosen on the
    training population, no longer cuts where the economics put it."""
    expected: Optional[float] = reference.shown_share
    n = live.sessions
    share = live.shown / n if n else None
    if expected is None or not n or not 0 < expected < 1:
        return {"shown_share": share, "expected_shown_share": expected, "shown_share_p_value": None}
    z = (live.shown - n * expected) / math.sqrt(n * expected * (1 - expected))
    return {
        "shown_share": share,
        "expected_shown_share": expected,
        "shown_share_p_value": math.erfc(abs(z) / math.sqrt(2)),
    }
