"""``progress.csv``: the flattened results, columns fixed by the first result (as Ray's)."""

from __future__ import annotations

from typing import Any

from .base import BuiltinLoggerCallback, Logger


class CSVLogger(Logger):
    """Writes ``progress.csv``.

    The run's result log writes the file (see :class:`~dasktune.logger.JsonLogger` for why);
    this class is what names it in ``loggers=``.
    """

    def on_result(self, result: dict[str, Any]) -> None:
        """Written by the run's result log."""


class CSVLoggerCallback(BuiltinLoggerCallback):
    """Ray 1.x's name for :class:`CSVLogger` in ``callbacks=``."""

    logger_class = CSVLogger
