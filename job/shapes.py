"""The common message shapes, recognised at C speed; job/inputs.py parses everything else.

A specification-shaped history is ~1,270 bytes: all 109 product keys, some repeated, in
either quote style. The general parser builds every (key, value) pair in Python (and
runs ``ast`` for the literal style), hundreds of µs per message. Here compiled regexes,
``bytes.split`` and set operations do the work instead.

Each function returns what job/inputs.py builds its record from, or None when the
payload is not exactly one of the shapes below; inputs.py then runs the general parser,
which alone decides rejections. So a shape only has to be a payload that both JSON and
Python read the same way, and the general parser accepts with the same values:

- ASCII only, no escapes, whitespace only space, tab, newline, carriage return;
- keys quoted in either style (each string's quotes matching), values unsigned decimals
  without leading zeros or exponents, product flags the integers 0 and 1 only;
- a history has exactly the keys uuid and products, each once; products keys are model
  features only, written ``'cat7': 1`` with at most one space around the colon and comma.

Repeated product keys are OR-merged (any purchase wins, contract/schema.py), as inputs.py does.
"""

from __future__ import annotations

import itertools
import re
from typing import Optional, Union

from contract.schema import PRODUCT_BITS

_WS = rb"[ \t\n\r]*"
_UINT = rb"(?:0|[1-9][0-9]{0,18})"  # at most 19 digits: never near Python's int digit limit
_QUOTED = {name: rb"(?:\"%s\"|'%s')" % (name, name) for name in (b"uuid", b"products")}
_UUID = _QUOTED[b"uuid"] + _WS + b":" + _WS + rb"(" + _UINT + rb")"
_OPEN_PRODUCTS = _QUOTED[b"products"] + _WS + b":" + _WS + rb"\{"
# A history in either order, as the text before products' entries and the text from
# products' closing brace on: regexes for both ends, the ~1.2 KB of entries left to split.
_ORDERS = (
    (
        re.compile(_WS + rb"\{" + _WS + _UUID + _WS + b"," + _WS + _OPEN_PRODUCTS),
        re.compile(rb"\}" + _WS + rb"\}" + _WS),
    ),
    (
        re.compile(_WS + rb"\{" + _WS + _OPEN_PRODUCTS),
        re.compile(rb"\}" + _WS + b"," + _WS + _UUID + _WS + rb"\}" + _WS),
    ),
)

# Every spelling of one products entry between two commas → its bit if the flag is 1, else 0.
_ENTRIES: dict[bytes, int] = {
    b"%s%s%s%s:%s%d%s" % (before, quote, name.encode(), quote, after_colon, flag, after): bit * flag
    for name, bit in PRODUCT_BITS.items()
    for quote, flag, before, after_colon, after in itertools.product(
        (b'"', b"'"), (0, 1), (b"", b" "), (b"", b" "), (b"", b" ")
    )
}
_KNOWN_ENTRIES = frozenset(_ENTRIES)
_SET_BITS = frozenset(entry for entry, bit in _ENTRIES.items() if bit)

_NUMBER = rb"(" + _UINT + rb"(?:\.[0-9]{1,17})?)"
_DEMOGRAPHIC_PAIR = _WS + rb"(?:\"(uuid|age|man|woman)\"|'(uuid|age|man|woman)')" + _WS + b":" + _WS + _NUMBER + _WS
_NAMES = {name.encode(): name for name in ("uuid", "age", "man", "woman")}
_DEMOGRAPHIC = re.compile(_WS + rb"\{" + b",".join([_DEMOGRAPHIC_PAIR] * 4) + rb"\}" + _WS)


def historic(payload: bytes) -> Optional[tuple[int, int]]:
    """(uuid, product bits) of a history in the common shape, else None. The uuid is
    below 10^19; inputs.py checks its range."""
    for head_pattern, tail_pattern in _ORDERS:  # noqa: B007  (tail_pattern: after the loop)
        head = head_pattern.match(payload)
        if head is not None:
            break
    else:
        return None
    # The last brace closes the message, the one before it products (uuid has none).
    close = payload.rfind(b"}", head.end(), payload.rfind(b"}"))
    tail = tail_pattern.fullmatch(payload, close) if close >= 0 else None
    if tail is None:
        return None
    # A brace, quote or space out of place leaves an entry that is none of the spellings.
    entries = payload[head.end() : close].split(b",")
    if not _KNOWN_ENTRIES.issuperset(entries):
        return None
    (uuid,) = head.groups() + tail.groups()
    # A key set more than once, or by several spellings ('cat7': 1 and "cat7":1): OR, not add.
    return int(uuid), sum(set(map(_ENTRIES.__getitem__, _SET_BITS.intersection(entries))))


def demographic(payload: bytes) -> Optional[dict[str, Union[int, float]]]:
    """A demographic's four fields, each exactly once, with their JSON/Python values, else None.

    Their values are not checked here: inputs.py validates them as for any payload.
    """
    match = _DEMOGRAPHIC.fullmatch(payload)
    if match is None:
        return None
    groups = match.groups()
    fields = {_NAMES[groups[i] or groups[i + 1]]: _number(groups[i + 2]) for i in (0, 3, 6, 9)}
    return fields if len(fields) == 4 else None  # four names, none repeated


def _number(text: bytes) -> Union[int, float]:
    return float(text) if b"." in text else int(text)
