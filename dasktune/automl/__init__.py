"""Ray 0.8's AutoML searchers (``ray.tune.automl``): search spaces of discrete choices,
:class:`GeneticSearch`, which runs generations of configs, and the one-round
:class:`GridSearch` and :class:`RandomSearch`."""

from __future__ import annotations

from .genetic_searcher import GeneticSearch
from .search_policy import AutoMLSearcher, GridSearch, RandomSearch
from .search_space import ContinuousSpace, DiscreteSpace, ParameterSpace, SearchSpace

__all__ = [
    "AutoMLSearcher",
    "ContinuousSpace",
    "DiscreteSpace",
    "GeneticSearch",
    "GridSearch",
    "ParameterSpace",
    "RandomSearch",
    "SearchSpace",
]
