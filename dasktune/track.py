"""``tune.track``: report from inside a function trainable (Ray Tune 0.8's tracking API)."""

from __future__ import annotations

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


__all__ = ["log", "trial_dir", "trial_id", "trial_name"]
