"""``tune.track``: report from inside a function trainable (Ray Tune 0.8's tracking API)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import session


def log(**metrics: Any) -> None:
    """Report one result for the current trial; blocks until the driver wants the next one.

    Only for function trainables; a Trainable class returns its metrics from ``_train``.
    """
    session.current()(**metrics)


def trial_dir() -> str:
    """Directory for the current trial's own files."""
    return session.current().logdir


def trial_name() -> str:
    """Name of the current trial."""
    return session.current().trial_name


def trial_id() -> str:
    """Id of the current trial."""
    return session.current().trial_id


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


__all__ = ["checkpoint_dir", "log", "trial_dir", "trial_id", "trial_name"]
