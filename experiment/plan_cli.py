"""``python -m experiment.plan_cli``: the plan for the configured design (conf/economics.yaml
and the design section of conf/experiment.yaml), every setting overridable (``--help``).
A module of its own because it reads the configuration, which builds on the planner."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from experiment import planner
from experiment.config import DEFAULT_ECONOMICS, load_experiment
from experiment.planner import PlanError, describe, resolve
from job.config import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiment.plan_cli", description=planner.__doc__.split("\n")[0])
    parser.add_argument(
        "--economics", default=str(DEFAULT_ECONOMICS), help="alpha, power, min_effect, revenue_sd (%(default)s)"
    )
    parser.add_argument("--alpha", type=float, help="significance level")
    parser.add_argument("--power", type=float, help="power to detect the minimum effect")
    parser.add_argument("--mde", type=float, help="minimum effect of interest, $/customer")
    parser.add_argument("--sd", type=float, help="sd of revenue per customer-session, $")
    parser.add_argument("--sided", type=int, help="1: treatment > control, 2: any difference")
    parser.add_argument("--split", type=float, help="share of customers sent to treatment")
    parser.add_argument(
        "--n",
        type=float,
        help="total customers available (both arms): plan with these instead, refused if they cannot reach the power",
    )
    args = parser.parse_args(argv)
    try:
        design = load_experiment(economics_path=Path(args.economics)).design
    except ConfigError as exc:
        print(f"planner: {exc}", file=sys.stderr)
        return 2
    settings = {
        "alpha": design.alpha,
        "power": design.power,
        "mde": design.mde,
        "sd": design.sd,
        "sided": design.sided,
        "split": design.treatment_share,
    }
    settings.update({key: value for key, value in vars(args).items() if key in settings and value is not None})
    try:
        plan = resolve(
            alpha=settings["alpha"],
            power=settings["power"],
            mde=settings["mde"],
            sd=settings["sd"],
            sided=settings["sided"],
            treatment_share=settings["split"],
            sample_size=args.n,
        )
    except PlanError as exc:
        print(f"planner: {exc}", file=sys.stderr)
        return 2
    print("\n".join(describe(plan)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
