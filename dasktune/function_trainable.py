"""The function API: a user function runs in its own thread inside a ``FunctionRunner``."""

from __future__ import annotations

import inspect
import queue
import threading
import traceback
from collections.abc import Callable
from typing import Any

from . import result as R
from . import session
from .trainable import Trainable

# How long stop() waits for the function thread to leave its blocked report.
_JOIN_TIMEOUT_S = 5.0


class TrialStopped(BaseException):
    """Raised inside the function's thread at a report once its trial was stopped.

    A BaseException so that a user's ``except Exception`` does not swallow it and keep training.
    """


class FunctionError(Exception):
    """The user's function raised; the message carries the traceback from its own thread."""


class StatusReporter:
    """Passed as ``reporter`` to ``def f(config, reporter)``; ``reporter(**metrics)`` reports.

    Each call hands one result to the driver and then blocks until the driver asks for the next
    one, so a stop criterion stops the function at the report where it was met.
    """

    def __init__(self, trainable: FunctionRunner) -> None:
        self._results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
        self._resume = threading.Semaphore(0)
        self._stopped = False
        self._trainable = trainable

    def __call__(self, **metrics: Any) -> None:
        """Report one result (keyword arguments are the metrics) and wait for the next turn."""
        if self._stopped:
            raise TrialStopped()
        self._results.put(("result", metrics))
        self._resume.acquire()
        if self._stopped:
            raise TrialStopped()

    @property
    def logdir(self) -> str:
        """Directory for this trial's own files."""
        return self._trainable.logdir

    @property
    def trial_name(self) -> str:
        """Name of the trial this reporter reports for."""
        return self._trainable.trial_name

    @property
    def trial_id(self) -> str:
        """Id of the trial this reporter reports for."""
        return self._trainable.trial_id


class FunctionRunner(Trainable):
    """Runs a user function as a Trainable: each ``_train`` returns the function's next report.

    A function that returns ends the trial (its last result marked done); one that raises ends
    it with an error carrying the function's traceback.
    """

    _function: Callable[..., Any] | None = None
    _passes_reporter = False

    def _setup(self, config: dict[str, Any]) -> None:
        self._reporter = StatusReporter(self)
        self._thread: threading.Thread | None = None
        self._last_metrics: dict[str, Any] = {}
        self._config_for_function = config

    def _run_function(self) -> None:
        session.bind(self._reporter)
        try:
            fn = type(self)._function
            assert fn is not None
            if self._passes_reporter:
                fn(self._config_for_function, self._reporter)
            else:
                fn(self._config_for_function)
        except TrialStopped:
            return
        except BaseException:
            self._reporter._results.put(("error", traceback.format_exc()))
            return
        finally:
            session.unbind(self._reporter)
        self._reporter._results.put(("returned", None))

    def _train(self) -> dict[str, Any]:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run_function, name=f"dasktune-fn-{self.trial_id}", daemon=True
            )
            self._thread.start()
        else:
            self._reporter._resume.release()
        kind, payload = self._reporter._results.get()
        if kind == "result":
            self._last_metrics = dict(payload)
            return payload
        if kind == "error":
            raise FunctionError(
                f"the function {self._function_name()} raised in its thread:\n{payload}"
            )
        return {**self._last_metrics, R.DONE: True, R.RESULT_DUPLICATE: True}

    def _function_name(self) -> str:
        fn = type(self)._function
        return getattr(fn, "__qualname__", repr(fn))

    def _stop(self) -> None:
        self._reporter._stopped = True
        self._reporter._resume.release()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(_JOIN_TIMEOUT_S)


def _passes_reporter(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "checkpoint_dir"
    ]
    return "reporter" in {p.name for p in params} or len(positional) >= 2


def wrap_function(fn: Callable[..., Any], name: str | None = None) -> type[FunctionRunner]:
    """Make a Trainable class that runs ``fn(config)`` or ``fn(config, reporter)``."""
    if not callable(fn):
        raise TypeError(f"expected a function to wrap, got {type(fn).__name__}")
    attrs = {
        "_function": staticmethod(fn),
        "_passes_reporter": _passes_reporter(fn),
        "__doc__": getattr(fn, "__doc__", None),
    }
    return type(name or trainable_name_of(fn), (FunctionRunner,), attrs)


def trainable_name_of(fn: Any) -> str:
    """The name a function or class runs under (``lambda`` for lambdas)."""
    name = getattr(fn, "__name__", type(fn).__name__)
    return "lambda" if name == "<lambda>" else name
