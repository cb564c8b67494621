"""The traffic plan: a live session's halves travel together; histories in the
specification's shape (and the sparse profile's)."""

import json
import re
from collections import Counter

from contract.schema import PRODUCT_FIELDS
from job import shapes
from job.inputs import parse_historic
from local.traffic import DEMOGRAPHIC, HISTORIC, SPARSE, SPECIFICATION, customers, plan_sessions


def positions(plan) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for index, message in enumerate(plan.messages):
        if message.uuid is not None:
            found.setdefault(message.uuid, []).append(index)
    return found


def test_paired_plan_sends_each_sessions_halves_one_after_the_other():
    people = customers(400, seed=5, uuid_base=1_000)
    plan = plan_sessions(people, seed=5, malformed_share=0.05, incomplete_share=0.1, paired=True)
    where = positions(plan)
    for uuid in plan.complete:
        first, second = where[uuid]
        assert second == first + 1
        assert {plan.messages[first].side, plan.messages[second].side} == {DEMOGRAPHIC, HISTORIC}
    assert all(len(where[uuid]) == 1 for uuid in plan.incomplete)
    assert sum(message.uuid is None for message in plan.messages) == plan.malformed > 0
    # the order within pairs and of the pairs is random, not the customers' order
    assert {plan.messages[where[uuid][0]].side for uuid in plan.complete} == {DEMOGRAPHIC, HISTORIC}
    assert [uuid for uuid in sorted(where, key=where.get)] != [int(p["uuid"]) for p in people]


def test_unpaired_plan_spreads_halves_of_the_same_customers():
    people = customers(400, seed=5, uuid_base=1_000)
    paired = plan_sessions(people, seed=5, malformed_share=0.05, incomplete_share=0.1, paired=True)
    spread = plan_sessions(people, seed=5, malformed_share=0.05, incomplete_share=0.1)
    assert spread.complete | spread.incomplete == paired.complete | paired.incomplete == {p["uuid"] for p in people}
    gaps = [second - first for first, second in (positions(spread)[uuid] for uuid in spread.complete)]
    assert max(gaps) > 100


def historic_pairs(payload: bytes) -> list[tuple[str, int]]:
    return [(key, int(flag)) for key, flag in re.findall(r"""['"](cat\d+|u\d)['"]: (\d)""", payload.decode())]


def historic_messages(profile: str, n: int = 300) -> list[tuple[dict, bytes]]:
    people = customers(n, seed=7, uuid_base=5_000)
    plan = plan_sessions(people, seed=7, profile=profile)
    by_uuid = {int(p["uuid"]): p for p in people}
    return [(by_uuid[m.uuid], m.payload) for m in plan.messages if m.side == HISTORIC]


def test_specification_profile_writes_histories_as_the_sample_does():
    """Every key but a few zeros, repeats with equal and different values, shuffled, half
    literal and half JSON, ~1.3 KB; each parses to the customer's flags, on the fast path."""
    messages = historic_messages(SPECIFICATION)
    styles = Counter()
    for customer, payload in messages:
        pairs = historic_pairs(payload)
        keys = [key for key, _ in pairs]
        flags = {name: int(customer[name]) for name in PRODUCT_FIELDS}
        assert len(PRODUCT_FIELDS) - 3 <= len(set(keys)) < len(PRODUCT_FIELDS)
        assert all(flags[key] == 0 for key in set(PRODUCT_FIELDS) - set(keys))
        repeated = {key for key in keys if keys.count(key) > 1}
        assert any(len({v for k, v in pairs if k == key}) == 1 for key in repeated)  # repeated with its value
        if any(flags.values()):
            assert any(len({v for k, v in pairs if k == key}) == 2 for key in repeated)  # a purchase repeated as 0
        assert keys != sorted(keys, key=PRODUCT_FIELDS.index)
        assert 1100 < len(payload) < 1500
        styles["json" if payload.startswith(b'{"') else "literal"] += 1
        if payload.startswith(b'{"'):
            json.loads(payload)
        assert shapes.historic(payload) is not None
        assert parse_historic(payload, 65536).features() == flags
    assert min(styles.values()) > 0.4 * len(messages)


def test_sparse_profile_writes_only_positive_flags_and_three_zeros():
    """The idealised shape kept for comparison: the same features from far fewer keys."""
    for customer, payload in historic_messages(SPARSE):
        pairs = historic_pairs(payload)
        ones = {name for name in PRODUCT_FIELDS if customer[name]}
        assert all(flag == 0 for key, flag in pairs if key not in ones)
        assert len({key for key, _ in pairs} - ones) == 3 and {key for key, _ in pairs} >= ones
        assert parse_historic(payload, 65536).features() == {name: int(customer[name]) for name in PRODUCT_FIELDS}
