"""Binned distributions of the model's inputs and score: the reference written at
training time (``pmml/model.profile.json``) and the live windows counted in the job.

Both sides count into the same bins, defined once by the reference: quantile cut points
for a number (age, the score), 0/1 for a flag. A missing value (a side that never
arrived, a record that could not be scored) is counted apart, not as a bin: the
training data has no missing values while live traffic has timed-out sessions, so a
missing bin would report every timeout as drift of a hundred fields at once. The share
missing is reported next to the distribution of the values that are there.

Plain JSON and plain Python so that the job's venv (no pandas needed) and the training
package read and write the same file.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

from contract.schema import DEMOGRAPHIC_FIELDS, FEATURES, PRODUCT_FIELDS

SCHEMA = 1
NUMERIC, FLAG = "numeric", "flag"
NUMERIC_FIELDS = ("age",)  # every other input is a 0/1 flag
SCORE = "score"
DEFAULT_BINS = 10


class ProfileError(ValueError):
    """A profile file that cannot be used: the job refuses it at submission."""


@dataclass
class Histogram:
    """Counts of one field: ``counts[i]`` values in bin i, ``missing`` values absent.

    Numeric bins: bin i holds edges[i-1] <= v < edges[i] (the first bin is open below, the
    last above), so a live value outside the training range still has a bin."""

    kind: str
    edges: tuple[float, ...] = ()
    counts: list[int] = field(default_factory=list)
    missing: int = 0

    def __post_init__(self):
        if not self.counts:
            self.counts = [0] * self.bins

    @property
    def bins(self) -> int:
        return len(self.edges) + 1 if self.kind == NUMERIC else 2

    @property
    def present(self) -> int:
        return sum(self.counts)

    @property
    def total(self) -> int:
        return self.present + self.missing

    def empty(self) -> "Histogram":
        return Histogram(self.kind, self.edges)

    def bin_of(self, value: float) -> int:
        if self.kind == NUMERIC:
            return bisect.bisect_right(self.edges, value)
        return 1 if value else 0

    def add(self, value: Optional[float]) -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            self.missing += 1
        else:
            self.counts[self.bin_of(value)] += 1

    def to_json(self) -> dict:
        body = {"kind": self.kind, "counts": self.counts, "missing": self.missing}
        if self.kind == NUMERIC:
            body["edges"] = list(self.edges)
        return body

    @classmethod
    def from_json(cls, name: str, body: Mapping) -> "Histogram":
        try:
            histogram = cls(
                body["kind"],
                tuple(float(e) for e in body.get("edges", ())),
                [int(c) for c in body["counts"]],
                int(body["missing"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ProfileError(f"profile field {name!r} is malformed: {err!r}") from None
        if histogram.kind not in (NUMERIC, FLAG) or len(histogram.counts) != histogram.bins:
            raise ProfileError(
                f"profile field {name!r}: kind {histogram.kind!r} with {len(histogram.counts)} "
                f"counts does not match its {histogram.bins} bins"
            )
        return histogram


def quantile_edges(values: Sequence[float], bins: int) -> tuple[float, ...]:
    """Cut points between ``bins`` equally populated bins, as far as ties allow: ages are
    whole years, so two quantiles can fall on the same value and the bins are fewer.
    A cut point sits halfway between two neighbouring distinct values, so integer data
    is never cut at a value it takes."""
    present = sorted(v for v in values if v is not None and not math.isnan(v))
    if not present:
        return ()
    distinct = sorted(set(present))
    edges: list[float] = []
    for i in range(1, bins):
        q = present[min(len(present) - 1, (i * len(present)) // bins)]
        position = bisect.bisect_left(distinct, q)
        if position == 0:
            continue
        edge = (distinct[position - 1] + distinct[position]) / 2
        if not edges or edge > edges[-1]:
            edges.append(edge)
    return tuple(edges)


def histogram_of(values: Sequence[Optional[float]], kind: str, bins: int = DEFAULT_BINS) -> Histogram:
    histogram = Histogram(kind, quantile_edges(values, bins) if kind == NUMERIC else ())
    for value in values:
        histogram.add(value)
    return histogram


def field_kind(name: str) -> str:
    return NUMERIC if name in NUMERIC_FIELDS else FLAG


@dataclass
class Profile:
    """The reference: every input field, the score of the model it was made for (by the
    PMML's sha256) and that model's expected shown share at its threshold."""

    fields: dict[str, Histogram]
    score: Optional[Histogram] = None
    threshold: Optional[float] = None
    shown_share: Optional[float] = None
    pmml_sha256: Optional[str] = None
    source: str = ""

    def to_json(self) -> str:
        body = {
            "schema": SCHEMA,
            "source": self.source,
            "pmml_sha256": self.pmml_sha256,
            "threshold": self.threshold,
            "shown_share": self.shown_share,
            "fields": {name: h.to_json() for name, h in self.fields.items()},
            "score": self.score.to_json() if self.score else None,
        }
        return json.dumps(body, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Profile":
        try:
            body = json.loads(text)
        except json.JSONDecodeError as err:
            raise ProfileError(f"profile is not JSON: {err}") from None
        if not isinstance(body, dict) or body.get("schema") != SCHEMA:
            raise ProfileError(
                f"profile schema must be {SCHEMA}, got {body.get('schema') if isinstance(body, dict) else body!r}"
            )
        fields = {name: Histogram.from_json(name, h) for name, h in (body.get("fields") or {}).items()}
        unknown = sorted(set(fields) - set(FEATURES))
        if unknown:
            raise ProfileError(f"profile has fields the job does not know: {unknown}")
        score = Histogram.from_json(SCORE, body["score"]) if body.get("score") else None
        return cls(
            fields,
            score,
            body.get("threshold"),
            body.get("shown_share"),
            body.get("pmml_sha256"),
            body.get("source", ""),
        )


def reference_profile(
    columns: Mapping[str, Sequence[Optional[float]]],
    scores: Optional[Sequence[float]] = None,
    threshold: Optional[float] = None,
    pmml_sha256: Optional[str] = None,
    source: str = "",
    bins: int = DEFAULT_BINS,
) -> Profile:
    """The reference from training data: ``columns`` maps each input field to its values,
    ``scores`` are the model's probabilities on (held-out) rows."""
    fields = {name: histogram_of(list(values), field_kind(name), bins) for name, values in columns.items()}
    score = shown = None
    if scores is not None:
        score = histogram_of(list(scores), NUMERIC, bins)
        if threshold is not None and score.present:
            shown = sum(1 for s in scores if not math.isnan(s) and s >= threshold) / score.present
    return Profile(fields, score, threshold, shown, pmml_sha256, source)


def write_profile(profile: Profile, path: Path) -> str:
    """Write atomically; returns the sha256 of the bytes written, for the model's metadata."""
    text = profile.to_json().encode()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(text)
    tmp.replace(path)
    return hashlib.sha256(text).hexdigest()


def read_profile(path: Path, sha256: Optional[str] = None) -> Profile:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ProfileError(f"cannot read the model's profile {path}: {err.strerror}") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ProfileError(f"profile {path} does not match the profile_sha256 in the model's metadata")
    return Profile.from_json(data.decode())


def profile_path(pmml: Path) -> Path:
    """``pmml/model.pmml`` → ``pmml/model.profile.json``: versioned next to the model."""
    return pmml.with_suffix(".profile.json")


@dataclass(frozen=True)
class Sample:
    """What the job keeps of a scored session for monitoring: the halves compactly (the
    history as its bit mask), the score and the decision, and when it happened."""

    model: str
    timestamp_ms: int
    age: Optional[float]
    man: Optional[int]
    woman: Optional[int]
    products: Optional[int]  # contract.schema.PRODUCT_BITS mask; None: no history
    score: float  # NaN: not scored
    value: int


class LiveCounts:
    """One window's counts in the reference's bins, updated per sample in O(set bits)."""

    def __init__(self, reference: Profile):
        self.fields = {name: h.empty() for name, h in reference.fields.items()}
        self.score = reference.score.empty() if reference.score else Histogram(NUMERIC)
        self.sessions = 0
        self.shown = 0
        self._flags = [(i, self.fields.get(name)) for i, name in enumerate(PRODUCT_FIELDS)]
        self._demographic = [(name, self.fields.get(name)) for name in DEMOGRAPHIC_FIELDS]

    def add(self, sample: Sample) -> None:
        self.sessions += 1
        self.shown += 1 if sample.value else 0
        self.score.add(sample.score)
        values = (sample.age, sample.man, sample.woman)
        for (_, histogram), value in zip(self._demographic, values):
            if histogram is not None:
                histogram.add(value)
        if sample.products is None:
            for _, histogram in self._flags:
                if histogram is not None:
                    histogram.missing += 1
            return
        for _, histogram in self._flags:  # every present history counts as 0 first ...
            if histogram is not None:
                histogram.counts[0] += 1
        mask = sample.products
        while mask:  # ... then each set bit moves one count from 0 to 1
            low = mask & -mask
            histogram = self._flags[low.bit_length() - 1][1]
            if histogram is not None:
                histogram.counts[0] -= 1
                histogram.counts[1] += 1
            mask ^= low


def columns_of(rows: Iterable[Mapping[str, Optional[float]]], names: Sequence[str] = FEATURES) -> dict[str, list]:
    """Row dicts (as ``feature_row`` builds them) → one list per field."""
    columns: dict[str, list] = {name: [] for name in names}
    for row in rows:
        for name in names:
            columns[name].append(row.get(name))
    return columns


def load_reference(explicit: Optional[Path], metadata_path: Path) -> tuple[Optional[Profile], str]:
    """(the reference, a line saying which) for the configured model, read at submission and
    shipped with the job. ``explicit``: monitoring.profile; else the profile the metadata
    names, checked against its profile_sha256. A model trained before profiles existed has
    none: monitoring is then off, said so, rather than the job refused."""
    if explicit is not None:
        return read_profile(explicit), f"monitoring: reference {explicit}"
    try:
        meta = json.loads(metadata_path.read_text())
    except (OSError, ValueError) as err:
        raise ProfileError(f"cannot read {metadata_path} for its profile: {err}") from None
    if not meta.get("profile"):
        return None, (
            f"monitoring: off, {metadata_path} names no reference profile (`make train`, or "
            "`python -m training.profile` for an existing model, writes one)"
        )
    path = metadata_path.parent / meta["profile"]
    return read_profile(path, meta.get("profile_sha256")), f"monitoring: reference {path}"
