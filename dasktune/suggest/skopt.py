"""Ray 0.8/1.x's ``ray.tune.suggest.skopt``: the same class as :mod:`dasktune.search.skopt`."""

from __future__ import annotations

from dasktune.search.skopt import SkOptSearch

__all__ = ["SkOptSearch"]
