"""Ray 1.x's module path ``ray.tune.sample``: the same domains and samplers as
:mod:`dasktune.search.sample` (Ray 2.x's ``ray.tune.search.sample``)."""

from __future__ import annotations

from dasktune.search.sample import *  # noqa: F403 - this module is an alias
from dasktune.search.sample import __all__  # noqa: F401
