"""Command line: ``python -m training [--data CSV] [--out pmml] ...`` from the repository root."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import Any, Sequence

import yaml

from training.config import ECONOMICS_CONFIG, TRAINING_CONFIG, load_economics, load_training
from training.data import DataError
from training.export import VerificationError


def _assignment(text: str) -> dict[str, Any]:
    """``a.b=value`` -> ``{"a": {"b": value}}`` with the value read as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    nested: dict[str, Any] = {key.split(".")[-1]: yaml.safe_load(value)}
    for part in reversed(key.split(".")[:-1]):
        nested = {part: nested}
    return nested


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument("--data", help="training CSV (default: a synthetic sample with the same schema)")
    parser.add_argument("--out", default="pmml", help="directory for model/baseline .pmml and .json")
    parser.add_argument("--report", default=None, help="report directory (default: OUT/report)")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML/PNG report")
    parser.add_argument("--config", default=str(TRAINING_CONFIG))
    parser.add_argument("--economics", default=str(ECONOMICS_CONFIG))
    parser.add_argument("--profile", help="a profile from the training config, e.g. fixture")
    parser.add_argument("--label", help="label column")
    parser.add_argument("--features", help="comma-separated feature columns (default: the message contract)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--max-trials", type=int, help="search: maximum trials")
    parser.add_argument("--time-budget", type=float, help="search: seconds of wall clock")
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        type=_assignment,
        default=[],
        metavar="KEY=VALUE",
        help="any training config key, e.g. split.test_size=0.25",
    )
    parser.add_argument(
        "--set-economics",
        dest="economics_sets",
        action="append",
        type=_assignment,
        default=[],
        metavar="KEY=VALUE",
        help="e.g. loss_if_not=3",
    )
    return parser.parse_args(argv)


def overrides(args: argparse.Namespace) -> list[dict[str, Any]]:
    flags = [
        ({"data": {"label": args.label}}, args.label),
        ({"data": {"features": (args.features or "").split(",")}}, args.features),
        ({"seed": args.seed}, args.seed),
        ({"search": {"max_trials": args.max_trials}}, args.max_trials),
        ({"search": {"time_budget_seconds": args.time_budget}}, args.time_budget),
    ]
    return [override for override, given in flags if given is not None] + args.sets


def main(argv: Sequence[str] | None = None) -> int:
    from training.config import deep_merge
    from training.train import run

    args = parse_args(argv)
    merged: dict[str, Any] = {}
    for override in overrides(args):
        merged = deep_merge(merged, override)
    economics_overrides: dict[str, Any] = {}
    for override in args.economics_sets:
        economics_overrides = deep_merge(economics_overrides, override)
    report = None if args.no_report else (args.report or f"{args.out}/report")
    try:
        config = load_training(args.config, args.profile, merged)
        economics = load_economics(args.economics, economics_overrides)
        run(config, economics, args.data, args.out, report, progress=partial(print, flush=True))
    except (DataError, VerificationError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
