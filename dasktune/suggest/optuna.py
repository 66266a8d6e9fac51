"""Ray 1.x's ``ray.tune.suggest.optuna``: the same class as :mod:`dasktune.search.optuna`."""

from __future__ import annotations

from dasktune.search.optuna import OptunaSearch

__all__ = ["OptunaSearch"]
