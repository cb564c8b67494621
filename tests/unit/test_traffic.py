"""The demo's traffic plan: a live session's halves travel together."""
from job.local.traffic import DEMOGRAPHIC, HISTORIC, customers, plan_sessions


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
