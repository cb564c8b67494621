"""Control messages on the wire: round trips, refusals that name the field, no other exception."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from job import control
from job.control import ControlError
from tests.support.models import SHA_B, activate, entry


def test_messages_round_trip_through_the_wire():
    for message in (
        activate(entry(), 0.25),
        control.shadow("s", 2, entry(version="2", sha=SHA_B)),
        control.retire("r", 3, "model", "1"),
    ):
        assert control.parse(control.encode(message)) == message


@pytest.mark.parametrize(
    "edit, error",
    [
        (lambda b: b.update(schema=2), "schema 2 is not supported"),
        (lambda b: b.update(action="delete"), "action 'delete'"),
        (lambda b: b.update(share=0), "share 0"),
        (lambda b: b.update(share=1.5), "share 1.5"),
        (lambda b: b.update(share=True), "share True"),
        (lambda b: b.update(share=math.nan), "share nan"),
        (lambda b: b.pop("share"), "share None"),
        (lambda b: b.update(threshold=-0.1), "threshold -0.1"),
        (lambda b: b.update(sha256="ABC"), "sha256 'ABC'"),
        (lambda b: b.pop("location"), "location: expected a non-empty string"),
        (lambda b: b.update(name="a b"), "name 'a b'"),
        (lambda b: b.update(version=""), "version: expected a non-empty string"),
        (lambda b: b.update(issued_at_ms="now"), "issued_at_ms"),
    ],
)
def test_invalid_messages_are_refused_with_the_field_named(edit, error):
    body = json.loads(control.encode(activate(entry(), 0.5)))
    edit(body)
    with pytest.raises(ControlError, match=error.replace("(", r"\(")):
        control.parse(json.dumps(body).encode())


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_control_error(payload):
    try:
        control.parse(payload)
    except ControlError:
        pass
