"""Trial schedulers (``dasktune.schedulers``, as ``ray.tune.schedulers``)."""

from __future__ import annotations

from .async_hyperband import ASHAScheduler, AsyncHyperBandScheduler
from .hb_bohb import HyperBandForBOHB
from .hyperband import HyperBandScheduler
from .median_stopping_rule import MedianStoppingRule
from .pb2 import PB2
from .pbt import PopulationBasedTraining, PopulationBasedTrainingReplay
from .trial_scheduler import FIFOScheduler, TrialScheduler

__all__ = [
    "ASHAScheduler",
    "AsyncHyperBandScheduler",
    "FIFOScheduler",
    "HyperBandForBOHB",
    "HyperBandScheduler",
    "MedianStoppingRule",
    "PB2",
    "PopulationBasedTraining",
    "PopulationBasedTrainingReplay",
    "TrialScheduler",
]
