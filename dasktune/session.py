"""Which reporter ``tune.track.log`` talks to, in the thread that runs a function trainable.

A worker process may host several trials at once (one per slot), so the reporter is found
per thread rather than in one global as Ray does with one trial per process.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .function_trainable import StatusReporter

_local = threading.local()
_active: set[StatusReporter] = set()
_active_lock = threading.Lock()


def bind(reporter: StatusReporter) -> None:
    """Make ``reporter`` the session of the calling thread (the function's own thread)."""
    _local.reporter = reporter
    with _active_lock:
        _active.add(reporter)


def unbind(reporter: StatusReporter) -> None:
    """Forget ``reporter`` once its function has ended."""
    if getattr(_local, "reporter", None) is reporter:
        _local.reporter = None
    with _active_lock:
        _active.discard(reporter)


def find() -> StatusReporter | None:
    """The reporter of the trial running in this thread, or None outside any trial.

    Threads the user's function started themselves have no binding; they get the process's
    reporter when exactly one trial runs in the process, and a clear error otherwise.
    """
    reporter = getattr(_local, "reporter", None)
    if reporter is not None:
        return reporter
    with _active_lock:
        if len(_active) == 1:
            return next(iter(_active))
        several = len(_active) > 1
    if several:
        raise RuntimeError(
            "tune.track.log() was called from a thread that is not a trial's function thread "
            "while several trials run in this process; call it from the function dasktune "
            "started, or take the `reporter` argument (def f(config, reporter)) and pass it on."
        )
    return None


def current() -> StatusReporter:
    """The reporter of the trial running in this thread (see :func:`find`); an error outside
    a trial."""
    reporter = find()
    if reporter is None:
        raise RuntimeError(
            "tune.track.log() was called outside a function trainable run by dasktune.run(). "
            "Do not use tune.track.log within a Trainable class: return the metrics from "
            "_train()/step() instead. To log outside tune.run, call tune.track.init() first."
        )
    return reporter
