"""The experiment form, checked by the planner's own rules: the page asks for a plan
on every keystroke and the server asks again on submission, so both refuse the same
input with the same message next to the same field."""
from __future__ import annotations

from typing import Any, Mapping

from experiment.config import Design
from experiment.planner import Plan, PlanError, resolve

# Form field -> what the page calls it. The names are the planner's own (PlanError.field).
FIELDS = {"alpha": "Significance level α", "power": "Power", "mde": "Minimum effect ($/customer)",
          "sd": "Revenue sd ($/session)", "sided": "Test", "treatment_share": "Share sent to treatment"}


def defaults(design: Design) -> dict[str, Any]:
    """The form's starting values: the configured design (conf/economics.yaml, experiment.yaml)."""
    return {"alpha": design.alpha, "power": design.power, "mde": design.mde, "sd": design.sd,
            "sided": design.sided, "treatment_share": design.treatment_share}


def plan_from_form(form: Mapping[str, Any], max_sessions: int) -> Plan:
    """The plan for the submitted fields; PlanError names the first field to correct.

    Every field is required (the console plans from power and effect, never from a given
    size), and the platform runs at most ``max_sessions`` sessions per experiment."""
    values = {}
    for name in FIELDS:
        raw = form.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise PlanError(name, "required")
        values[name] = raw.strip() if isinstance(raw, str) else raw
    if values["sided"] in ("1", "2"):
        values["sided"] = int(values["sided"])
    plan = resolve(**values)
    if plan.total > max_sessions:
        raise PlanError("mde", (
            f"detecting {plan.mde:g} $ needs {plan.total:,} customers; the local platform runs at most "
            f"{max_sessions:,} per experiment: a larger minimum effect, lower power or a higher α needs fewer"))
    return plan
