"""A synthetic customer population with the schema of ``training.csv``.

It lets the package train, test and build fixtures without the real data, and lets the
streaming side generate plausible messages. It must stay importable with numpy and
pandas alone (the job's virtualenv has no scikit-learn or xgboost); ``contract.schema`` is
plain Python and gives the column names, so the sample always matches the contract.

The signal is deliberately shaped like the real data: age and sex move the purchase
rate only a little (an age/sex targeting cannot pay for itself), while a handful of
store categories and opaque ``u`` flags carry most of it; a shared "shopper activity"
factor correlates the purchase flags as real baskets are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.schema import FEATURES, LABEL, PRODUCT_FIELDS

N_U_FLAGS = sum(name.startswith("u") for name in PRODUCT_FIELDS)
N_CATEGORIES = len(PRODUCT_FIELDS) - N_U_FLAGS
BASE_RATE = 0.12

_CATEGORY_EFFECTS = {
    36: 1.1,
    43: 0.9,
    27: 0.9,
    72: 0.8,
    21: 0.7,
    18: 0.5,
    54: 0.4,
    35: -0.8,
    40: -0.7,
    13: -0.6,
    66: -0.5,
}
_U_EFFECTS = {8: 0.6, 3: 0.4, 0: -0.5}


def _intercept_for_rate(logit: np.ndarray, rate: float) -> float:
    """Bisection on the intercept so the sample's mean probability equals ``rate``."""
    low, high = -20.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        if np.mean(1 / (1 + np.exp(-(logit + mid)))) > rate:
            high = mid
        else:
            low = mid
    return (low + high) / 2


def population(n: int, seed: int = 0, base_rate: float = BASE_RATE) -> pd.DataFrame:
    """``n`` customers with uuid, age, man, woman, cat0..cat98, u0..u9 and the label."""
    if n <= 0:
        raise ValueError(f"population size must be positive, got {n}")
    rng = np.random.default_rng(seed)
    uuid = rng.choice(10_000_000, size=n, replace=False) if n <= 1_000_000 else np.arange(n)
    age = np.clip(np.round(rng.gamma(9.0, 4.7, size=n)), 18, 85).astype(np.int64)
    sex = rng.choice(3, size=n, p=[0.454, 0.537, 0.009])  # man, woman, unknown
    man = (sex == 0).astype(np.int64)
    woman = (sex == 1).astype(np.int64)

    activity = rng.normal(size=n)
    prevalence = np.random.default_rng(seed + 1).uniform(0.03, 0.30, size=len(PRODUCT_FIELDS))
    flag_logit = np.log(prevalence / (1 - prevalence))[None, :] + 0.6 * activity[:, None]
    flags = (rng.random((n, prevalence.size)) < 1 / (1 + np.exp(-flag_logit))).astype(np.int64)
    cats, us = flags[:, :N_CATEGORIES], flags[:, N_CATEGORIES:]

    logit = -0.012 * (age - 42) + 0.15 * woman + 0.25 * (sex == 2)
    for index, effect in _CATEGORY_EFFECTS.items():
        logit = logit + effect * cats[:, index]
    for index, effect in _U_EFFECTS.items():
        logit = logit + effect * us[:, index]
    logit = logit + 0.6 * cats[:, 36] * us[:, 8]  # an interaction trees can find
    logit = logit + _intercept_for_rate(logit, base_rate)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    columns = dict(zip(FEATURES, [age, man, woman, *cats.T, *us.T]))
    return pd.DataFrame({"uuid": uuid, **columns, LABEL: label})
