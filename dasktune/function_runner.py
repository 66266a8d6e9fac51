"""Ray's module path for the function runner: ``dasktune.function_runner.StatusReporter``."""

from __future__ import annotations

from .function_trainable import FunctionRunner, StatusReporter, wrap_function

__all__ = ["FunctionRunner", "StatusReporter", "wrap_function"]
