"""``dasktune plot EXPERIMENT --metric M -o curves.png``: every trial's learning curve in one
PNG (matplotlib, the ``plot`` extra)."""

from __future__ import annotations

import argparse
import math
import numbers
from typing import Any

from dasktune.analysis import CONFIG_PREFIX
from dasktune.cli.common import CLIError, open_experiment
from dasktune.cli.ls import trial_name
from dasktune.result import TRAINING_ITERATION

NAME = "plot"
HELP = "draw every trial's learning curve of a metric into one PNG (needs dasktune[plot])"
# More curves than this make the legend larger than the plot: it is left out.
MAX_LEGEND_ENTRIES = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--metric``, ``--output``, the x axis and the image size."""
    parser.add_argument("--metric", "-m", required=True, help="the result key to draw (a/b)")
    parser.add_argument("--output", "-o", required=True, help="the PNG file to write")
    parser.add_argument(
        "--x",
        default=TRAINING_ITERATION,
        help="the result key for the x axis (default: %(default)s)",
    )
    parser.add_argument("--width", type=int, default=1000, help="image width in pixels")
    parser.add_argument("--height", type=int, default=600, help="image height in pixels")
    parser.add_argument("--log-y", action="store_true", help="logarithmic y axis")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise CLIError(
            "dasktune plot needs matplotlib, which is not installed: pip install 'dasktune[plot]'"
        ) from exc
    matplotlib.use("Agg")  # no display needed: the plot goes to a file
    import matplotlib.pyplot as plt

    return plt


def _number(value: Any) -> float | None:
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        value = float(value)
        return value if math.isfinite(value) else None
    return None


def run(args: argparse.Namespace) -> None:
    """Write the plot."""
    if args.width < 100 or args.height < 100:
        raise CLIError("--width and --height must be at least 100 pixels")
    if args.metric.startswith(CONFIG_PREFIX):
        raise CLIError(f"{args.metric!r} is a config value, not a metric that changes")
    plt = _pyplot()
    analysis = open_experiment(args)
    analysis._metric_values(args.metric)  # a metric nobody reported: the error with a hint
    frames = analysis.trial_dataframes
    dpi = 100
    fig, ax = plt.subplots(figsize=(args.width / dpi, args.height / dpi), dpi=dpi)
    drawn = 0
    for trial in analysis.trials:
        df = frames.get(trial.logdir)
        if df is None or args.metric not in df.columns or args.x not in df.columns:
            continue
        points = [
            (x, y)
            for x, y in zip(df[args.x].map(_number), df[args.metric].map(_number), strict=True)
            if x is not None and y is not None
        ]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="." if len(points) < 30 else None, label=trial_name(trial))
        drawn += 1
    if not drawn:
        plt.close(fig)
        raise CLIError(f"no trial has finite values of {args.metric!r} against {args.x!r} to draw")
    ax.set_xlabel(args.x)
    ax.set_ylabel(args.metric)
    if args.log_y:
        ax.set_yscale("log")
    ax.set_title(f"{args.metric}: {drawn} trial(s) of {analysis.experiment_path}", fontsize=9)
    ax.grid(True, alpha=0.3)
    if drawn <= MAX_LEGEND_ENTRIES:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(args.output, format="png", dpi=dpi)
    plt.close(fig)
    print(f"wrote {args.output}: {drawn} curve(s) of {args.metric}")
