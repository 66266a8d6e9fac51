"""Trial schedulers (``dasktune.schedulers``, as ``ray.tune.schedulers``)."""

from __future__ import annotations

from .async_hyperband import ASHAScheduler, AsyncHyperBandScheduler
from .hb_bohb import HyperBandForBOHB
from .hyperband import HyperBandScheduler
from .median_stopping_rule import MedianStoppingRule
from .trial_scheduler import FIFOScheduler, TrialScheduler

__all__ = [
    "ASHAScheduler",
    "AsyncHyperBandScheduler",
    "FIFOScheduler",
    "HyperBandForBOHB",
    "HyperBandScheduler",
    "MedianStoppingRule",
    "TrialScheduler",
]
