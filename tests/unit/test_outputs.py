"""Decisions, features and the messages the job writes."""

import base64
import json

from contract.schema import FEATURES, feature_row
from job import outputs
from job.decision import decide
from job.inputs import Rejection


def test_decision_threshold_and_fallback():
    assert decide(0.30, 0.25, 0) == 1
    assert decide(0.25, 0.25, 0) == 1
    assert decide(0.10, 0.25, 0) == 0
    assert decide(None, 0.25, 1) == 1
    assert decide(float("nan"), 0.25, 0) == 0


def test_feature_row_missing_sides_and_absent_categories():
    row = feature_row({"age": 30.0, "man": 1, "woman": 0}, {"cat5": 1})
    assert list(row) == list(FEATURES)
    assert row["cat5"] == 1 and row["cat6"] == 0 and row["u9"] == 0
    no_history = feature_row({"age": 30.0, "man": 1, "woman": 0}, None)
    assert no_history["cat5"] is None and no_history["age"] == 30.0
    assert feature_row(None, {"cat5": 1})["age"] is None


def test_prediction_is_exactly_the_contract():
    assert json.loads(outputs.prediction(1234567, 1, "tok")) == {"uuid": 1234567, "value": 1, "token": "tok"}


def test_dead_letter_keeps_raw_payload_reason_and_truncates():
    letter = json.loads(outputs.dead_letter("topic_historic", b"x" * 100, Rejection("too_large", "d"), 10, 5))
    assert letter["payload"] == "x" * 10 and letter["truncated"] and letter["payload_bytes"] == 100
    assert letter["reason"] == "too_large" and letter["source_topic"] == "topic_historic"
    binary = json.loads(outputs.dead_letter("t", b"\xff\x00", Rejection("not_utf8", "d"), 10, 5))
    assert binary["payload"] is None and base64.b64decode(binary["payload_base64"]) == b"\xff\x00"


def test_wire_encoding_round_trips_every_byte():
    payload = bytes(range(256))
    assert outputs.from_wire(outputs.to_wire(payload)) == payload
