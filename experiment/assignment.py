"""Which arm a customer is in: a salted hash of the uuid, never a random draw.

A hash keeps a customer in the same arm for every session of the experiment (no
cross-over between the old and the new targeting) and lets anyone recompute the
assignment later from the uuid and the salt alone. A new salt re-randomizes everybody,
so consecutive experiments do not inherit each other's splits.
"""

from __future__ import annotations

from job.routing import bucket

CONTROL, TREATMENT = "control", "treatment"


def arm_of(uuid: int, treatment_share: float, salt: str) -> str:
    if not 0 < treatment_share < 1:
        raise ValueError(f"treatment_share must lie in (0, 1), got {treatment_share}")
    return TREATMENT if bucket(uuid, salt) < treatment_share else CONTROL
