"""What a running trainable knows about its trial, and how it learns it on construction."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrialInfo:
    """Identity and placement of the trial a trainable runs for (sent from driver to worker)."""

    trial_id: str = "default"
    trial_name: str = "default"
    experiment_id: str = ""
    logdir: str | None = None
    placement: dict[str, Any] = field(default_factory=dict)
    gpu_ids: tuple[str, ...] = ()


_constructing = threading.local()
_running = threading.local()


def set_current(info: TrialInfo | None) -> None:
    """Record which trial the calling thread works for (the trial's own threads)."""
    _running.info = info


def current() -> TrialInfo | None:
    """The trial the calling thread works for, if it is a trial thread."""
    return getattr(_running, "info", None)


@contextmanager
def constructing(info: TrialInfo) -> Iterator[None]:
    """Make ``info`` visible to ``Trainable.__init__`` on this thread while a trainable is built.

    Passing it through the constructor would break user subclasses that override ``__init__``
    with Ray's ``(config, logger_creator)`` signature.
    """
    previous = getattr(_constructing, "info", None)
    _constructing.info = info
    try:
        yield
    finally:
        _constructing.info = previous


def info_for_new_trainable() -> TrialInfo | None:
    """The TrialInfo set by :func:`constructing` on this thread, if any."""
    return getattr(_constructing, "info", None)


def visible_gpu_ids() -> tuple[str, ...]:
    """GPU ids this process may use, from ``CUDA_VISIBLE_DEVICES`` (empty when unset)."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if not value or value.lower() in ("none", "nodevfiles"):
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())
