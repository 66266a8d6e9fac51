"""``dasktune best EXPERIMENT --metric M --mode max|min``: the best trial's config and
logdir."""

from __future__ import annotations

import argparse
import json

from dasktune.analysis import SCOPES
from dasktune.cli.common import format_value, open_experiment
from dasktune.cli.ls import trial_name
from dasktune.utils.dicts import flatten_dict

NAME = "best"
HELP = "print the best trial's name, metric value, config (JSON) and logdir"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--metric``, ``--mode`` and ``--scope``."""
    parser.add_argument("--metric", "-m", required=True, help="the result key to rank by (a/b)")
    parser.add_argument("--mode", required=True, choices=("max", "min"))
    parser.add_argument(
        "--scope",
        default="last",
        choices=SCOPES,
        help="how a trial is scored: its last value (default, as Ray), its best over all "
        "results, or the average of all / the last 5 / the last 10",
    )


def run(args: argparse.Namespace) -> None:
    """Print the best trial."""
    analysis = open_experiment(args)
    trial = analysis.get_best_trial(args.metric, args.mode, scope=args.scope)
    last = flatten_dict(trial.last_result)
    print(f"trial: {trial_name(trial)}")
    print(f"status: {trial.status}")
    if args.metric in last:
        print(f"{args.metric} (last): {format_value(last[args.metric])}")
    print(f"config: {json.dumps(trial.config, sort_keys=True, default=str)}")
    print(f"logdir: {trial.logdir}")
