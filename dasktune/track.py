"""``tune.track``: report from inside a function trainable (Ray Tune 0.8's tracking API), and
Ray 1.x's ``tune.get_trial_dir/get_trial_name/get_trial_id``.

Outside ``tune.run``, ``track.init()`` starts a session of the process's own that writes the
results to a local folder (:mod:`dasktune.standalone_session`); ``track.shutdown()`` ends it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import session
from .standalone_session import StandaloneSession

_standalone: StandaloneSession | None = None


def init(
    ignore_reinit_error: bool = True,
    experiment_dir: str | None = None,
    trial_name: str | None = None,
    trial_config: dict[str, Any] | None = None,
) -> None:
    """Start tracking (Ray 0.8's ``track.init``).

    Inside a trial run by ``tune.run`` the trial's session already exists: this does nothing
    (with ``ignore_reinit_error=False`` it raises, as Ray does; arguments given there are
    refused with a warning, since the trial's own folder and config apply). Outside, it starts
    a session whose ``log()`` calls append to ``<experiment_dir>/<trial_name>/result.json``
    (``experiment_dir`` defaults to ``~/dasktune_results/default``; ``trial_config`` goes to
    ``params.json``), readable with ``ExperimentAnalysis(experiment_dir)``.

    Raises:
        ValueError: A session exists already and ``ignore_reinit_error`` is false.
    """
    global _standalone
    in_trial = session.find() is not None
    if in_trial or _standalone is not None:
        if not ignore_reinit_error:
            raise ValueError(
                "A tracking session already exists in this context "
                + ("(the trial's own)" if in_trial else "(call track.shutdown() first)")
                + "."
            )
        given = [
            name
            for name, value in (
                ("experiment_dir", experiment_dir),
                ("trial_name", trial_name),
                ("trial_config", trial_config),
            )
            if value is not None
        ]
        if given or not in_trial:
            warnings.warn(
                "tune.track.init(): a tracking session already exists "
                + ("(the trial's, run by tune.run)" if in_trial else "")
                + "; it is kept"
                + (f" and {', '.join(given)} are not used" if given else "")
                + ".",
                stacklevel=2,
            )
        return
    _standalone = StandaloneSession(experiment_dir, trial_name, trial_config)


def shutdown() -> None:
    """End the session :func:`init` started outside ``tune.run`` (Ray 0.8's
    ``track.shutdown``); inside a trial, ``tune.run`` ends the trial's session itself."""
    global _standalone
    if _standalone is not None:
        _standalone.close()
    _standalone = None


def _session() -> Any:
    """The trial's reporter, else the standalone session, else the error saying what to do."""
    reporter = session.find()
    if reporter is not None:
        return reporter
    if _standalone is not None:
        return _standalone
    return session.current()  # raises, explaining


def log(**metrics: Any) -> None:
    """Report one result for the current trial; blocks until the driver wants the next one.

    Only for function trainables; a Trainable class returns its metrics from ``_train``.
    After :func:`init` outside ``tune.run``, the result is appended to the session's folder.
    """
    current = _session()
    if isinstance(current, StandaloneSession):
        current.log(**metrics)
    else:
        current(**metrics)


def trial_dir() -> str:
    """Directory for the current trial's own files."""
    return _session().logdir


def trial_name() -> str:
    """Name of the current trial."""
    return _session().trial_name


def trial_id() -> str:
    """Id of the current trial."""
    return _session().trial_id


def _outside(what: str) -> None:
    warnings.warn(
        f"tune.{what}() was called outside a trial (no function trainable run by tune.run and "
        f"no tune.track.init() session), so it returns None.",
        stacklevel=3,
    )


def get_trial_dir() -> str | None:
    """The current trial's directory (Ray 1.x), or None with a warning outside a trial."""
    found = session.find() or _standalone
    if found is None:
        _outside("get_trial_dir")
        return None
    return found.logdir


def get_trial_name() -> str | None:
    """The current trial's name (Ray 1.x), or None with a warning outside a trial."""
    found = session.find() or _standalone
    if found is None:
        _outside("get_trial_name")
        return None
    return found.trial_name


def get_trial_id() -> str | None:
    """The current trial's id (Ray 1.x), or None with a warning outside a trial."""
    found = session.find() or _standalone
    if found is None:
        _outside("get_trial_id")
        return None
    return found.trial_id


@contextmanager
def checkpoint_dir(step: int | None = None) -> Iterator[str]:
    """A directory to write the function's checkpoint into (Ray 0.8.5+'s
    ``tune.checkpoint_dir``); it becomes the trial's newest checkpoint when the block ends.

    Every block is a checkpoint, with or without ``checkpoint_freq``: the function's next report
    carries ``should_checkpoint=True`` and the driver commits the checkpoint to the trial's
    storage as ``checkpoint_<training_iteration of that report>`` (``step`` does not name it).
    The function must take ``checkpoint_dir=None``: after a restore (a retry, ``resume=True``)
    it is called with the directory of the checkpoint to continue from.
    """
    trainable = session.current()._trainable
    with trainable.make_checkpoint_dir(step) as path:
        yield path


__all__ = [
    "checkpoint_dir",
    "get_trial_dir",
    "get_trial_id",
    "get_trial_name",
    "init",
    "log",
    "shutdown",
    "trial_dir",
    "trial_id",
    "trial_name",
]
