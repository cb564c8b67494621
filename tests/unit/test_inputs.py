"""Parsing: the specification's examples verbatim, both encodings, and every rejection."""

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.schema import PRODUCT_FIELDS
from job.inputs import REASONS, Demographic, Historic, Rejection, parse_demographic, parse_historic
from local.traffic import malformed_messages

LIMIT = 65536

SPEC_DEMOGRAPHIC = b"{'uuid': 404180, 'age': 41, 'man': 1, 'woman': 0}"
# The specification's historic example, with its "..." elided and its repeated cat91 kept.
SPEC_HISTORIC = b"{'uuid': 404180, 'products': {'cat17': 0, 'cat74': 0, 'cat16': 1, 'u4': 0, 'cat91': 1, 'cat91': 0}}"


def test_specification_demographic_example():
    assert parse_demographic(SPEC_DEMOGRAPHIC, LIMIT) == Demographic(404180, 41.0, 1, 0)


def test_specification_historic_example_any_purchase_wins():
    record = parse_historic(SPEC_HISTORIC, LIMIT)
    assert isinstance(record, Historic)
    flags = record.features()
    assert flags["cat91"] == 1 and flags["cat16"] == 1 and flags["cat17"] == 0
    assert flags["cat0"] == 0 and sum(flags.values()) == 2  # absent is 0 (no recorded purchase)


def test_a_history_is_compact_and_decodes_to_every_product_feature():
    flags = {name: int(i % 3 == 0) for i, name in enumerate(PRODUCT_FIELDS)}
    record = Historic.of(7, flags)
    assert record.features() == flags and list(record.features()) == list(PRODUCT_FIELDS)
    assert len(pickle.dumps(record)) < 200  # a map of 109 named flags pickles to ~1.3 KB


def test_json_and_literal_styles_agree_and_key_order_is_free():
    literal = parse_demographic(b"{'woman': 1, 'man': 0, 'age': 30, 'uuid': 7}", LIMIT)
    strict = parse_demographic(json.dumps({"uuid": 7, "age": 30, "man": 0, "woman": 1}).encode(), LIMIT)
    assert literal == strict == Demographic(7, 30.0, 0, 1)


def test_duplicate_rule_is_order_independent():
    a = parse_historic(b'{"uuid": 1, "products": {"cat3": 0, "cat3": 1}}', LIMIT)
    b = parse_historic(b'{"uuid": 1, "products": {"cat3": 1, "cat3": 0}}', LIMIT)
    assert a == b and a.features()["cat3"] == 1


def test_unknown_product_keys_are_ignored_and_sex_unknown_is_valid():
    assert parse_historic(b'{"uuid": 1, "products": {"cat999": 1, "cat1": 1}}', LIMIT) == Historic.of(1, {"cat1": 1})
    assert parse_demographic(b'{"uuid": 2, "age": 50, "man": 0, "woman": 0}', LIMIT) == Demographic(2, 50.0, 0, 0)


def test_numeric_string_uuid_and_float_flags_are_accepted():
    payload = b'{"uuid": "42", "age": 33.0, "man": 1.0, "woman": 0}'
    assert parse_demographic(payload, LIMIT) == Demographic(42, 33.0, 1, 0)


D, H = parse_demographic, parse_historic


@pytest.mark.parametrize(
    "parse, payload, reason",
    [
        (D, b'{"uuid": 1, "age": ', "malformed"),
        (D, b"", "empty"),
        (D, b"\xff\xfe", "not_utf8"),
        (D, b"[" * 5000, "too_deep"),
        (D, b"[1, 2]", "not_an_object"),
        (D, b'{"age": 41, "man": 1, "woman": 0}', "missing_field"),
        (D, b'{"uuid": null, "age": 41, "man": 1, "woman": 0}', "missing_field"),
        (D, b'{"uuid": true, "age": 41, "man": 1, "woman": 0}', "wrong_type"),
        (D, b'{"uuid": -5, "age": 41, "man": 1, "woman": 0}', "out_of_range"),
        (D, b'{"uuid": 1, "age": "41", "man": 1, "woman": 0}', "wrong_type"),
        (D, b'{"uuid": 1, "age": 300, "man": 1, "woman": 0}', "out_of_range"),
        (D, b'{"uuid": 1, "age": NaN, "man": 1, "woman": 0}', "wrong_type"),
        (D, b'{"uuid": 1, "age": Infinity, "man": 1, "woman": 0}', "wrong_type"),
        (D, b'{"uuid": 1, "age": 41, "man": 1, "woman": 1}', "out_of_range"),
        (D, b'{"uuid": 1, "age": 41, "man": 2, "woman": 0}', "out_of_range"),
        (D, b'{"uuid": 1, "uuid": 2, "age": 41, "man": 1, "woman": 0}', "conflicting_duplicate"),
        (D, b"__import__('os').system('true')", "malformed"),
        (D, b"{**{'uuid': 1}}", "malformed"),
        (H, b'{"uuid": 1, "products": [1, 2]}', "wrong_type"),
        (H, b'{"uuid": 1, "products": {"cat1": 7}}', "out_of_range"),
        (H, b'{"uuid": 1, "products": {"cat1": "1"}}', "wrong_type"),
        (H, b'{"uuid": 1}', "missing_field"),
        (H, b"{'uuid': 1, 'products': {1: 1}}", "wrong_type"),
    ],
)
def test_rejections_carry_a_reason(parse, payload, reason):
    result = parse(payload, LIMIT)
    assert isinstance(result, Rejection) and result.reason == reason, result


def test_oversized_payload_is_rejected_before_parsing():
    assert parse_historic(b"{" + b" " * 100 + b"}", 64).reason == "too_large"


def test_every_demo_malformed_message_is_rejected():
    for side, payload in malformed_messages(uuid=9):
        parse = parse_demographic if side == "demographic" else parse_historic
        assert isinstance(parse(payload, LIMIT), Rejection), payload[:60]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(payload):
    for parse in (parse_demographic, parse_historic):
        assert isinstance(parse(payload, LIMIT), (Demographic, Historic, Rejection))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["uuid", "age", "man", "woman", "products", "x"]), json_values, max_size=6))
def test_arbitrary_json_objects_are_records_or_rejections(obj):
    for text in (json.dumps(obj), repr(obj)):
        for parse in (parse_demographic, parse_historic):
            result = parse(text.encode(), LIMIT)
            assert isinstance(result, (Demographic, Historic, Rejection))
            if isinstance(result, Demographic):
                assert 0 <= result.age <= 120 and result.man + result.woman <= 1


# Property tests: valid messages in any of the encodings the contract allows parse to the
# record they describe, and one broken field yields the reason the contract names.

uuids = st.integers(0, 2**63 - 1)
sexes = st.sampled_from([(1, 0), (0, 1), (0, 0)])
ages = st.integers(0, 120) | st.floats(0, 120, allow_nan=False)
flag_pairs = st.lists(
    st.tuples(st.sampled_from(["cat0", "cat17", "cat98", "u0", "u9", "cat99", "x"]), st.integers(0, 1)), max_size=12
)
styles = st.sampled_from(["json", "literal"])


def encode(pairs, style: str, spacing: str = " ") -> bytes:
    """An object written by hand from (key, value) pairs, so keys may repeat."""

    def value(v):
        if isinstance(v, list):
            return "{" + f",{spacing}".join(f"{key(k)}:{spacing}{value(x)}" for k, x in v) + "}"
        return json.dumps(v) if style == "json" else repr(v)

    def key(k):
        return json.dumps(k) if style == "json" else repr(k)

    return ("{" + f",{spacing}".join(f"{key(k)}:{spacing}{value(v)}" for k, v in pairs) + "}").encode()


@settings(max_examples=300, deadline=None)
@given(uuids, ages, sexes, styles, st.randoms(use_true_random=False), st.sampled_from([" ", "", "\n\t "]))
def test_any_valid_demographic_round_trips(uuid, age, sex, style, rng, spacing):
    pairs = [("uuid", uuid), ("age", age), ("man", sex[0]), ("woman", sex[1])]
    rng.shuffle(pairs)
    assert parse_demographic(encode(pairs, style, spacing), LIMIT) == Demographic(uuid, float(age), *sex)


@settings(max_examples=300, deadline=None)
@given(uuids, flag_pairs, styles)
def test_any_valid_historic_applies_any_purchase_wins(uuid, flags, style):
    record = parse_historic(encode([("uuid", uuid), ("products", flags)], style), LIMIT)
    expected = {}
    for name, flag in flags:
        if name not in ("cat99", "x"):
            expected[name] = expected.get(name, 0) | flag
    assert record == Historic.of(uuid, expected)


BROKEN_FIELD = st.sampled_from(
    [
        (None, "missing_field"),  # the field left out
        ("null", "missing_field"),
        ("bad-type", "wrong_type"),  # a string, list or object where a number belongs
        ("NaN", "wrong_type"),
        ("out-of-range", "out_of_range"),
    ]
)
ODD_VALUES = {"uuid": [-1, 2**63], "age": [-1, 120.5, 10**6], "man": [2, -1, 0.5], "woman": [3, 0.25]}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["uuid", "age", "man", "woman"]), BROKEN_FIELD, st.data())
def test_one_broken_demographic_field_gets_the_documented_reason(field, broken, data):
    how, reason = broken
    fields = {"uuid": 7, "age": 30, "man": 0, "woman": 0}
    if how is None:
        del fields[field]
        text = json.dumps(fields)
    else:
        replacement = {
            "null": "null",
            "NaN": "NaN",
            "bad-type": data.draw(st.sampled_from(['"x"', "[1]", '{"a": 1}'])),
            "out-of-range": json.dumps(data.draw(st.sampled_from(ODD_VALUES[field]))),
        }[how]
        text = json.dumps(fields).replace(f'"{field}": {json.dumps(fields[field])}', f'"{field}": {replacement}')
    result = parse_demographic(text.encode(), LIMIT)
    assert isinstance(result, Rejection) and result.reason == reason, (text, result)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512), st.integers(64, 1024))
def test_parsing_is_total_and_deterministic_for_any_bytes_and_limit(payload, limit):
    for parse in (parse_demographic, parse_historic):
        first = parse(payload, limit)
        assert first == parse(payload, limit)
        if isinstance(first, Rejection):
            assert first.reason in REASONS and first.reason != "parser_error"
        if len(payload) > limit:
            assert first.reason == "too_large"
