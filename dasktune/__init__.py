"""dasktune: Ray Tune's trainable API on Dask.

``import dasktune as tune`` runs code written for ``from ray import tune``: trials run as Dask
actors on a ``distributed`` cluster, results stream back to a driver loop, and checkpoints go
through fsspec (local paths, ``s3://``, any fsspec URL).
"""

from __future__ import annotations

from . import track
from .durable_trainable import DurableTrainable
from .error import TuneError
from .function_runner import StatusReporter
from .placement import TrialPlacement, get_gpu_ids, get_placement
from .registry import register_trainable
from .resources import Resources
from .search import (
    choice,
    grid_search,
    loguniform,
    qrandint,
    quniform,
    randint,
    randn,
    sample_from,
    uniform,
)
from .stoppers import Stopper
from .track import checkpoint_dir
from .trainable import Trainable
from .tune import run

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # ExperimentAnalysis needs pandas; importing it lazily keeps `import dasktune` (and so the
    # start of every worker that hosts a trial) light.
    if name == "ExperimentAnalysis":
        from .analysis import ExperimentAnalysis

        return ExperimentAnalysis
    raise AttributeError(f"module 'dasktune' has no attribute {name!r}")


def report(**metrics: object) -> None:
    """Ray 1.x's ``tune.report``: same as ``tune.track.log``."""
    track.log(**metrics)


__all__ = [
    "DurableTrainable",
    "ExperimentAnalysis",
    "Resources",
    "StatusReporter",
    "Stopper",
    "Trainable",
    "TrialPlacement",
    "TuneError",
    "checkpoint_dir",
    "choice",
    "get_gpu_ids",
    "get_placement",
    "grid_search",
    "loguniform",
    "qrandint",
    "quniform",
    "randint",
    "randn",
    "register_trainable",
    "report",
    "run",
    "sample_from",
    "track",
    "uniform",
]
