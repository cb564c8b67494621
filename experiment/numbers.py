"""How the console and the planner print numbers: with the digits they need, never
fixed decimals that round a small effect to 0.00 $ or a power of 0.9995 to 100 %.

``console/static/console.js`` formats the same way in the browser (``money``, ``percent``)."""

from __future__ import annotations

import math

UNIT = "$/customer"  # the one revenue unit: revenue per customer (one session each)


def money(value: float) -> str:
    """An amount in dollars: cents, or two significant digits below a dollar (0.70 $,
    0.0040 $), an exponent only for absurd magnitudes."""
    if not math.isfinite(value):
        return "—"
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    if not -6 <= magnitude < 9:
        return f"{value:.2e} $"
    return f"{value:,.{max(2, 1 - magnitude)}f} $"


def percent(share: float) -> str:
    """A probability as a percentage with three significant digits, and enough decimals
    that neither it nor its complement rounds away: 80 %, 64.6 %, 99.9 %, 0.4 %."""
    if not 0 < share < 1:
        return f"{share * 100:g} %"
    decimals = max(2 - math.floor(math.log10(share * 100)), 1 - math.floor(math.log10((1 - share) * 100)), 0)
    text = f"{share * 100:.{decimals}f}"
    return f"{text.rstrip('0').rstrip('.') if '.' in text else text} %"
