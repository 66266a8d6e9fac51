"""Ray 1.x's ``ray.tune.suggest.bohb``: the same class as :mod:`dasktune.search.bohb`."""

from __future__ import annotations

from dasktune.search.bohb import TuneBOHB

__all__ = ["TuneBOHB"]
