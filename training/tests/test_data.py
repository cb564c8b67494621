import numpy as np
import pandas as pd
import pytest

from contract.population import population
from contract.schema import FEATURES, LABEL, PRODUCT_FIELDS, feature_row
from training.data import DataError, blank_sides, from_frame, load_csv


@pytest.fixture()
def frame() -> pd.DataFrame:
    return population(50, seed=1)


def write(tmp_path, frame: pd.DataFrame, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_loads_and_hashes_file_bytes(tmp_path, frame):
    path = write(tmp_path, frame)
    data = load_csv(path, FEATURES, LABEL)
    assert list(data.X.columns) == list(FEATURES) and (data.X.dtypes == "float64").all()
    assert data.y.tolist() == frame[LABEL].tolist()
    import hashlib

    assert data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.drop(columns=["cat7", LABEL]), "lacks required column(s): cat7, new_category_purchase"),
        (lambda f: f.assign(**{LABEL: f[LABEL].replace(1, 2)}), "must be 0 or 1"),
        (lambda f: f.assign(**{LABEL: f[LABEL].astype(object).where(f.index != 3, None)}), "must be 0 or 1"),
        (lambda f: f.assign(**{LABEL: 0}), "single class"),
        (lambda f: f.assign(age=f["age"].astype(object).where(f.index != 0, "old")), "non-numeric values in age"),
        (lambda f: f.assign(cat3=2), "values other than 0/1: cat3"),
        (lambda f: f.assign(age=150), "age outside"),
        (lambda f: f.iloc[:0], "no rows"),
    ],
)
def test_invalid_csv_is_explained(tmp_path, frame, mutate, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_csv(write(tmp_path, mutate(frame)), FEATURES, LABEL)


def test_missing_or_empty_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_csv(tmp_path / "nope.csv", FEATURES, LABEL)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_csv(tmp_path / "empty.csv", FEATURES, LABEL)


def test_label_and_features_are_configurable(tmp_path, frame):
    renamed = frame.rename(columns={LABEL: "bought"})
    data = load_csv(write(tmp_path, renamed), ["age", "cat36"], "bought")
    assert list(data.X.columns) == ["age", "cat36"] and data.y.name == "bought"


def test_duplicate_product_columns_any_purchase_wins(tmp_path, frame):
    path = tmp_path / "dup.csv"
    text = write(tmp_path, frame).read_text().splitlines()
    header = text[0] + ",cat5"
    rows = [line + f",{1 if i % 2 else 0}" for i, line in enumerate(text[1:])]
    path.write_text("\n".join([header, *rows]) + "\n")
    data = load_csv(path, FEATURES, LABEL)
    expected = np.maximum(frame["cat5"].to_numpy(), np.arange(len(frame)) % 2)
    assert data.X["cat5"].tolist() == expected.tolist()


def test_missing_cells_follow_the_job_rules(frame):
    """Empty product cells beside a known history are 0; a fully empty side stays missing."""
    frame = frame.astype({name: "float64" for name in FEATURES})
    frame.loc[0, "cat9"] = np.nan  # history known, one category absent -> 0
    frame.loc[1, list(PRODUCT_FIELDS)] = np.nan  # no history at all -> missing
    frame.loc[2, ["age", "man", "woman"]] = np.nan  # no demographics -> missing
    X = from_frame(frame, FEATURES, LABEL, "test").X
    for i in range(3):
        demographic = None if i == 2 else frame.loc[i, ["age", "man", "woman"]].to_dict()
        products = None if i == 1 else {k: v for k, v in frame.loc[i, list(PRODUCT_FIELDS)].items() if v == v}
        served = pd.Series(feature_row(demographic, products), dtype="float64")
        pd.testing.assert_series_equal(X.loc[i], served, check_names=False)


def test_blank_sides_is_seeded_and_only_blanks_whole_sides(frame):
    X = from_frame(frame, FEATURES, LABEL, "test").X
    a = blank_sides(X, {"no_history": 0.3, "no_demographics": 0.3}, seed=1)
    assert a.equals(blank_sides(X, {"no_history": 0.3, "no_demographics": 0.3}, seed=1))
    history = a[list(PRODUCT_FIELDS)].isna()
    assert (history.all(axis=1) | ~history.any(axis=1)).all() and history.all(axis=1).any()
    assert X.notna().all().all()  # the input is untouched
    with pytest.raises(ValueError, match="unknown side"):
        blank_sides(X, {"no_age": 0.1}, seed=1)
