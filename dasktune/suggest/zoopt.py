"""Ray 0.8/1.x's ``ray.tune.suggest.zoopt``: the same class as :mod:`dasktune.search.zoopt`."""

from __future__ import annotations

from dasktune.search.zoopt import ZOOptSearch

__all__ = ["ZOOptSearch"]
