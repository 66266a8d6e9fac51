"""Search spaces and variant generation: Ray Tune 1.x's ``tune.uniform``, ``tune.grid_search``...

Pure Python; nothing here touches Dask.
"""

from __future__ import annotations

from dasktune.search.sample import (
    Domain,
    choice,
    contains_domains,
    grid_search,
    loguniform,
    qrandint,
    quniform,
    randint,
    randn,
    sample_from,
    uniform,
)
from dasktune.search.search_algorithm import BasicVariantGenerator, SearchAlgorithm
from dasktune.search.variants import (
    SampleSpec,
    Variant,
    count_variants,
    generate_variants,
    iter_variants,
)

__all__ = [
    "BasicVariantGenerator",
    "Domain",
    "SearchAlgorithm",
    "SampleSpec",
    "Variant",
    "choice",
    "contains_domains",
    "count_variants",
    "generate_variants",
    "grid_search",
    "iter_variants",
    "loguniform",
    "qrandint",
    "quniform",
    "randint",
    "randn",
    "sample_from",
    "uniform",
]
