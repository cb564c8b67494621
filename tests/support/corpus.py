"""A deterministic fuzz corpus of hostile payloads for both input topics.

Hand-written cases name the outcome the data contract (docs/architecture.md) promises:
a reason code, or ACCEPTED. Generated cases (random bytes, byte-level mutations of valid
messages) promise only that the parser answers with a record or a documented reason.
Every case that the parser accepts carries a uuid no other case uses, so through the job
each accepted case is one session with exactly one decision.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Optional

from contract.schema import PRODUCT_FIELDS
from job.inputs import Rejection, parse_demographic, parse_historic
from local.traffic import DEMOGRAPHIC, HISTORIC, demographic_message, historic_message

LIMIT = 65536  # parsing.max_message_bytes in conf/job.yaml
ACCEPTED = "accepted"
D, H = DEMOGRAPHIC, HISTORIC
UUID_SPAN = 10**6


@dataclass(frozen=True)
class Case:
    side: str
    payload: bytes
    family: str
    promise: Optional[str] = None  # a reason code, ACCEPTED, or None: any documented outcome


def parse(case: Case, limit: int = LIMIT):
    return (parse_demographic if case.side == D else parse_historic)(case.payload, limit)


def outcome(case: Case, limit: int = LIMIT) -> str:
    result = parse(case, limit)
    return result.reason if isinstance(result, Rejection) else ACCEPTED


def _demo(uuid, age=41, man=1, woman=0, **extra) -> dict:
    return {"uuid": uuid, "age": age, "man": man, "woman": woman, **extra}


def _json(obj) -> bytes:
    return json.dumps(obj).encode()


def _hand_written(u: int) -> list[Case]:
    """``u``: the first of a block of 100 uuids for the cases that are accepted."""
    deep_products = "{'uuid': %d, 'products': %s}" % (u, "{'a': " * 8 + "1" + "}" * 8)
    big_valid = b'{"uuid": %d, "age": 30, "man": 0, "woman": 1}' % (u + 1)
    cases = [
        # sizes
        (D, b"", "empty"),
        (H, b"   \n\t ", "empty"),
        (D, b"x" * 900_000, "too_large"),
        (H, b'{"uuid": 1, "products": {"cat1": 1, "pad": "%s"}}' % (b"y" * 70_000), "too_large"),
        (D, big_valid + b" " * (LIMIT - len(big_valid)), ACCEPTED),  # exactly at the limit
        (D, big_valid + b" " * (LIMIT + 1 - len(big_valid)), "too_large"),
        # nesting
        (D, b"[" * 5000, "too_deep"),
        (H, b'{"uuid": 1, "products": ' + b'{"a": ' * 20 + b"1" + b"}" * 20 + b"}", "too_deep"),
        (H, deep_products.encode(), "too_deep"),
        (D, b"(" * 100 + b")" * 100, "too_deep"),
        (D, b'{"uuid": "' + b"[" * 50 + b'", "age": 41, "man": 1, "woman": 0}', "wrong_type"),  # brackets in a string
        # not an object, not a message
        (D, b"[1, 2, 3]", "not_an_object"),
        (H, b'"just a string"', "not_an_object"),
        (D, b"42", "not_an_object"),
        (D, b"null", "not_an_object"),
        (D, b"not json at all", "malformed"),
        (H, b'{"uuid": 1, "products": {"cat1": 1}', "malformed"),
        (D, b"{'uuid': 1, **{'age': 2}}", "malformed"),
        (D, b"__import__('os').system('echo pwned')", "malformed"),
        (D, b"(lambda: 1)()", "malformed"),
        (D, b"{'uuid': 1, 'age': float('nan'), 'man': 1, 'woman': 0}", "malformed"),
        (H, b"{'uuid': 1, 'products': {'cat1', 'cat2'}}", "malformed"),
        (D, b"{'uuid': 1, 'age': 4j, 'man': 1, 'woman': 0}", "malformed"),
        (D, b"{'uuid': b'1', 'age': 40, 'man': 1, 'woman': 0}", "malformed"),
        (D, b'{"uuid": ' + b"9" * 5000 + b', "age": 1, "man": 1, "woman": 0}', "malformed"),  # > int digit limit
        # encodings and unicode
        (D, b"\xff\xfe{\x00}\x00", "not_utf8"),
        (H, b'{"uuid": 1, "products": {"cat1": 1}}\xc0\x80', "not_utf8"),  # overlong NUL
        (D, b'{"uuid": 1, "age": 41, "man": 1, "woman": 0, "x": "\xed\xa0\x80"}', "not_utf8"),  # UTF-8 surrogate
        (D, "\ufeff".encode() + _json(_demo(1)), "malformed"),  # byte-order mark
        (D, _json({"ｕｕｉｄ": 1, "age": 41, "man": 1, "woman": 0}), "missing_field"),
        (D, _json(_demo("١٢٣")), "wrong_type"),  # Arabic-Indic digits are digits, not a uuid
        (D, json.dumps(_demo(u + 2, note="emoji 🎯 \u202e rtl \u0000 nul"), ensure_ascii=False).encode(), ACCEPTED),
        (D, _json(_demo(u + 3, note="\ud800 lone surrogate, escaped")), ACCEPTED),
        (H, "{'uuid': %d, 'products': {'cat1': 1, 'ünïcödé': 1, '\\x00': 0}}".encode() % (u + 4), ACCEPTED),
        (H, b"{'uuid': 1, 'products': {'cat1': 1, '\x00': 0}}", "malformed"),  # a raw NUL is no Python literal
        (D, b'{"uuid": 1, "age": 41, "man": 1, "woman": 0, "x": "\x00\x01\x02"}', "malformed"),  # raw control chars
        # wrong types
        (D, _json(_demo(True)), "wrong_type"),
        (D, _json(_demo(1.5)), "wrong_type"),
        (D, _json(_demo([1])), "wrong_type"),
        (D, _json(_demo({"id": 1})), "wrong_type"),
        (D, _json(_demo("12a")), "wrong_type"),
        (D, _json(_demo(1, age="41")), "wrong_type"),
        (D, _json(_demo(1, man="1")), "wrong_type"),
        (D, _json(_demo(1, woman=[0])), "wrong_type"),
        (H, _json({"uuid": 1, "products": [["cat1", 1]]}), "wrong_type"),
        (H, _json({"uuid": 1, "products": "cat1"}), "wrong_type"),
        (H, _json({"uuid": 1, "products": {"cat1": "1"}}), "wrong_type"),
        (H, _json({"uuid": 1, "products": {"cat1": None}}), "wrong_type"),
        (H, b"{'uuid': 1, 'products': {1: 1}}", "wrong_type"),
        (D, b"{1: 1, 'uuid': 1}", "wrong_type"),
        # NaN and infinities
        (D, b'{"uuid": 1, "age": NaN, "man": 1, "woman": 0}', "wrong_type"),
        (D, b'{"uuid": 1, "age": Infinity, "man": 1, "woman": 0}', "wrong_type"),
        (D, b'{"uuid": 1, "age": -Infinity, "man": 1, "woman": 0}', "wrong_type"),
        (H, b'{"uuid": 1, "products": {"cat1": NaN}}', "wrong_type"),
        (D, b'{"uuid": 1, "age": 1e400, "man": 1, "woman": 0}', "out_of_range"),
        # out of range
        (D, _json(_demo(-1)), "out_of_range"),
        (D, _json(_demo(2**63)), "out_of_range"),
        (D, _json(_demo(1, age=-0.5)), "out_of_range"),
        (D, _json(_demo(1, age=120.0001)), "out_of_range"),
        (D, _json(_demo(1, man=1, woman=1)), "out_of_range"),
        (D, _json(_demo(1, man=2)), "out_of_range"),
        (D, _json(_demo(1, woman=-1)), "out_of_range"),
        (H, _json({"uuid": 1, "products": {"cat1": 0.5}}), "out_of_range"),
        (H, _json({"uuid": 1, "products": {"u3": 7}}), "out_of_range"),
        # missing and null fields
        (D, b"{}", "missing_field"),
        (D, _json({"age": 41, "man": 1, "woman": 0}), "missing_field"),
        (D, _json({"uuid": 1, "man": 1, "woman": 0}), "missing_field"),
        (D, _json({"uuid": 1, "age": 41, "woman": 0}), "missing_field"),
        (D, _json(_demo(None)), "missing_field"),
        (D, _json(_demo(1, age=None)), "missing_field"),
        (H, _json({"uuid": 1}), "missing_field"),
        (H, _json({"uuid": 1, "products": None}), "missing_field"),
        # duplicate fields
        (D, b'{"uuid": 1, "uuid": 2, "age": 41, "man": 1, "woman": 0}', "conflicting_duplicate"),
        (D, b"{'uuid': 1, 'age': 41, 'age': 42, 'man': 1, 'woman': 0}", "conflicting_duplicate"),
        (D, b'{"uuid": %d, "uuid": %d, "age": 41, "man": 1, "woman": 0}' % (u + 5, u + 5), ACCEPTED),
        (H, b"{'uuid': %d, 'products': {'cat1': 0, 'cat1': 1, 'cat1': 0}}" % (u + 6), ACCEPTED),
        # accepted leniencies and odd but valid formatting
        (D, _json(_demo(str(u + 7))), ACCEPTED),
        (D, _json(_demo(u + 8, age=33.0, man=1.0, woman=False)), ACCEPTED),
        (D, _json(_demo(u + 9, age=0, man=0, woman=0)), ACCEPTED),
        (D, _json(_demo(u + 10, age=120)), ACCEPTED),
        (H, _json({"uuid": u + 11, "products": {}}), ACCEPTED),
        (H, _json({"uuid": u + 12, "products": {"cat99": 1, "cat98": True, "u9": 1.0}}), ACCEPTED),
        (D, b"\n\t {'woman': 1 , 'man':0,'age' : 27,\n'uuid':%d }  \n" % (u + 13), ACCEPTED),
        (D, _json(_demo(u + 14, extra={"nested": [1, {"deep": [2]}]})), ACCEPTED),
        (H, b"{'uuid': +%d, 'products': {'cat3': 1,}}" % (u + 15), ACCEPTED),
    ]
    return [Case(side, payload, "hand-written", promise) for side, payload, promise in cases]


def _valid(rng: random.Random, uuid: int) -> tuple[str, bytes]:
    """A message as the enrichment pipelines write it (local.traffic, the
    specification's shapes), to be mutated."""
    customer = {
        "uuid": uuid,
        "age": rng.randint(0, 120),
        "man": rng.randint(0, 1),
        "woman": 0,
        **{name: int(rng.random() < 0.15) for name in PRODUCT_FIELDS},
    }
    if rng.random() < 0.5:
        return D, demographic_message(customer, rng)
    return H, historic_message(customer, rng)


def _mutate(rng: random.Random, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(rng.randint(1, 4)):
        where = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.3 and data:
            data[min(where, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif action < 0.6:
            data[where:where] = bytes([rng.choice(b"{}[]()'\",:\\0-9 .eE+\x00\xff\x80")])
        elif action < 0.8:
            del data[where : where + rng.randint(1, 5)]
        else:
            data[where:where] = data[where : where + rng.randint(1, 20)]  # repeat a slice
    return bytes(data)


def _generated(rng: random.Random, count: int, uuid_base: int) -> list[Case]:
    cases = []
    for i in range(count):
        if i % 3 == 0:
            side = rng.choice((D, H))
            cases.append(Case(side, rng.randbytes(rng.randint(1, 300)), "random bytes"))
        else:
            side, payload = _valid(rng, uuid_base + 1000 * i)
            cases.append(Case(side, _mutate(rng, payload), "mutated valid message"))
    return cases


def corpus(seed: int, uuid_base: int, generated: int = 600) -> list[Case]:
    """Hand-written cases, then ``generated`` random ones. Accepted cases whose uuid is
    already taken (a mutation can rewrite one uuid into another) or outside
    [uuid_base, uuid_base + UUID_SPAN) are left out, so every accepted case stands for a
    session of its own, apart from other traffic's uuids."""
    rng = random.Random(seed)
    cases, taken = [], set()
    for case in _hand_written(uuid_base) + _generated(rng, generated, uuid_base + 1000):
        result = parse(case)
        if not isinstance(result, Rejection):
            if result.uuid in taken or not uuid_base <= result.uuid < uuid_base + UUID_SPAN:
                continue
            taken.add(result.uuid)
        cases.append(case)
    return cases


def accepted_uuids(cases: list[Case]) -> set[int]:
    return {result.uuid for result in map(parse, cases) if not isinstance(result, Rejection)}
