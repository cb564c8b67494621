"""What the live view shows, computed from the recorded sessions alone (pure).

The effect is drawn with the always-valid (mSPRT) band, the only interval that may be
looked at while the experiment runs; the fixed-horizon one is the verdict's, at the
planned size. Non-finite numbers become null so the page can leave gaps.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from experiment import analysis
from experiment.assignment import CONTROL, TREATMENT
from experiment.planner import Plan
from experiment.platform import JOB, MISSING

LOOKS = 60  # points on the live effect curve
PATH_COLUMNS = ("customers", "diff", "av_lower", "av_upper")


def snapshot(sessions: pd.DataFrame, plan: Plan, srm_threshold: float) -> dict[str, Any]:
    per_arm = sessions["arm"].value_counts()
    n_control, n_treatment = int(per_arm.get(CONTROL, 0)), int(per_arm.get(TREATMENT, 0))
    treated = sessions[sessions["arm"] == TREATMENT]
    recorded = n_control + n_treatment
    view: dict[str, Any] = {
        "recorded": recorded,
        "planned": plan.total,
        "progress": min(1.0, recorded / plan.total),
        "arms": {
            CONTROL: {"sessions": n_control, "planned": plan.n_control},
            TREATMENT: {"sessions": n_treatment, "planned": plan.n_treatment},
        },
        "decisions": {
            "received": int((treated["source"] == JOB).sum()),
            "missing": int((treated["source"] == MISSING).sum()),
        },
        "srm": None,
        "effect": None,
        "path": [],
    }
    if recorded:
        ratio = analysis.srm(n_control, n_treatment, treatment_share=plan.treatment_share, threshold=srm_threshold)
        view["srm"] = {
            "observed_share": _finite(ratio.observed_share),
            "expected_share": plan.treatment_share,
            "p_value": _finite(ratio.p_value),
            "mismatch": bool(ratio.mismatch),
            "threshold": srm_threshold,
        }
    if min(n_control, n_treatment) >= 2:
        path = analysis.sequential_path(sessions, tau=plan.mde, alpha=plan.alpha, sided=plan.sided, looks=LOOKS)
        if len(path):
            view["path"] = [{k: _finite(row[k]) for k in PATH_COLUMNS} for _, row in path.iterrows()]
            last = path.iloc[-1]
            view["effect"] = {
                "diff": _finite(last["diff"]),
                "av_lower": _finite(last["av_lower"]),
                "av_upper": _finite(last["av_upper"]),
                "av_p": _finite(last["av_p"]),
                "crossed": bool(last["av_p"] < plan.alpha),
            }
    return view


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
