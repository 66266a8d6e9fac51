"""Ray 0.8/1.x's path for this searcher (``ray.tune.suggest.<name>``): the same class as
:mod:`dasktune.search` has under this module's name."""

from __future__ import annotations

from dasktune.search.nevergrad import NevergradSearch

__all__ = ["NevergradSearch"]
