"""Ray 0.8/1.x's ``ray.tune.suggest.nevergrad``: the same class as :mod:`dasktune.search.nevergrad`."""

from __future__ import annotations

from dasktune.search.nevergrad import NevergradSearch

__all__ = ["NevergradSearch"]
