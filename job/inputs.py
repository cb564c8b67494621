"""Raw Kafka payloads → validated records or a Rejection with a reason. Pure, never raises.

The A/B platform's specification shows messages in Python-literal style
(``{'uuid': 404180, 'age': 41}``) and the enrichment pipelines send strict JSON, so both
are accepted. Objects are parsed into (key, value) pairs rather than dicts, because a
``products`` map may repeat a key and the duplicate rule (contract/schema.py) needs every
occurrence; a dict would silently keep the last one.

That general parser costs hundreds of µs for a specification-shaped history (109 keys,
~1.3 KB), so the common shapes are read at C speed first (job/shapes.py); whatever they
do not fully recognise goes to the general parser, which alone decides rejections.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

from contract.schema import AGE_MAX, AGE_MIN, merge_product_flags, product_flags, product_mask
from job import shapes

UUID_MAX = 2**63 - 1
# Valid messages nest two levels (message → products). Deeper input is rejected before
# json/ast see it: deep nesting makes json raise RecursionError and, under PemJa,
# CPython 3.11's ast raise SystemError ("AST constructor recursion depth mismatch").
MAX_DEPTH = 8
# Every reason a Rejection can carry (docs/architecture.md); alerts and dead-letter
# consumers key on them, so they only ever grow.
REASONS = (
    "too_large",
    "not_utf8",
    "empty",
    "too_deep",
    "malformed",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "conflicting_duplicate",
    "parser_error",
)


@dataclass(frozen=True)
class Demographic:
    uuid: int
    age: float
    man: int
    woman: int

    def features(self) -> dict[str, float]:
        return {"age": self.age, "man": self.man, "woman": self.woman}

    def columns(self) -> tuple[int, float, int, int]:
        """The record as the JVM parser writes it (jvm/records ParseHalves, job/pipeline.py)."""
        return self.uuid, self.age, self.man, self.woman

    @classmethod
    def from_columns(cls, columns) -> "Demographic":
        return cls(*columns)


@dataclass(frozen=True)
class Historic:
    uuid: int
    products: int  # merged flags as bits (contract.schema.PRODUCT_BITS): small to pickle between operators

    @classmethod
    def of(cls, uuid: int, flags: Mapping[str, int]) -> "Historic":
        return cls(uuid, product_mask(flags))

    def features(self) -> dict[str, int]:
        return product_flags(self.products)

    def columns(self) -> tuple[int, int, int]:
        """The record as the JVM parser writes it: uuid and the product bits in two signed
        64-bit halves (Java has no wider integer to carry 109 bits in one column)."""
        low = self.products & _LOW_BITS
        return self.uuid, low - (1 << 64) if low >> 63 else low, self.products >> 64

    @classmethod
    def from_columns(cls, columns) -> "Historic":
        uuid, low, high = columns
        return cls(uuid, (low & _LOW_BITS) | (high << 64))


_LOW_BITS = (1 << 64) - 1


@dataclass(frozen=True)
class Rejection:
    """Why a payload is not a record. ``reason`` is a stable code for metrics and alerts."""

    reason: str
    detail: str


Parsed = Union[Demographic, Historic, Rejection]


class _Pairs(list):
    """A JSON/literal object kept as its (key, value) pairs, repeats included."""


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.rejection = Rejection(reason, detail)


def parse_demographic(payload: bytes, max_bytes: int) -> Parsed:
    """The common shape read at C speed (job/shapes.py), validated as any other payload;
    anything else by general_demographic."""
    fields = shapes.demographic(payload) if len(payload) <= max_bytes else None
    if fields is None:
        return general_demographic(payload, max_bytes)
    return _parse(payload, max_bytes, _demographic, fields)


def parse_historic(payload: bytes, max_bytes: int) -> Parsed:
    """The common shape at C speed (job/shapes.py, always a valid record), anything else
    and every rejection by general_historic."""
    common = shapes.historic(payload) if len(payload) <= max_bytes else None
    if common is not None and common[0] <= UUID_MAX:
        return Historic(*common)
    return general_historic(payload, max_bytes)


def general_demographic(payload: bytes, max_bytes: int) -> Parsed:
    """Any payload, in Python: parse_demographic's fallback and the reference it is tested against."""
    return _parse(payload, max_bytes, _demographic)


def general_historic(payload: bytes, max_bytes: int) -> Parsed:
    """Any payload, in Python: parse_historic's fallback and the reference it is tested against."""
    return _parse(payload, max_bytes, _historic)


def _parse(payload: bytes, max_bytes: int, build, fields: Optional[dict[str, Any]] = None) -> Parsed:
    """``fields``: the payload's fields already read by job/shapes.py (the common shapes,
    which both JSON and Python read as these values), else None to decode it here."""
    try:
        return build(_fields(decode_object(payload, max_bytes)) if fields is None else fields)
    except _Invalid as invalid:
        return invalid.rejection
    except Exception as err:  # noqa: BLE001 - a parser bug must dead-letter the message, not kill the job
        return Rejection("parser_error", f"{type(err).__name__} while parsing")


def decode_object(payload: bytes, max_bytes: int) -> _Pairs:
    """Bytes → the top-level object's pairs; raises _Invalid with a reason code."""
    if len(payload) > max_bytes:
        raise _Invalid("too_large", f"{len(payload)} bytes > limit {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _Invalid("not_utf8", f"invalid UTF-8 at byte {err.start}") from None
    if not text.strip():
        raise _Invalid("empty", "empty payload")
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise _Invalid("too_deep", f"nesting depth {depth} > {MAX_DEPTH}")
    try:
        value = json.loads(text, object_pairs_hook=_Pairs, parse_constant=_reject_constant)
    except _Invalid:
        raise
    except (ValueError, RecursionError):
        value = _python_literal(text)
    if not isinstance(value, _Pairs):
        raise _Invalid("not_an_object", f"top level is {_kind(value)}, expected an object")
    return value


def nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside string literals (JSON or Python quotes)."""
    if sum(text.count(c) for c in "[{(") <= MAX_DEPTH:  # C-speed fast path for real messages
        return 0
    depth = deepest = 0
    quote, escaped = None, False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]})":
            depth -= 1
    return deepest


def _reject_constant(name: str):
    raise _Invalid("wrong_type", f"{name} is not a valid number")


def _python_literal(text: str) -> Any:
    """Python-literal style (single quotes, True/None). Only literals, never evaluation."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
        return _literal(tree.body)
    except _Invalid:
        raise
    except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError, SystemError):
        raise _Invalid("malformed", "neither JSON nor a Python literal") from None


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise ValueError("dict unpacking")
        return _Pairs((_literal(k), _literal(v)) for k, v in zip(node.keys, node.values, strict=True))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(element) for element in node.elts]
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None))):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _literal(node.operand)
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    raise ValueError(f"not a literal: {type(node).__name__}")


def _fields(pairs: _Pairs) -> dict[str, Any]:
    """Top-level pairs → dict. A repeated top-level key is fine only if it agrees."""
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise _Invalid("wrong_type", f"object key {key!r} is not a string")
        if key in fields and fields[key] != value:
            raise _Invalid("conflicting_duplicate", f"field {key!r} repeated with different values")
        fields[key] = value
    return fields


def _demographic(fields: dict[str, Any]) -> Demographic:
    uuid = _uuid(fields)
    age = _required(fields, "age")
    if not _is_number(age):
        raise _Invalid("wrong_type", f"age is {_kind(age)}, expected a number")
    if not math.isfinite(age) or not AGE_MIN <= age <= AGE_MAX:
        raise _Invalid("out_of_range", f"age {age!r} outside [{AGE_MIN}, {AGE_MAX}]")
    man, woman = _flag(_required(fields, "man"), "man"), _flag(_required(fields, "woman"), "woman")
    if man and woman:
        raise _Invalid("out_of_range", "man and woman are both 1")
    return Demographic(uuid, float(age), man, woman)


def _historic(fields: dict[str, Any]) -> Historic:
    uuid = _uuid(fields)
    products = _required(fields, "products")
    if not isinstance(products, _Pairs):
        raise _Invalid("wrong_type", f"products is {_kind(products)}, expected an object")
    pairs = []
    for key, value in products:
        if not isinstance(key, str):
            raise _Invalid("wrong_type", f"products key {key!r} is not a string")
        pairs.append((key, _flag(value, f"products.{key}")))
    return Historic.of(uuid, merge_product_flags(pairs))


def _uuid(fields: dict[str, Any]) -> int:
    value = _required(fields, "uuid")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("wrong_type", f"uuid is {_kind(value)}, expected an integer")
    if not 0 <= value <= UUID_MAX:
        raise _Invalid("out_of_range", f"uuid {value} outside [0, 2^63-1]")
    return value


def _required(fields: dict[str, Any], name: str) -> Any:
    if name not in fields:
        raise _Invalid("missing_field", f"no {name!r}")
    if fields[name] is None:
        raise _Invalid("missing_field", f"{name!r} is null")
    return fields[name]


def _flag(value: Any, name: str) -> int:
    """0/1 flags; 0.0/1.0 and booleans are the same flag written by other encoders."""
    if not _is_number(value) and not isinstance(value, bool):
        raise _Invalid("wrong_type", f"{name} is {_kind(value)}, expected 0 or 1")
    if value not in (0, 1):
        raise _Invalid("out_of_range", f"{name} is {value!r}, expected 0 or 1")
    return int(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if isinstance(value, _Pairs):
        return "an object"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
