"""The model control topic's messages: schema, parsing and validation (pure).

A control message is an immutable, versioned instruction (flink-jpmml's style of small
control types): ``activate`` a model version with a traffic share, put one in
``shadow`` (scored on every session, never deciding), or ``retire`` one. A model version
is identified by ``name:version``, and a version means one PMML: its sha256 and its
threshold travel in every message that names it, and the registry refuses the same
version with different ones (job/registry.py).

Wire format: one JSON object per Kafka record, keyed by model name, for example

    {"schema": 1, "id": "6f1c...", "issued_at_ms": 1763870000000, "action": "activate",
     "name": "new-category-model", "version": "2026-11-23", "location": "/models/x.pmml",
     "sha256": "035b...", "threshold": 0.17, "output_field": "probability(1)", "share": 1.0}

``retire`` needs only schema, id, issued_at_ms, action, name and version.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Optional

SCHEMA = 1
ACTIVATE, SHADOW, RETIRE = "activate", "shadow", "retire"
ACTIONS = (ACTIVATE, SHADOW, RETIRE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ControlError(ValueError):
    """A control message that cannot be applied; the text says which field and why."""


def model_id(name: str, version: str) -> str:
    return f"{name}:{version}"


@dataclass(frozen=True)
class ModelEntry:
    """One model version as the registry (and so the checkpoint) holds it: where its PMML
    is and what it must hash to, never the model object itself."""

    name: str
    version: str
    location: str
    sha256: str
    threshold: float
    output_field: str

    @property
    def id(self) -> str:
        return model_id(self.name, self.version)


@dataclass(frozen=True)
class ControlMessage:
    message_id: str
    issued_at_ms: int
    action: str
    name: str
    version: str
    model: Optional[ModelEntry] = None  # for activate and shadow
    share: Optional[float] = None  # for activate

    @property
    def model_id(self) -> str:
        return model_id(self.name, self.version)


def activate(message_id: str, issued_at_ms: int, entry: ModelEntry, share: float) -> ControlMessage:
    return _checked(ControlMessage(message_id, issued_at_ms, ACTIVATE, entry.name, entry.version, entry, share))


def shadow(message_id: str, issued_at_ms: int, entry: ModelEntry) -> ControlMessage:
    return _checked(ControlMessage(message_id, issued_at_ms, SHADOW, entry.name, entry.version, entry))


def retire(message_id: str, issued_at_ms: int, name: str, version: str) -> ControlMessage:
    return _checked(ControlMessage(message_id, issued_at_ms, RETIRE, name, version))


def encode(message: ControlMessage) -> bytes:
    body = {
        "schema": SCHEMA,
        "id": message.message_id,
        "issued_at_ms": message.issued_at_ms,
        "action": message.action,
        "name": message.name,
        "version": message.version,
    }
    if message.model is not None:
        body.update({k: v for k, v in asdict(message.model).items() if k not in ("name", "version")})
    if message.share is not None:
        body["share"] = message.share
    return json.dumps(body, sort_keys=True).encode()


def parse(payload: bytes) -> ControlMessage:
    """Bytes from the control topic → a valid message, or ControlError naming the problem."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise ControlError(f"not JSON: {err}") from None
    if not isinstance(body, dict):
        raise ControlError("not a JSON object")
    if body.get("schema") != SCHEMA:
        raise ControlError(f"schema {body.get('schema')!r} is not supported (this job reads schema {SCHEMA})")
    action = body.get("action")
    if action not in ACTIONS:
        raise ControlError(f"action {action!r}: expected one of {', '.join(ACTIONS)}")
    issued = body.get("issued_at_ms")
    if isinstance(issued, bool) or not isinstance(issued, int):
        raise ControlError(f"issued_at_ms: expected an integer, got {issued!r}")
    name, version = _text(body, "name"), _text(body, "version")
    entry = share = None
    if action in (ACTIVATE, SHADOW):
        threshold = body.get("threshold")
        entry = ModelEntry(
            name, version, _text(body, "location"), _text(body, "sha256"), threshold, _text(body, "output_field")
        )
    if action == ACTIVATE:
        share = body.get("share")
    return _checked(ControlMessage(_text(body, "id"), issued, action, name, version, entry, share))


def _text(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ControlError(f"{key}: expected a non-empty string, got {value!r}")
    return value


def _checked(message: ControlMessage) -> ControlMessage:
    for key in ("name", "version"):
        if not _NAME.match(getattr(message, key)):
            raise ControlError(f"{key} {getattr(message, key)!r}: letters, digits, '.', '_' or '-' (at most 128)")
    entry = message.model
    if entry is not None:
        if not _SHA256.match(entry.sha256):
            raise ControlError(f"sha256 {entry.sha256!r}: expected 64 lowercase hex digits")
        if not _probability(entry.threshold):
            raise ControlError(f"threshold {entry.threshold!r}: expected a probability in [0, 1]")
    if message.action == ACTIVATE:
        check_share(message.share)
    return message


def check_share(share) -> None:
    if not (_probability(share) and share > 0):
        raise ControlError(f"share {share!r}: expected a number in (0, 1]")


def _probability(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1
