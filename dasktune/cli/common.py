"""What every ``dasktune`` command shares: the experiment argument, storage options, and how
values are printed."""

from __future__ import annotations

import argparse
import json
import math
import numbers
from typing import Any

from dasktune import result as R
from dasktune.experiment_analysis import ExperimentAnalysis


class CLIError(Exception):
    """A mistake on the command line, reported as one line (no traceback)."""


# Fields dasktune fills in on every result: not the user's metrics, so `ls` leaves them out.
AUTO_FIELDS = frozenset(
    {
        R.TRAINING_ITERATION,
        R.TIME_THIS_ITER_S,
        R.TIME_TOTAL_S,
        R.TIME_SINCE_RESTORE,
        R.ITERATIONS_SINCE_RESTORE,
        R.TIMESTEPS_SINCE_RESTORE,
        R.DONE,
        R.SHOULD_CHECKPOINT,
        R.EXPERIMENT_ID,
        R.TRIAL_ID,
        R.CONFIG,
        R.NODE_IP,
        R.HOSTNAME,
        R.PID,
        R.DATE,
        R.TIMESTAMP,
    }
)


def add_experiment_arguments(parser: argparse.ArgumentParser) -> None:
    """``EXPERIMENT`` and ``--storage-option``, taken by every command."""
    parser.add_argument(
        "experiment",
        metavar="EXPERIMENT",
        help="the experiment folder (local path or fsspec URL such as s3://bucket/exp), or its "
        "experiment_state.json",
    )
    parser.add_argument(
        "--storage-option",
        "-s",
        dest="storage_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an fsspec storage option, repeatable; dots nest keys "
        "(client_kwargs.endpoint_url=http://localhost:9000), values that parse as JSON "
        "(true, 3, {...}) are taken as such",
    )


def parse_storage_options(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", "key=x"]`` as ``{"a": {"b": 1}, "key": "x"}``."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CLIError(
                f"--storage-option {item!r} is not KEY=VALUE; e.g. --storage-option "
                f"client_kwargs.endpoint_url=http://localhost:9000"
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        *parents, leaf = key.split(".")
        target = options
        for part in parents:
            nested = target.setdefault(part, {})
            if not isinstance(nested, dict):
                raise CLIError(f"--storage-option {item!r}: {part!r} was already set to a value")
            target = nested
        target[leaf] = value
    return options


def open_experiment(args: argparse.Namespace) -> ExperimentAnalysis:
    """The experiment named on the command line."""
    return ExperimentAnalysis(
        args.experiment, storage_options=parse_storage_options(args.storage_options)
    )


def user_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers the trial reported itself, flattened (``a/b``), in their reported order."""
    from dasktune.utils.dicts import flatten_dict

    return {
        key: value
        for key, value in flatten_dict(result).items()
        if key.split("/")[0] not in AUTO_FIELDS
        and isinstance(value, numbers.Number)
        and not isinstance(value, bool)
    }


def format_value(value: Any) -> str:
    """A number short enough for a table (4 significant digits), anything else as JSON."""
    if isinstance(value, float):
        return repr(value) if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, numbers.Number):
        return str(value)
    return json.dumps(value, default=str)
