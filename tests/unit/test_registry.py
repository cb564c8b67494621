"""The registry's rules: swaps, proportional shares, shadows, retirement, immutable versions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from job import control, registry
from job.registry import Registry, RegistryError
from tests.support.models import SHA_B, SHA_C, activate, entry


def shares(reg: Registry) -> dict[str, float]:
    return dict(reg.serving)


def test_a_full_swap_replaces_the_serving_version():
    reg = registry.apply(registry.initial(entry()), activate(entry(version="2", sha=SHA_B)))
    assert shares(reg) == {"model:2": 1.0}
    assert set(reg.known) == {"model:1", "model:2"} and reg.applied == 1


def test_a_new_name_takes_its_share_from_the_others_proportionally():
    reg = registry.apply(registry.initial(entry()), activate(entry("challenger", sha=SHA_B), 0.3))
    assert shares(reg) == {"model:1": 0.7, "challenger:1": 0.3}
    reg = registry.apply(reg, activate(entry("third", sha=SHA_C), 0.5))
    assert shares(reg) == pytest.approx({"model:1": 0.35, "challenger:1": 0.15, "third:1": 0.5})
    assert math.isclose(sum(shares(reg).values()), 1.0)
    # a new version of a serving name swaps in at its own share
    reg = registry.apply(reg, activate(entry("challenger", "2", sha="d" * 64), 0.5))
    assert shares(reg) == pytest.approx(
        {"model:1": 0.5 * 0.35 / 0.85, "third:1": 0.5 * 0.5 / 0.85, "challenger:2": 0.5}
    )


def test_retiring_rescales_the_rest_and_never_the_last_model():
    reg = registry.apply(registry.initial(entry()), activate(entry("challenger", sha=SHA_B), 0.3))
    reg = registry.apply(reg, control.retire("r", 1, "challenger", "1"))
    assert shares(reg) == {"model:1": 1.0}
    with pytest.raises(RegistryError, match="last serving model"):
        registry.apply(reg, control.retire("r", 1, "model", "1"))
    with pytest.raises(RegistryError, match="not a known model version"):
        registry.apply(reg, control.retire("r", 1, "nobody", "1"))
    with pytest.raises(RegistryError, match="neither serves nor shadows"):
        registry.apply(reg, control.retire("r", 1, "challenger", "1"))


def test_shadow_models_score_without_serving_until_activated():
    reg = registry.apply(registry.initial(entry()), control.shadow("s", 1, entry(version="2", sha=SHA_B)))
    assert shares(reg) == {"model:1": 1.0} and reg.shadow == ("model:2",)
    assert [e.id for e in reg.needed()] == ["model:1", "model:2"]
    with pytest.raises(RegistryError, match="serves traffic"):
        registry.apply(reg, control.shadow("s", 1, entry()))
    promoted = registry.apply(reg, activate(entry(version="2", sha=SHA_B)))
    assert shares(promoted) == {"model:2": 1.0} and promoted.shadow == ()
    assert registry.apply(reg, control.retire("r", 1, "model", "2")).shadow == ()


@pytest.mark.parametrize("changed", [dict(sha=SHA_B), dict(threshold=0.3)])
def test_versions_are_immutable_even_after_retirement(changed):
    reg = registry.apply(registry.initial(entry()), activate(entry(version="2", sha=SHA_B)))
    assert shares(reg) == {"model:2": 1.0}  # model:1 no longer serves, but is remembered
    with pytest.raises(RegistryError, match="immutable"):
        registry.apply(reg, activate(entry(**{"version": "1", **changed})))
    assert shares(registry.apply(reg, activate(entry(), 0.5))) == {"model:1": 1.0}  # same version back: allowed


def test_a_refused_message_leaves_the_registry_untouched_and_json_round_trips():
    reg = registry.apply(registry.initial(entry()), activate(entry("challenger", sha=SHA_B), 0.3, mid="x"))
    before = reg.to_json()
    with pytest.raises(RegistryError):
        registry.apply(reg, activate(entry(sha=SHA_C)))
    assert reg.to_json() == before
    assert Registry.from_json(before) == reg and reg.last_message_id == "x"
    assert reg.summary()["serving"][0] == {
        "model": "challenger:1",
        "sha256": SHA_B,
        "share": 0.3,
        "location": f"/models/{SHA_B}.pmml",
        "threshold": 0.2,
    }


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["1", "2"]), st.floats(0.01, 1.0)), max_size=12
    )
)
def test_shares_always_sum_to_one_over_one_version_per_name(pushes):
    reg = registry.initial(entry())
    for name, version, share in pushes:
        reg = registry.apply(reg, activate(entry(name, version, sha=f"{name}{version}".ljust(64, "0")), share))
        assert math.isclose(sum(shares(reg).values()), 1.0, abs_tol=1e-9)
        names = [reg.known[i].name for i, _ in reg.serving]
        assert len(names) == len(set(names))
