"""The serving registry: which model versions decide, with what share, and which shadow (pure).

Rules (docs/models.md):

* Serving shares always sum to 1. ``activate`` with share s gives the version exactly s
  and scales every other serving model by (1 - s) (so s = 1 is a full swap, and the
  others stop serving). A version of a name that already serves replaces it (a swap):
  one version per name serves at a time.
* ``shadow`` adds a version that scores every session without deciding; activating it
  later moves it to serving.
* ``retire`` removes a version from serving and shadow; the remaining serving shares
  are scaled up to sum to 1 again. The last serving model cannot be retired.
* Versions are immutable: a name:version once seen keeps its PMML checksum, location
  and threshold forever, retired or not; a message that names it with different ones is
  refused. Re-sending the same activation (say, a new share) is allowed.

Every refusal raises RegistryError and leaves the registry as it was. The registry is
what the job checkpoints (as JSON): ids, locations, checksums, shares, never models.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Mapping

from job.control import ACTIVATE, RETIRE, SHADOW, ControlMessage, ModelEntry

SHARE_DIGITS = 12  # shares are rounded so that repeated rescaling cannot drift


class RegistryError(ValueError):
    """A control message the registry refuses; the text says why."""


@dataclass(frozen=True)
class Registry:
    known: Mapping[str, ModelEntry] = field(default_factory=dict)  # every version ever accepted, by id
    serving: tuple[tuple[str, float], ...] = ()  # (id, share), sorted by id: the routing order
    shadow: tuple[str, ...] = ()
    applied: int = 0  # control messages accepted so far
    last_message_id: str = ""

    def entry(self, model_id: str) -> ModelEntry:
        return self.known[model_id]

    def needed(self) -> list[ModelEntry]:
        """The versions an operator must have loaded: serving, then shadow."""
        return [self.known[i] for i, _ in self.serving] + [self.known[i] for i in self.shadow]

    def summary(self) -> dict:
        """What the status topic reports and ``make model-list`` prints."""

        def describe(model_id: str) -> dict:
            entry = self.known[model_id]
            return {"model": model_id, "sha256": entry.sha256, "location": entry.location, "threshold": entry.threshold}

        return {
            "serving": [{**describe(i), "share": s} for i, s in self.serving],
            "shadow": [describe(i) for i in self.shadow],
            "applied": self.applied,
        }

    def to_json(self) -> str:
        return json.dumps(
            {
                "known": {i: asdict(e) for i, e in self.known.items()},
                "serving": [list(p) for p in self.serving],
                "shadow": list(self.shadow),
                "applied": self.applied,
                "last_message_id": self.last_message_id,
            },
            sort_keys=True,
        )

    @staticmethod
    def from_json(text: str) -> "Registry":
        raw = json.loads(text)
        return Registry(
            {i: ModelEntry(**e) for i, e in raw["known"].items()},
            tuple((i, float(s)) for i, s in raw["serving"]),
            tuple(raw["shadow"]),
            raw["applied"],
            raw["last_message_id"],
        )


def initial(default: ModelEntry) -> Registry:
    """The configured model alone, with all traffic: the registry before any control message."""
    return Registry({default.id: default}, ((default.id, 1.0),))


def apply(registry: Registry, message: ControlMessage) -> Registry:
    """The registry after ``message``, or RegistryError (the registry is unchanged)."""
    known = dict(registry.known)
    if message.model is not None:
        _check_immutable(registry, message.model)
        known[message.model.id] = message.model
    elif message.model_id not in registry.known:
        raise RegistryError(f"{message.model_id} is not a known model version")
    target = message.model_id
    serving = [(i, s) for i, s in registry.serving if i != target]
    shadow = [i for i in registry.shadow if i != target]
    if message.action == ACTIVATE:
        same_name = [i for i, _ in serving if registry.known[i].name == message.name]
        serving = _scaled([(i, s) for i, s in serving if i not in same_name], 1 - message.share)
        serving.append((target, message.share))
    elif message.action == SHADOW:
        if any(i == target for i, _ in registry.serving):
            raise RegistryError(f"{target} serves traffic: retire it first, or shadow another version")
        shadow.append(target)
    elif message.action == RETIRE:
        if target not in dict(registry.serving) and target not in registry.shadow:
            raise RegistryError(f"{target} neither serves nor shadows")
        if not serving:
            raise RegistryError(f"{target} is the last serving model: activate another version first")
    serving = [(i, s) for i, s in _scaled(serving, 1.0) if s > 0]
    return Registry(known, tuple(sorted(serving)), tuple(sorted(shadow)), registry.applied + 1, message.message_id)


def _check_immutable(registry: Registry, entry: ModelEntry) -> None:
    before = registry.known.get(entry.id)
    if before is None:
        return
    for key in ("sha256", "location", "threshold", "output_field"):
        if getattr(before, key) != getattr(entry, key):
            raise RegistryError(
                f"{entry.id} already exists with another {key} ({getattr(before, key)!r}); "
                "model versions are immutable: publish a new version"
            )


def _scaled(pairs: list[tuple[str, float]], total: float) -> list[tuple[str, float]]:
    """Shares multiplied to sum to ``total`` (zero when there is nothing to scale)."""
    current = sum(s for _, s in pairs)
    if current <= 0:
        return [(i, 0.0) for i, _ in pairs]
    return [(i, round(s * total / current, SHARE_DIGITS)) for i, s in pairs]
