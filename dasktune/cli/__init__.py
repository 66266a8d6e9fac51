"""The ``dasktune`` command (also ``python -m dasktune``): look at a finished or running
experiment from a shell.

``dasktune ls EXPERIMENT`` lists the trials, ``dasktune best EXPERIMENT --metric M --mode min``
prints the best trial's config and logdir, ``dasktune plot EXPERIMENT --metric M -o curves.png``
draws every trial's learning curve (needs the ``plot`` extra). ``EXPERIMENT`` is a local folder
or any fsspec URL (``s3://bucket/exp``); ``--storage-option KEY=VALUE`` passes fsspec options
(credentials, endpoint), and fsspec's and the cloud SDKs' environment variables apply as well.
Errors are one line on standard error and a non-zero exit status (1; 2 for a bad command line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dasktune.cli import best, ls, plot
from dasktune.cli.common import CLIError, add_experiment_arguments
from dasktune.error import TuneError

__all__ = ["main"]

_COMMANDS = (ls, best, plot)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dasktune",
        description="Look at a dasktune experiment: its trials, the best one, learning curves.",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an error, show the full traceback instead of one line",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _COMMANDS:
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        add_experiment_arguments(sub)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dasktune`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit
    status."""
    args = _parser().parse_args(argv)
    try:
        args.handler(args)
    except BrokenPipeError:  # `dasktune ls EXP | head`
        return 0
    except Exception as exc:  # noqa: BLE001 - a shell user gets one line, not a traceback
        if args.traceback:
            raise
        # dasktune's own errors explain themselves; anything else (storage, credentials) is
        # named by its type as well.
        own = isinstance(exc, (CLIError, TuneError, ValueError))
        message = str(exc) if own else f"{type(exc).__name__}: {exc}"
        print(f"dasktune {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
        return 1
    return 0
