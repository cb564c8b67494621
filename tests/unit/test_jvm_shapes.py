"""The JVM's fast path (jvm/records Shapes, what the job parses the common shapes with)
against job/shapes.py: the same record for every payload Python's fast path reads as a
valid record, and no record for anything else (those go to the Python parser, which alone
decides rejections). The jar's own entry point answers one payload per line."""

import random

import pytest
from hypothesis import example, given, settings

from job import shapes
from job.config import load_config
from job.inputs import UUID_MAX, Demographic, parse_demographic
from local.jvm_shapes import NOT_A_SHAPE, JvmShapes
from local.traffic import PROFILES, customers, demographic_message, historic_message
from tests.support.corpus import corpus
from tests.support.payloads import mutated, spec_shaped_demographic, spec_shaped_historic


@pytest.fixture(scope="module")
def jvm():
    shapes = JvmShapes(load_config(environ={}).flink.operator_jar)
    yield shapes.parse
    assert shapes.close() == 0


def python_historic(payload: bytes) -> str:
    """What the JVM must answer: Python's fast-path record (the bits in decimal), or none
    where Python's fast path has none or the uuid is out of range (inputs.py rejects it)."""
    common = shapes.historic(payload)
    if common is None or common[0] > UUID_MAX:
        return NOT_A_SHAPE
    return f"{common[0]} {common[1]}"


def python_demographic(payload: bytes):
    """Python's fast-path record if it is a valid one, else none. The JVM also leaves a
    19-digit uuid to Python (it may pass 2^63-1)."""
    if shapes.demographic(payload) is None:
        return NOT_A_SHAPE
    record = parse_demographic(payload, len(payload))
    if not isinstance(record, Demographic) or record.uuid >= 10**18:
        return NOT_A_SHAPE
    return record


def jvm_demographic(answer: str):
    if answer == NOT_A_SHAPE:
        return answer
    uuid, age, man, woman = answer.split()
    return Demographic(int(uuid), float(age), int(man), int(woman))


@settings(max_examples=600, deadline=None)
@given(spec_shaped_historic() | mutated(spec_shaped_historic()))
@example(b"{'uuid': 9223372036854775808, 'products': {'cat1': 1}}")  # 2^63: out of range
@example(b"{'uuid': 9223372036854775807, 'products': {'u9': 1, 'cat63': 1, 'cat64': 1}}")  # both halves' top bits
@example(b'{"products": {"cat1": 1, "cat1": 0}, "uuid": 0}')
@example(b'{"products": {}, "uuid": 0}')
def test_historic_agrees_with_the_python_fast_path(jvm, payload):
    assert jvm("historic", payload) == python_historic(payload)


@settings(max_examples=500, deadline=None)
@given(spec_shaped_demographic() | mutated(spec_shaped_demographic()))
@example(b"{'uuid': 5, 'age': 120.00000000000001, 'man': 1, 'woman': 0}")
@example(b"{'uuid': 5, 'age': 40, 'man': 1.0000000000000001, 'woman': 0.0}")
@example(b"{'uuid': 5, 'age': 40, 'man': 1, 'woman': 1}")
@example(b"{'uuid': 1234567890123456789, 'age': 40, 'man': 1, 'woman': 0}")
def test_demographic_agrees_with_the_python_fast_path(jvm, payload):
    assert jvm_demographic(jvm("demographic", payload)) == python_demographic(payload)


def test_the_reliability_corpus_agrees(jvm):
    for case in corpus(seed=11, uuid_base=50_000_000, generated=1000):
        if case.side == "historic":
            assert jvm("historic", case.payload) == python_historic(case.payload), case.payload[:80]
        else:
            assert jvm_demographic(jvm("demographic", case.payload)) == python_demographic(case.payload), case.payload[
                :80
            ]


@pytest.mark.parametrize("profile", PROFILES)
def test_what_the_traffic_generators_write_is_parsed_on_the_jvm(jvm, profile):
    """Otherwise the agreement above would hold trivially, and the job would parse its
    real traffic in Python."""
    rng = random.Random(3)
    for customer in customers(200, seed=3, uuid_base=10**9):
        historic = historic_message(customer, rng, profile)
        assert jvm("historic", historic) == python_historic(historic) != NOT_A_SHAPE
        demographic = demographic_message(customer, rng)
        assert jvm_demographic(jvm("demographic", demographic)) == python_demographic(demographic) != NOT_A_SHAPE


NEAR_KEYS = ["cat99", "cat100", "cat05", "cat00", "cat", "u10", "u01", "u", "CAT1", "cat1x", "cat-1", "cat 1", "x"]


@pytest.mark.parametrize("key", NEAR_KEYS + ["cat0", "cat98", "u0", "u9"])
@pytest.mark.parametrize("quote", ["'", '"'])
def test_keys_beside_the_product_keys_are_left_to_python(jvm, key, quote):
    """A key one step from a product key is not a shape (job/shapes.py's table of
    spellings has only the 109): the JVM must not read it as some other product's bit."""
    entries = [f"{quote}cat1{quote}: 1", f"{quote}{key}{quote}: 1", f"{quote}u9{quote}: 0"]
    payload = ("{" + f"{quote}uuid{quote}: 7, {quote}products{quote}: {{" + ", ".join(entries) + "}}").encode()
    answer = jvm("historic", payload)
    assert answer == python_historic(payload)
    assert (answer == NOT_A_SHAPE) == (key in NEAR_KEYS)
