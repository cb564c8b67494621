import subprocess
import sys

from contract.population import population
from contract.schema import FEATURES, LABEL


def test_schema_matches_training_csv():
    frame = population(500, seed=3)
    assert list(frame.columns) == ["uuid", *FEATURES, LABEL]
    assert frame["uuid"].is_unique
    assert frame.drop(columns=["uuid", "age"]).isin([0, 1]).all().all()
    assert frame["age"].between(18, 85).all()
    assert ((frame["man"] + frame["woman"]) <= 1).all()


def test_seeded_and_plausible():
    a, b = population(20000, seed=7), population(20000, seed=7)
    assert a.equals(b)
    assert not a.equals(population(20000, seed=8))
    assert 0.10 < a[LABEL].mean() < 0.14
    # the designed signal is there: buyers of cat36 buy the new category more often
    assert a.loc[a["cat36"] == 1, LABEL].mean() > 1.5 * a.loc[a["cat36"] == 0, LABEL].mean()


def test_importable_without_sklearn_or_xgboost():
    code = (
        "import sys; sys.modules.update(sklearn=None, xgboost=None, sklearn2pmml=None, pypmml=None, yaml=None); "
        "from contract.population import population; population(10, 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
