"""The simulated customer response: what each session earns under either decision.

The platform cannot observe real customers, so revenue comes from a model that is
stated here and in README.md, with every number in conf/experiment.yaml (response) and
conf/economics.yaml (gain_if_buy, loss_if_not):

* Every customer has a potential outcome ``buys_if_shown``: the synthetic population's
  label, drawn from its known purchase probability (contract/population.py). Whether the
  customer would buy does not depend on the arm; only whether the slot is shown does.
* Traditional-category revenue of a session is ``m + e``: a customer-level mean spend
  ``m`` (gamma distributed, mean ``traditional_mean``, sd ``customer_sd``) plus session
  noise ``e ~ N(0, session_sd)``. It is the same whichever arm the customer is in.
* Showing the slot adds ``gain_if_buy`` if the customer buys the new category, and
  costs ``loss_if_not`` of traditional conversions otherwise; not showing changes nothing.
* The pre-experiment covariate (for CUPED) is the customer's mean traditional revenue
  over ``pre_sessions`` earlier sessions: ``m`` plus the mean of that many noises. It is
  correlated with the experiment's revenue through ``m`` and, being measured before the
  experiment, independent of the assignment.

Everything is drawn up front per customer from one seed, so the same customer earns the
same in a rerun, and the ground truth (the true average effect of the new targeting) is
known exactly, which lets the report say whether the experiment's interval covers it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ResponseModel:
    traditional_mean: float
    customer_sd: float
    session_sd: float
    pre_sessions: int
    gain_if_buy: float
    loss_if_not: float

    def __post_init__(self) -> None:
        for name in ("traditional_mean", "customer_sd", "session_sd", "gain_if_buy", "loss_if_not"):
            if not getattr(self, name) > 0:
                raise ValueError(f"response.{name} must be positive, got {getattr(self, name)}")
        if self.pre_sessions < 1:
            raise ValueError(f"response.pre_sessions must be >= 1, got {self.pre_sessions}")

    @property
    def revenue_sd_unshown(self) -> float:
        """The sd of a session's revenue when the slot is not shown (what sizes the test)."""
        return float(np.hypot(self.customer_sd, self.session_sd))


@dataclass(frozen=True)
class Outcomes:
    """Per customer, in population order."""

    traditional: np.ndarray  # this session's traditional revenue, $
    pre_revenue: np.ndarray  # pre-experiment covariate, $
    buys_if_shown: np.ndarray  # bool


def draw_outcomes(model: ResponseModel, buys_if_shown: np.ndarray, seed: int) -> Outcomes:
    rng = np.random.default_rng(seed)
    n = len(buys_if_shown)
    shape = (model.traditional_mean / model.customer_sd) ** 2
    mean_spend = rng.gamma(shape, model.traditional_mean / shape, size=n)
    traditional = mean_spend + rng.normal(0.0, model.session_sd, size=n)
    pre = mean_spend + rng.normal(0.0, model.session_sd / np.sqrt(model.pre_sessions), size=n)
    return Outcomes(traditional, pre, np.asarray(buys_if_shown, dtype=bool))


def slot_value(model: ResponseModel, buys_if_shown: np.ndarray) -> np.ndarray:
    """What showing the slot changes in each customer's session revenue, $."""
    return np.where(buys_if_shown, model.gain_if_buy, -model.loss_if_not)


def revenue(model: ResponseModel, outcomes: Outcomes, shown: np.ndarray) -> np.ndarray:
    return outcomes.traditional + np.asarray(shown, dtype=bool) * slot_value(model, outcomes.buys_if_shown)


def true_effect(
    model: ResponseModel, buys_if_shown: np.ndarray, shown_treatment: np.ndarray, shown_control: np.ndarray
) -> float:
    """The average treatment effect over these customers ($/customer): what a perfect
    experiment on them would estimate."""
    change = np.asarray(shown_treatment, dtype=float) - np.asarray(shown_control, dtype=float)
    return float(np.mean(change * slot_value(model, buys_if_shown)))
