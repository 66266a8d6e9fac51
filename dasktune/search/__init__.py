"""Search spaces, variant generation and searchers: Ray Tune 1.x's ``tune.uniform``,
``tune.grid_search``, ``Searcher``/``ConcurrencyLimiter``/``Repeater``... (adapters such as
:mod:`dasktune.search.optuna` are imported on their own: they need an optional extra).

Pure Python; nothing here touches Dask.
"""

from __future__ import annotations

from dasktune.search.repeater import Repeater
from dasktune.search.sample import (
    Domain,
    choice,
    contains_domains,
    grid_search,
    lograndint,
    loguniform,
    qlograndint,
    qloguniform,
    qrandint,
    qrandn,
    quniform,
    randint,
    randn,
    sample_from,
    uniform,
)
from dasktune.search.search_algorithm import BasicVariantGenerator, SearchAlgorithm
from dasktune.search.searcher import ConcurrencyLimiter, Searcher, SearchGenerator
from dasktune.search.variants import (
    SampleSpec,
    Variant,
    count_variants,
    generate_variants,
    iter_variants,
)

__all__ = [
    "BasicVariantGenerator",
    "ConcurrencyLimiter",
    "Domain",
    "Repeater",
    "SearchAlgorithm",
    "SampleSpec",
    "SearchGenerator",
    "Searcher",
    "Variant",
    "choice",
    "contains_domains",
    "count_variants",
    "generate_variants",
    "grid_search",
    "iter_variants",
    "lograndint",
    "loguniform",
    "qlograndint",
    "qloguniform",
    "qrandint",
    "qrandn",
    "quniform",
    "randint",
    "randn",
    "sample_from",
    "uniform",
]
