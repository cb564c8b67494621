"""What the job writes: prediction and dead-letter payloads, and the raw-bytes wire trick.

Sources decode Kafka values as ISO-8859-1, which maps every byte to one character and
back, so the parser sees the exact bytes that were produced (invalid UTF-8 included)
instead of text that Java already "repaired" with replacement characters.
"""

from __future__ import annotations

import base64
import json

from job.inputs import Rejection

WIRE_CHARSET = "ISO-8859-1"
# Kafka headers of every prediction (UTF-8 values): the model version that decided it.
# The value itself stays exactly {"uuid", "value", "token"}.
MODEL_NAME_HEADER, MODEL_VERSION_HEADER = "model_name", "model_version"


def to_wire(payload: bytes) -> str:
    return payload.decode("latin-1")


def from_wire(text: str) -> bytes:
    return text.encode("latin-1")


def prediction(uuid: int, value: int, token: str) -> str:
    """Exactly the A/B platform's contract: {"uuid", "value", "token"} and nothing else."""
    return json.dumps({"uuid": uuid, "value": value, "token": token})


def shadow_score(uuid: int, model: str, probability: float, value: int, serving_model: str) -> str:
    """A shadow model's verdict on a session it did not decide, for offline comparison;
    probability null when the model gave none (value is then the safe default)."""
    return json.dumps(
        {
            "uuid": uuid,
            "model": model,
            "probability": None if probability != probability else probability,
            "value": value,
            "serving_model": serving_model,
        }
    )


def dead_letter(source_topic: str, payload: bytes, rejection: Rejection, keep_bytes: int, now_ms: int) -> str:
    """The raw payload (text if UTF-8, else base64), truncated to keep_bytes, plus the reason.

    Truncation keeps a multi-megabyte payload from failing the dead-letter write itself;
    ``payload_bytes`` still says how big the original was.
    """
    kept = payload[:keep_bytes]
    try:
        text, encoded = kept.decode("utf-8"), None
    except UnicodeDecodeError:
        text, encoded = None, base64.b64encode(kept).decode("ascii")
    return json.dumps(
        {
            "source_topic": source_topic,
            "reason": rejection.reason,
            "detail": rejection.detail,
            "payload": text,
            "payload_base64": encoded,
            "payload_bytes": len(payload),
            "truncated": len(kept) < len(payload),
            "rejected_at_ms": now_ms,
        }
    )
