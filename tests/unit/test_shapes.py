"""The fast path (job/shapes.py) against the general parser: the same record or the same
rejection for specification-shaped messages, their variations and their mutations."""

import json

from hypothesis import example, given, settings

from contract.schema import PRODUCT_FIELDS
from job import shapes
from job.inputs import general_demographic, general_historic, parse_demographic, parse_historic
from tests.support.corpus import LIMIT, corpus, parse
from tests.support.payloads import LIMITS, mutated, spec_shaped_demographic, spec_shaped_historic


@settings(max_examples=600, deadline=None)
@given(spec_shaped_historic() | mutated(spec_shaped_historic()), LIMITS)
@example(b"{'uuid': 9223372036854775808, 'products': {'cat1': 1}}", LIMIT)  # 2^63: out of range
@example(b'{"products": {"cat1": 1, "cat1": 0}, "uuid": 0}', LIMIT)
def test_historic_fast_path_agrees_with_the_general_parser(payload, limit):
    assert parse_historic(payload, limit) == general_historic(payload, limit)


@settings(max_examples=500, deadline=None)
@given(spec_shaped_demographic() | mutated(spec_shaped_demographic()), LIMITS)
def test_demographic_fast_path_agrees_with_the_general_parser(payload, limit):
    assert parse_demographic(payload, limit) == general_demographic(payload, limit)


def test_the_reliability_corpus_parses_the_same_on_both_paths():
    for case in corpus(seed=11, uuid_base=50_000_000, generated=1000):
        general = general_demographic if case.side == "demographic" else general_historic
        assert parse(case) == general(case.payload, LIMIT), case.payload[:80]


def test_the_specification_shapes_take_the_fast_path():
    """Otherwise the agreement above would hold trivially."""
    flags = {name: i % 2 for i, name in enumerate(PRODUCT_FIELDS)}
    strict = json.dumps({"products": flags, "uuid": 12}).encode()
    literal = repr({"uuid": 12, "products": flags}).encode()
    assert shapes.historic(strict) == shapes.historic(literal) == (12, parse_historic(strict, LIMIT).products)
    assert shapes.historic(b"{'uuid': 1, 'products': {'cat1': 1, 'cat1': 0, \"cat1\":0}}")[1] == 1 << 1
    assert shapes.demographic(b"{'woman': 0, 'uuid': 404180, 'age': 41.5, 'man': 1}") == {
        "uuid": 404180,
        "age": 41.5,
        "man": 1,
        "woman": 0,
    }
    for other in (
        b"{'uuid': 1, 'products': {'cat1': True}}",
        b"{'uuid': 1, 'products': {'cat99': 1}}",
        b"{'uuid': 1, 'products': {'cat1': 1,}}",
        b"{'uuid': 1, 'uuid': 1, 'products': {}}",
        b'{"uuid": 1, "age": 4, "man": 1, "woman": 0, "x": 1}',
    ):
        assert shapes.historic(other) is None and shapes.demographic(other) is None
