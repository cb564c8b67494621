"""The small models under tests/fixtures/ (`make fixtures` trains them)."""

import json
from pathlib import Path

from job.model import ModelSpec, load_spec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_spec() -> ModelSpec:
    return load_spec(FIXTURES / "model.pmml", FIXTURES / "model.json")


def unpinned(fixture_model: tuple[Path, Path], edit) -> ModelSpec:
    """Edit the PMML and drop the checksum, as someone hand-editing a model would."""
    pmml, meta = fixture_model
    pmml.write_text(edit(pmml.read_text()))
    data = json.loads(meta.read_text())
    data.pop("pmml_sha256", None)
    meta.write_text(json.dumps(data))
    return load_spec(pmml, meta)
