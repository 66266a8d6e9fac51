"""Trial schedulers (``dasktune.schedulers``, as ``ray.tune.schedulers``)."""

from __future__ import annotations

from .trial_scheduler import FIFOScheduler, TrialScheduler

__all__ = ["FIFOScheduler", "TrialScheduler"]
