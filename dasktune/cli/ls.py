"""``dasktune ls EXPERIMENT``: one line per trial with its status, iterations and last
metrics."""

from __future__ import annotations

import argparse

from tabulate import tabulate

from dasktune.cli.common import format_value, open_experiment, user_metrics
from dasktune.trial import Trial

NAME = "ls"
HELP = "list the trials: name, status, iterations and last reported metrics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``ls`` takes only the experiment."""


def trial_name(trial: Trial) -> str:
    """The trial's name as the progress table shows it (its folder for a trial the state file
    does not list)."""
    return str(trial) if trial.trainable_name else trial.dirname


def run(args: argparse.Namespace) -> None:
    """Print the table."""
    analysis = open_experiment(args)
    trials = analysis.trials
    last = [user_metrics(t.last_result) for t in trials]
    columns: dict[str, None] = {}  # every trial's metrics, in the order first reported
    for metrics in last:
        columns.update(dict.fromkeys(metrics))
    rows = [
        [trial_name(t), t.status, t.training_iteration]
        + [format_value(m[c]) if c in m else "" for c in columns]
        for t, m in zip(trials, last, strict=True)
    ]
    headers = ["trial", "status", "iter", *columns]
    print(tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True))
