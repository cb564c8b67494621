import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_model(tmp_path):
    """A writable copy of the small fixture model (model.pmml + model.json)."""
    for name in ("model.pmml", "model.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path / "model.pmml", tmp_path / "model.json"
