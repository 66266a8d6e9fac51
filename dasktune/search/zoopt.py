"""ZOOpt's asynchronous sequential RACOS as a dasktune
:class:`~dasktune.search.searcher.Searcher` (Ray's ``ZOOptSearch``:
``ray.tune.suggest.zoopt`` in 0.8/1.x, ``ray.tune.search.zoopt`` in 2.x).

Needs the ``zoopt`` extra: ``pip install 'dasktune[zoopt]'`` (zoopt >= 0.4.1, which has
``SRacosTune``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

try:
    import zoopt
    from zoopt import ValueType
    from zoopt.algos.opt_algorithms.racos.sracos import SRacosTune
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dasktune.search.zoopt needs ZOOpt, which is an optional extra: "
        "pip install 'dasktune[zoopt]' (or pip install zoopt)"
    ) from exc

from .sample import (
    Choice,
    LogRandInt,
    LogUniform,
    QLogRandInt,
    QLogUniform,
    QRandInt,
    QUniform,
    RandInt,
    Uniform,
)
from .searcher import Searcher, Suggestion
from .space_conversion import (
    Param,
    SpaceSearcher,
    config_from_values,
    flatten_space,
    has_domains,
    int_bounds,
    metric_value,
    point_value,
    unflatten,
    unsupported,
)

# Digits ZOOpt keeps of a continuous value (its precision); fine enough for any config.
_PRECISION = 1e-10


class ZOOptSearch(SpaceSearcher):
    """Suggests configs with ZOOpt's ``SRacosTune`` (asynchronous sequential RACOS).

    Args:
        algo: ``"asracos"`` (or its alias ``"sracos"``), the one ZOOpt algorithm for Tune.
        budget: the number of trials ZOOpt plans for (sizes its initial random sample); use
            ``num_samples`` of the same value.
        dim_dict: ZOOpt's own space, ``{name: (ValueType.CONTINUOUS, [lower, upper],
            precision) | (ValueType.DISCRETE, [lower, upper], ordered) | (ValueType.GRID,
            [values])}``; or a dasktune search space (``tune.uniform``, ``loguniform``, the
            q-variants, ``randint``, ``qrandint``, ``lograndint``, ``qlograndint``, ``choice``;
            nested dicts; log domains are searched on a log scale). None:
            ``tune.run(config=...)``'s space.
        metric, mode: what to optimise (``"min"``/``"max"``); or ``tune.run(metric=, mode=)``.
        points_to_evaluate: configs to try first (ZOOpt's initial samples; at most its
            initial sample size).
        parallel_num: how many suggestions may be pending at once (ZOOpt's server number):
            set it to the number of trials that run at once.
        **kwargs: passed to ``zoopt.Parameter`` (as Ray 2.x does), e.g. ``exploration_rate``;
            a name it does not take is a TypeError.

    A trial that errors or ends without a numeric metric is told to ZOOpt as the worst
    possible value (``inf``): RACOS needs every suggestion back before it goes on. Seed the
    search with ``np.random.seed`` (ZOOpt draws from NumPy's global generator).
    """

    def __init__(
        self,
        algo: str = "asracos",
        budget: int | None = None,
        dim_dict: Mapping[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        parallel_num: int = 1,
        **kwargs: Any,
    ) -> None:
        if algo not in ("asracos", "sracos"):
            raise ValueError(f"ZOOptSearch(algo=...) must be 'asracos' or 'sracos', got {algo!r}")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(
                f"ZOOptSearch needs budget=<int >= 1> (the number of trials), got {budget!r}"
            )
        if isinstance(parallel_num, bool) or not isinstance(parallel_num, int) or parallel_num < 1:
            raise ValueError(f"parallel_num must be an int >= 1, got {parallel_num!r}")
        if dim_dict is not None and not isinstance(dim_dict, Mapping):
            raise TypeError(
                "ZOOptSearch(dim_dict=...) takes a dict (ZOOpt dimensions or a dasktune search "
                f"space), got {type(dim_dict).__name__}"
            )
        super().__init__(dim_dict, metric, mode, points_to_evaluate)
        self._algo = algo
        self._budget = budget
        self._parallel_num = parallel_num
        for name in ("budget", "init_samples"):
            if name in kwargs:
                raise ValueError(
                    f"ZOOptSearch(**kwargs) must not set {name!r}: it is ZOOptSearch's own "
                    "(budget=, points_to_evaluate=)"
                )
        self._parameter_kwargs = kwargs
        self._params: list[Param] = []
        self._names: list[str] = []
        self._log: set[str] = set()
        self._optimizer: Any = None
        self._live: dict[str, Any] = {}  # searcher trial id -> ZOOpt solution

    def _build(self) -> None:
        space = self._space
        assert isinstance(space, Mapping)
        if has_domains(space):
            self._params = flatten_space(space, "ZOOptSearch")
            dims = [self._dimension(p) for p in self._params]
            self._names = [p.name for p in self._params]
        else:
            self._names = [str(k) for k in space]
            dims = list(space.values())
        if not dims:
            raise ValueError("ZOOptSearch has nothing to search")
        init = [self._zoopt_point(p, i) for i, p in enumerate(self._points)] or None
        parameter = zoopt.Parameter(
            budget=self._budget, init_samples=init, **self._parameter_kwargs
        )
        if init and len(init) > parameter.get_train_size():
            raise ValueError(
                f"ZOOptSearch: {len(init)} points_to_evaluate, but ZOOpt takes at most "
                f"{parameter.get_train_size()} initial samples with budget={self._budget}"
            )
        self._optimizer = SRacosTune(
            dimension=zoopt.Dimension2(dims), parameter=parameter, parallel_num=self._parallel_num
        )

    def _dimension(self, param: Param) -> tuple[Any, ...]:
        d: Any = param.domain
        kind = type(d)
        if kind in (Uniform, QUniform):
            return (ValueType.CONTINUOUS, [float(d.lower), float(d.upper)], _PRECISION)
        if kind in (LogUniform, QLogUniform, LogRandInt, QLogRandInt):
            self._log.add(param.name)
            low, high = (d.lower, d.upper) if kind in (LogUniform, QLogUniform) else int_bounds(d)
            return (ValueType.CONTINUOUS, [math.log10(low), math.log10(high)], _PRECISION)
        if kind in (RandInt, QRandInt):
            return (ValueType.DISCRETE, list(int_bounds(d)), True)
        if kind is Choice:
            return (ValueType.GRID, list(range(len(d.categories))))
        raise unsupported(
            "ZOOptSearch",
            param,
            "bounded floats and ints (uniform, loguniform, their q-variants, randint, "
            "qrandint, lograndint, qlograndint) and choice",
            "Give the key bounds (tune.uniform), or use HyperOptSearch for a normal distribution.",
        )

    def _zoopt_point(self, point: Mapping[str, Any], index: int) -> list[Any]:
        if not self._params:
            missing = [n for n in self._names if n not in point]
            if missing:
                raise ValueError(
                    f"ZOOptSearch: points_to_evaluate[{index}] has no value for {missing}"
                )
            return [point[n] for n in self._names]
        values = []
        for param in self._params:
            value = point_value(point, param, index, "ZOOptSearch")
            if isinstance(param.domain, Choice):
                value = param.domain.categories.index(value)
            elif param.name in self._log:
                value = math.log10(value)
            values.append(value)
        return values

    def suggest(self, trial_id: str) -> Suggestion:
        """ZOOpt's next solution; None while it waits for pending results."""
        self._ready()
        solution = self._optimizer.suggest()
        if solution is None and not self._live and self._optimizer.semaphore == 0:
            # SRacosTune closes its initial phase on the suggest() after the last initial
            # sample, and reopens it on the last initial completion; when that completion came
            # first (one trial at a time) it would wait forever. Nothing is pending: reopen.
            self._optimizer.semaphore = 1
            solution = self._optimizer.suggest()
        if isinstance(solution, str) and solution == "FINISHED":
            return Searcher.FINISHED  # ZOOpt found no new distinct point
        if solution is None:
            return None
        self._live[trial_id] = solution
        return self._to_config(list(solution.get_x()))

    def _to_config(self, x: list[Any]) -> dict[str, Any]:
        if not self._params:
            return unflatten(dict(zip(self._names, x, strict=True)))
        return config_from_values(self._params, x, self._log)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Tells ZOOpt the trial's loss (``inf`` for an error or a missing metric)."""
        solution = self._live.pop(trial_id, None)
        if solution is None or self._optimizer is None:
            return
        value = None if error else metric_value(result, self.metric)
        loss = math.inf if value is None else self._sign * value
        self._optimizer.complete(solution, loss)

    @property
    def optimizer(self) -> Any:
        """ZOOpt's ``SRacosTune`` (None until the first suggestion)."""
        return self._optimizer
