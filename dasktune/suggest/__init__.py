"""Ray 0.8/1.x's module path for search algorithms (``ray.tune.suggest``); the same classes as
:mod:`dasktune.search`."""

from __future__ import annotations

from dasktune.search.search_algorithm import BasicVariantGenerator, SearchAlgorithm

__all__ = ["BasicVariantGenerator", "SearchAlgorithm"]
