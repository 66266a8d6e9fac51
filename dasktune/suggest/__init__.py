"""Ray 0.8/1.x's module path for search algorithms (``ray.tune.suggest``); the same classes as
:mod:`dasktune.search`. Adapters live in submodules (``dasktune.suggest.optuna``), as in Ray."""

from __future__ import annotations

from dasktune.search.repeater import Repeater
from dasktune.search.search_algorithm import BasicVariantGenerator, SearchAlgorithm
from dasktune.search.searcher import ConcurrencyLimiter, Searcher, SearchGenerator

__all__ = [
    "BasicVariantGenerator",
    "ConcurrencyLimiter",
    "Repeater",
    "SearchAlgorithm",
    "SearchGenerator",
    "Searcher",
]
