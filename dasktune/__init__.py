"""dasktune: Ray Tune's trainable API on Dask.

``import dasktune as tune`` runs code written for ``from ray import tune``: trials run as Dask
actors on a ``distributed`` cluster, results stream back to a driver loop, and checkpoints go
through fsspec (local paths, ``s3://``, any fsspec URL).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> the module that defines it. Loaded on first use: every worker hosting a trial
# and the scheduler (for dasktune's plugin) import this package, and only the driver needs
# tune.run's machinery or pandas (ExperimentAnalysis).
_EXPORTS = {
    "Analysis": "dasktune.analysis",
    "CLIReporter": "dasktune.progress_reporter",
    "Callback": "dasktune.callback",
    "DurableTrainable": "dasktune.durable_trainable",
    "Experiment": "dasktune.experiment",
    "ExperimentAnalysis": "dasktune.analysis",
    "JupyterNotebookReporter": "dasktune.progress_reporter",
    "PlacementGroupFactory": "dasktune.utils.placement_groups",
    "ProgressReporter": "dasktune.progress_reporter",
    "Resources": "dasktune.resources",
    "StatusReporter": "dasktune.function_runner",
    "Stopper": "dasktune.stoppers",
    "SyncConfig": "dasktune.syncer",
    "Trainable": "dasktune.trainable",
    "TrialPlacement": "dasktune.placement",
    "TuneError": "dasktune.error",
    "checkpoint_dir": "dasktune.track",
    "choice": "dasktune.search",
    "get_gpu_ids": "dasktune.placement",
    "get_trial_dir": "dasktune.track",
    "get_trial_id": "dasktune.track",
    "get_trial_name": "dasktune.track",
    "get_placement": "dasktune.placement",
    "grid_search": "dasktune.search",
    "lograndint": "dasktune.search",
    "loguniform": "dasktune.search",
    "qlograndint": "dasktune.search",
    "qloguniform": "dasktune.search",
    "qrandint": "dasktune.search",
    "qrandn": "dasktune.search",
    "quniform": "dasktune.search",
    "randint": "dasktune.search",
    "randn": "dasktune.search",
    "register_trainable": "dasktune.registry",
    "run": "dasktune.tune",
    "run_experiments": "dasktune.experiment",
    "sample_from": "dasktune.search",
    "uniform": "dasktune.search",
    "with_parameters": "dasktune.utils.trainable",
}
_SUBMODULES = {
    "track",
    "utils",
    "schedulers",
    "search",
    "suggest",
    "syncer",
    "stopper",
    "integration",
    "function_runner",
    "trial_runner",
    "logger",
    "progress_reporter",
    "sample",
}

if TYPE_CHECKING:
    from . import track
    from .analysis import Analysis, ExperimentAnalysis
    from .callback import Callback
    from .durable_trainable import DurableTrainable
    from .error import TuneError
    from .experiment import Experiment, run_experiments
    from .function_runner import StatusReporter
    from .placement import TrialPlacement, get_gpu_ids, get_placement
    from .progress_reporter import CLIReporter, JupyterNotebookReporter, ProgressReporter
    from .registry import register_trainable
    from .resources import Resources
    from .search import (
        choice,
        grid_search,
        lograndint,
        loguniform,
        qlograndint,
        qloguniform,
        qrandint,
        qrandn,
        quniform,
        randint,
        randn,
        sample_from,
        uniform,
    )
    from .stoppers import Stopper
    from .syncer import SyncConfig
    from .track import checkpoint_dir, get_trial_dir, get_trial_id, get_trial_name
    from .trainable import Trainable
    from .tune import run
    from .utils.placement_groups import PlacementGroupFactory
    from .utils.trainable import with_parameters


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    else:
        # Any submodule (tune.analysis, tune.schedulers, ...) as an attribute, as when this
        # package imported them all eagerly.
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'dasktune' has no attribute {name!r}") from None
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)


def report(**metrics: object) -> None:
    """Ray 1.x's ``tune.report``: same as ``tune.track.log``."""
    from . import track

    track.log(**metrics)


__all__ = [
    "Analysis",
    "CLIReporter",
    "Callback",
    "DurableTrainable",
    "Experiment",
    "ExperimentAnalysis",
    "JupyterNotebookReporter",
    "PlacementGroupFactory",
    "ProgressReporter",
    "Resources",
    "StatusReporter",
    "Stopper",
    "SyncConfig",
    "Trainable",
    "TrialPlacement",
    "TuneError",
    "checkpoint_dir",
    "choice",
    "get_gpu_ids",
    "get_placement",
    "get_trial_dir",
    "get_trial_id",
    "get_trial_name",
    "grid_search",
    "lograndint",
    "loguniform",
    "qlograndint",
    "qloguniform",
    "qrandint",
    "qrandn",
    "quniform",
    "randint",
    "randn",
    "register_trainable",
    "report",
    "run",
    "run_experiments",
    "sample_from",
    "track",
    "uniform",
    "with_parameters",
]
