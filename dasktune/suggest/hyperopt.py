"""Ray 0.8/1.x's ``ray.tune.suggest.hyperopt``: the same class as :mod:`dasktune.search.hyperopt`."""

from __future__ import annotations

from dasktune.search.hyperopt import HyperOptSearch

__all__ = ["HyperOptSearch"]
