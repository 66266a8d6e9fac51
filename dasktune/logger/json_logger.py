"""``result.json`` (one JSON object per result) and ``params.json``/``params.pkl``."""

from __future__ import annotations

from typing import Any

from .base import BuiltinLoggerCallback, Logger


class JsonLogger(Logger):
    """Writes ``result.json``: one JSON object per line, per result.

    The run's result log writes the file (so a logged row reaches the OS in the loop turn that
    logs it, and remote storage gets it spooled); this class is what names it in ``loggers=``.
    A subclass that overrides ``on_result`` runs as a logger of its own instead.
    """

    def on_result(self, result: dict[str, Any]) -> None:
        """Written by the run's result log."""


class JsonLoggerCallback(BuiltinLoggerCallback):
    """Ray 1.x's name for :class:`JsonLogger` in ``callbacks=``."""

    logger_class = JsonLogger
