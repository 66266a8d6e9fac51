"""Ray 0.8's AutoML searchers (``ray.tune.automl``): search spaces of discrete choices and
:class:`GeneticSearch`, which runs generations of configs."""

from __future__ import annotations

from .genetic_searcher import GeneticSearch
from .search_policy import AutoMLSearcher
from .search_space import ContinuousSpace, DiscreteSpace, ParameterSpace, SearchSpace

__all__ = [
    "AutoMLSearcher",
    "ContinuousSpace",
    "DiscreteSpace",
    "GeneticSearch",
    "ParameterSpace",
    "SearchSpace",
]
