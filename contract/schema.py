"""The message contract shared by serving (job/) and training (training/).

Both sides import this module so that a customer's features are built by one piece of
code: the model is trained on exactly the rows the job will score.

Rules (documented in docs/architecture.md):
- Model inputs are the raw message fields: age, man, woman, cat0..cat98, u0..u9.
- Duplicate keys in ``products``: a flag is 1 if any occurrence says 1 ("any purchase
  wins"). The flags record that a purchase happened; a 0 beside a 1 is an absent
  record, not evidence against it, and OR does not depend on key order, which the
  enrichment pipeline does not guarantee.
- A category absent from a present ``products`` map is 0 (no recorded purchase).
- A side that never arrived (no demographics, no history) is missing (None), not 0:
  the model was trained with missing values and treats them as unknown.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

DEMOGRAPHIC_FIELDS: tuple[str, ...] = ("age", "man", "woman")
PRODUCT_FIELDS: tuple[str, ...] = tuple(f"cat{i}" for i in range(99)) + tuple(f"u{i}" for i in range(10))
FEATURES: tuple[str, ...] = DEMOGRAPHIC_FIELDS + PRODUCT_FIELDS
LABEL = "new_category_purchase"

AGE_MIN = 0
AGE_MAX = 120

_PRODUCT_SET = frozenset(PRODUCT_FIELDS)
# A customer's product flags as one int, bit i for PRODUCT_FIELDS[i]: a parsed history
# travels between Flink operators and sits in join state pickled, and an int is ~20 bytes
# where a map of 109 named flags is ~1.3 KB.
PRODUCT_BITS: dict[str, int] = {name: 1 << i for i, name in enumerate(PRODUCT_FIELDS)}
_DIGIT = {"0": 0, "1": 1}


def merge_product_flags(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Collapse (key, flag) pairs, repeats included, with the any-purchase-wins rule.

    Keys that are not model features are dropped here; callers that care count them.
    """
    merged: dict[str, int] = {}
    for key, flag in pairs:
        if key in _PRODUCT_SET:
            merged[key] = merged.get(key, 0) | int(flag)
    return merged


def product_mask(flags: Mapping[str, int]) -> int:
    """Merged flags (model features only, as merge_product_flags returns them) → bits."""
    return sum(PRODUCT_BITS[name] for name, flag in flags.items() if flag)


def product_flags(mask: int) -> dict[str, int]:
    """Bits → every product feature's flag, absent categories 0. Read from the mask's
    binary digits, lowest bit last: once per scored session, so C loops, not Python ones."""
    digits = f"{mask:0{len(PRODUCT_FIELDS)}b}"
    return dict(zip(PRODUCT_FIELDS, map(_DIGIT.__getitem__, reversed(digits)), strict=True))


def feature_row(
    demographic: Optional[Mapping[str, float]],
    products: Optional[Mapping[str, int]],
) -> dict[str, Optional[float]]:
    """The model's input row, keyed by PMML field name, from whichever sides are known."""
    row: dict[str, Optional[float]] = {}
    for name in DEMOGRAPHIC_FIELDS:
        row[name] = None if demographic is None else demographic[name]
    for name in PRODUCT_FIELDS:
        row[name] = None if products is None else products.get(name, 0)
    return row
