"""Which model serves a customer: a salted hash of the uuid, never a random draw.

The same function assigns the A/B experiment's arms (experiment/assignment.py), so a
customer's bucket is one number anyone can recompute from the uuid and the salt. A
customer keeps their model for as long as the serving set and shares stay the same.
"""

from __future__ import annotations

import hashlib
from typing import Sequence


def bucket(uuid: int, salt: str) -> float:
    """A uniform number in [0, 1) that depends only on (salt, uuid)."""
    digest = hashlib.sha256(f"{salt}:{int(uuid)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def route(uuid: int, serving: Sequence[tuple[str, float]], salt: str) -> str:
    """The model id whose slice of [0, 1) holds the uuid's bucket.

    ``serving`` is (model id, share) in a fixed order with shares summing to 1; the last
    model takes what rounding leaves, so every bucket lands somewhere. One model: no hash.
    """
    if len(serving) == 1:
        return serving[0][0]
    point, edge = bucket(uuid, salt), 0.0
    for model_id, share in serving[:-1]:
        edge += share
        if point < edge:
            return model_id
    return serving[-1][0]
