"""Ray 0.8/1.x's ``ray.tune.suggest.bayesopt``: the same class as :mod:`dasktune.search.bayesopt`."""

from __future__ import annotations

from dasktune.search.bayesopt import BayesOptSearch

__all__ = ["BayesOptSearch"]
