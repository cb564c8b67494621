"""Routing: a customer's model is a salted hash bucket cut at the cumulative shares."""

from __future__ import annotations

import math

from job.routing import bucket, route


def test_routing_follows_the_shares_within_sampling_error():
    serving = (("a:1", 0.3), ("b:1", 0.7))
    n = 20_000
    routed = [route(u, serving, "salt") for u in range(n)]
    a = routed.count("a:1")
    assert abs(a - 0.3 * n) < 4 * math.sqrt(n * 0.3 * 0.7)
    assert routed == [route(u, serving, "salt") for u in range(n)]  # deterministic
    assert routed != [route(u, serving, "other") for u in range(n)]  # the salt reshuffles


def test_routing_is_the_bucket_cut_at_cumulative_shares():
    serving = (("a:1", 0.25), ("b:1", 0.5), ("c:1", 0.25))
    for u in range(2000):
        point = bucket(u, "s")
        want = "a:1" if point < 0.25 else "b:1" if point < 0.75 else "c:1"
        assert route(u, serving, "s") == want
    assert route(123, (("only:1", 1.0),), "s") == "only:1"
