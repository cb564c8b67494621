"""The experiment form, checked by the planner's own rules: the page asks for a plan
on every keystroke and the server asks again on submission, so both refuse the same
input with the same message next to the same field.

The four settings of the specification (alpha, power, minimum effect, sample size) are
all on the form; the one left empty is solved from the other three. The metadata (name,
hypothesis, owner) and the analysis settings (CUPED, sequential testing and its tau) are
recorded with the experiment and its report."""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional

from experiment.config import Design
from experiment.numbers import money, percent
from experiment.planner import UNKNOWNS, Plan, PlanError, parse_number, resolve

# Form field -> what the page calls it. The design's names are the planner's own (PlanError.field).
FIELDS = {
    "alpha": "Significance level α",
    "power": "Power",
    "mde": "Minimum effect ($/customer)",
    "sample_size": "Sample size (customers)",
    "sd": "Revenue sd ($/customer)",
    "sided": "Test",
    "treatment_share": "Share sent to treatment",
}
META_FIELDS = {"name": "Name", "hypothesis": "Hypothesis", "owner": "Owner"}
TEXT_LIMITS = {"name": 80, "hypothesis": 1000, "owner": 80}
ANALYSIS_FIELDS = {
    "cuped": "CUPED (pre-period revenue as covariate)",
    "sequential": "Sequential testing (mSPRT: may stop early)",
    "tau": "mSPRT mixing sd τ ($/customer)",
}
UNITS = ("total", "per_arm")
# What the page says when the pointer rests on a setting: the meaning, not the rule.
TIPS = {
    "alpha": "The false-positive rate: how often the test declares a difference when there is none. "
    "0.05 is the usual choice.",
    "power": "The chance of detecting a true effect as large as the minimum effect. 80 % is usual; "
    "leave it empty to learn what the sample size gives.",
    "mde": "The smallest difference in revenue per customer worth detecting. Leave it empty to learn "
    "which effect a given number of customers can detect.",
    "sample_size": "Leave it empty to have it planned, or give the customers you have (in total, or in "
    "each arm) to check them or to solve another setting.",
    "sd": "The standard deviation of revenue per customer: the noise the effect is measured against.",
    "tau": "How large an effect the always-valid test expects (its mixing sd). Default: the minimum effect.",
    "always_valid": "The mSPRT interval covers the true effect with 1 − α probability at every look at "
    "once, so it may be watched while the experiment runs; the fixed-horizon interval may not.",
}


@dataclass(frozen=True)
class Settings:
    """What a team records about an experiment beyond its design, and how it is analysed."""

    name: str
    hypothesis: str = ""
    owner: str = ""
    cuped: bool = True
    sequential: bool = True
    tau: Optional[float] = None  # mSPRT mixing sd, $/customer; None: the minimum effect

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self, plan: Plan) -> list[str]:
        """The settings as the report and the experiment page print them."""
        tau = money(self.tau if self.tau is not None else plan.mde)
        return [
            f"name {self.name}" + (f", owner {self.owner}" if self.owner else ""),
            *([f"hypothesis {self.hypothesis}"] if self.hypothesis else []),
            f"CUPED {'on' if self.cuped else 'off'}, sequential testing "
            + (f"on (mSPRT, tau {tau}/customer)" if self.sequential else "off (fixed horizon only)"),
        ]


def defaults(design: Design) -> dict[str, Any]:
    """The form's starting values: the configured design (conf/economics.yaml, experiment.yaml)."""
    return {
        "alpha": design.alpha,
        "power": design.power,
        "mde": design.mde,
        "sample_size": "",
        "sample_unit": "total",
        "sd": design.sd,
        "sided": design.sided,
        "treatment_share": design.treatment_share,
        "name": "",
        "hypothesis": "",
        "owner": "",
        "cuped": True,
        "sequential": True,
        "tau": "",
    }


def plan_from_form(form: Mapping[str, Any], max_sessions: int) -> Plan:
    """The plan for the submitted fields; PlanError names the first field to correct.

    One of the four settings may be empty (it is solved); sd, test and share are required.
    The platform runs at most ``max_sessions`` sessions per experiment."""
    values = {name: _value(form, name) for name in FIELDS}
    for name in FIELDS:
        if values[name] is None and name not in UNKNOWNS:
            raise PlanError(name, "required")
    unit = _value(form, "sample_unit") or "total"
    if unit not in UNITS:
        raise PlanError("sample_size", f"the unit is 'total' or 'per_arm', got {str(unit)[:40]!r}")
    if values["sided"] in ("1", "2"):
        values["sided"] = int(values["sided"])
    plan = resolve(**values, per_arm=unit == "per_arm")
    if plan.total > max_sessions:
        field = "sample_size" if values["sample_size"] is not None else "mde"
        raise PlanError(
            field,
            (
                f"{plan.total:,} customers to detect {money(plan.mde)} at {percent(plan.power)} power; the local "
                f"platform runs at most {max_sessions:,} per experiment: a larger minimum effect, a lower power "
                "or a higher α needs fewer"
            ),
        )
    return plan


def solved(form: Mapping[str, Any]) -> Optional[str]:
    """Which of the four settings the form left empty (the planner solved it)."""
    return next((name for name in UNKNOWNS if _value(form, name) is None), None)


def settings_from_form(form: Mapping[str, Any], plan: Plan) -> Settings:
    """The metadata and analysis settings; PlanError names the field to correct."""
    text = {}
    for name, limit in TEXT_LIMITS.items():
        raw = _value(form, name) or ""
        if not isinstance(raw, str):
            raise PlanError(name, "expected text")
        if len(raw) > limit:
            raise PlanError(name, f"at most {limit} characters, got {len(raw):,}")
        if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") and c not in "\n\t" for c in raw):
            raise PlanError(name, "control characters are not allowed")
        text[name] = raw
    if not text["name"]:
        raise PlanError("name", "required: the name the team will know the experiment by")
    tau = _value(form, "tau")
    if tau is not None:
        tau = parse_number("tau", tau)
        if not 0 < tau <= plan.sd:
            raise PlanError(
                "tau", f"the mixing sd must be positive and at most the revenue sd ({money(plan.sd)}), got {tau:g}"
            )
    return Settings(**text, cuped=_switch(form, "cuped"), sequential=_switch(form, "sequential"), tau=tau)


def _value(form: Mapping[str, Any], name: str) -> Any:
    """A field's value; None when it is absent or blank."""
    raw = form.get(name)
    if isinstance(raw, str):
        raw = raw.strip()
    return None if raw is None or raw == "" else raw


def _switch(form: Mapping[str, Any], name: str) -> bool:
    """A checkbox: present ("on", or true in JSON) means on, absent or false means off."""
    raw = form.get(name)
    if raw in (None, False, "", "off", "false"):
        return False
    if raw in (True, "on", "true"):
        return True
    raise PlanError(name, f"expected on or off, got {str(raw)[:40]!r}")
