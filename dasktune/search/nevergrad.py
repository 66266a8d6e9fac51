"""Nevergrad as a dasktune :class:`~dasktune.search.searcher.Searcher` (Ray's
``NevergradSearch``: ``ray.tune.suggest.nevergrad`` in 0.8/1.x, ``ray.tune.search.nevergrad``
in 2.x).

Needs the ``nevergrad`` extra: ``pip install 'dasktune[nevergrad]'``.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Mapping
from typing import Any

try:
    import nevergrad as ng
    from nevergrad.optimization.base import ConfiguredOptimizer, Optimizer
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dasktune.search.nevergrad needs Nevergrad, which is an optional extra: "
        "pip install 'dasktune[nevergrad]' (or pip install nevergrad)"
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
from .searcher import Suggestion
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

Parameter = ng.p.Parameter


class NevergradSearch(SpaceSearcher):
    """Suggests configs with a Nevergrad optimizer (``ng.optimizers.OnePlusOne``, ``NGOpt``...).

    Args:
        optimizer: an optimizer class or configured optimizer (``ng.optimizers.OnePlusOne``,
            ``ng.optimizers.NGOpt``), built on the space with ``optimizer_kwargs``; or an
            optimizer instance with its parametrization (then ``space`` is None, or the list
            of its parameter names).
        optimizer_kwargs: passed to the optimizer class (``budget``, ``num_workers``...).
        space: a dasktune search space (``tune.uniform``, ``loguniform``, ``quniform``,
            ``qloguniform``, ``randint``, ``qrandint``, ``lograndint``, ``qlograndint``,
            ``choice``; nested dicts allowed), or a Nevergrad parametrization (``ng.p.Dict``,
            ``ng.p.Instrumentation``). None: ``tune.run(config=...)``'s space.
        metric, mode: what to optimise (``"min"``/``"max"``); or ``tune.run(metric=, mode=)``.
        points_to_evaluate: configs to try first (Nevergrad's ``suggest``).

    A trial that errors or ends without a numeric metric is not told to the optimizer. Seed the
    search with ``np.random.seed`` (Nevergrad seeds a parametrization from NumPy's global
    generator) or with your parametrization's ``random_state``.
    """

    def __init__(
        self,
        optimizer: Any = None,
        space: Mapping[str, Any] | Parameter | list[str] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if optimizer is None:
            raise ValueError(
                "NevergradSearch needs an optimizer, e.g. NevergradSearch("
                "optimizer=ng.optimizers.OnePlusOne, ...)"
            )
        names: list[str] | None = None
        if isinstance(optimizer, Optimizer):
            if optimizer_kwargs:
                raise ValueError(
                    "NevergradSearch(optimizer_kwargs=...) is for an optimizer class; this "
                    "optimizer is built already"
                )
            if isinstance(space, list):
                names = [str(n) for n in space]
            elif space is not None:
                raise ValueError(
                    "NevergradSearch: an optimizer instance has its parametrization already; "
                    "pass space=None (or the list of its parameter names)"
                )
            space = None
        elif not (
            isinstance(optimizer, ConfiguredOptimizer)
            or (inspect.isclass(optimizer) and issubclass(optimizer, Optimizer))
        ):
            raise TypeError(
                "NevergradSearch(optimizer=...) takes a Nevergrad optimizer class, configured "
                f"optimizer or instance (e.g. ng.optimizers.OnePlusOne), got {optimizer!r}"
            )
        if space is not None and not isinstance(space, (Mapping, Parameter)):
            raise TypeError(
                "NevergradSearch(space=...) takes a dict (a dasktune search space) or a "
                f"Nevergrad parametrization (ng.p.Dict), got {type(space).__name__}"
            )
        super().__init__(space, metric, mode, points_to_evaluate)
        self._factory = None if isinstance(optimizer, Optimizer) else optimizer
        self._optimizer: Optimizer | None = optimizer if isinstance(optimizer, Optimizer) else None
        self._optimizer_kwargs = dict(optimizer_kwargs or {})
        self._names = names
        self._params: list[Param] = []
        self._live: dict[str, Any] = {}  # searcher trial id -> Nevergrad candidate
        self._exact_points: list[dict[str, Any]] = []  # points_to_evaluate not yet suggested
        if self._optimizer is not None:
            self._own_space = True

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any]
    ) -> bool:
        """Take ``tune.run``'s metric, mode and, if this searcher has no space yet, its
        config."""
        if self._optimizer is not None and has_domains(config):
            raise ValueError(
                "tune.run(config=...) has search-space entries, but NevergradSearch was given "
                "an optimizer instance with its own parametrization; put the space in one place"
            )
        if self._optimizer is not None:
            return super(SpaceSearcher, self).set_search_properties(metric, mode, config)
        return super().set_search_properties(metric, mode, config)

    def _ready(self) -> None:
        if self._optimizer is not None and self._space is None:
            self._space = {}  # the optimizer's parametrization; nothing to convert
        super()._ready()

    def _build(self) -> None:
        if self._optimizer is None:
            space = self._space
            if isinstance(space, Mapping) and has_domains(space):
                self._params = flatten_space(space, "NevergradSearch")
                space = ng.p.Dict(**{p.name: _parameter(p) for p in self._params})
            elif isinstance(space, Mapping):
                raise ValueError(
                    "NevergradSearch(space=...) has nothing to search: give tune.uniform(...), "
                    "tune.choice(...)... values, or a Nevergrad parametrization (ng.p.Dict)"
                )
            self._optimizer = self._factory(space, **self._optimizer_kwargs)
        points = [self._nevergrad_point(p, i) for i, p in enumerate(self._points)]
        # Nevergrad asks its suggestions last-in first-out: queue them reversed.
        for point in reversed(points):
            self._optimizer.suggest(point)
        # The trials get the points exactly as given (Nevergrad's round trip through its own
        # scales changes the last digits: 0.01 came back as 0.010000000000000004).
        self._exact_points = [copy.deepcopy(dict(p)) for p in self._points]

    def _nevergrad_point(self, point: Mapping[str, Any], index: int) -> Any:
        if not self._params:
            return dict(point)
        flat = {}
        for param in self._params:
            value = point_value(point, param, index, "NevergradSearch")
            if isinstance(param.domain, Choice):
                value = param.domain.categories.index(value)
            flat[param.name] = value
        return flat

    def suggest(self, trial_id: str) -> Suggestion:
        """The optimizer's next candidate (``points_to_evaluate`` first); None (ask again
        later) while as many candidates are out as the optimizer has workers."""
        self._ready()
        assert self._optimizer is not None
        if self._live and _sequential(self._optimizer):
            # Sequential optimizers (NelderMead, Powell, NGOpt choosing one) block in ask()
            # until the previous candidate is told: asking now would hang the driver.
            return None
        try:
            candidate = self._optimizer.ask()
        except AssertionError as exc:
            raise ValueError(
                f"NevergradSearch: {type(self._optimizer).__name__}.ask() failed ({exc!r}); "
                "optimizers such as NGOpt need a budget: pass optimizer_kwargs={'budget': N} "
                "(N about num_samples), or an optimizer instance made with one."
            ) from exc
        self._live[trial_id] = candidate
        if self._exact_points:
            return self._exact_points.pop(0)
        return self._to_config(candidate)

    def _to_config(self, candidate: Any) -> dict[str, Any]:
        if not self._params:
            value = candidate.value
            if isinstance(candidate, ng.p.Instrumentation):
                args, kwargs = value
                if args:
                    if self._names is None or len(self._names) != len(args):
                        raise ValueError(
                            "NevergradSearch: the parametrization has positional arguments; "
                            "pass space=[their names] to name them"
                        )
                    kwargs = {**dict(zip(self._names, args, strict=True)), **kwargs}
                value = kwargs
            elif not isinstance(value, Mapping):
                if self._names is None:
                    raise ValueError(
                        "NevergradSearch: the parametrization's value is not a dict; use "
                        "ng.p.Dict(...), or pass space=[parameter names]"
                    )
                value = dict(zip(self._names, value, strict=True))
            return unflatten(copy.deepcopy(dict(value)))
        return config_from_values(self._params, [candidate.value[p.name] for p in self._params])

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Tells the optimizer the trial's loss; an error or a missing metric is told as the
        worst loss (Nevergrad clips it), since sequential optimizers wait for every candidate
        they gave out and would never suggest again."""
        candidate = self._live.pop(trial_id, None)
        if candidate is None or self._optimizer is None:
            return
        value = None if error else metric_value(result, self.metric)
        if value is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # LossTooLargeWarning: clipped, as intended
                self._optimizer.tell(candidate, float("inf"))
            return
        self._optimizer.tell(candidate, self._sign * value)

    @property
    def optimizer(self) -> Optimizer | None:
        """The Nevergrad optimizer (None until the first suggestion, unless given)."""
        return self._optimizer


def _sequential(optimizer: Any) -> bool:
    """Whether the optimizer (or the one a meta-optimizer such as NGOpt chose) hands out one
    candidate at a time (Nevergrad's ``no_parallelization``)."""
    while optimizer is not None:
        if getattr(optimizer, "no_parallelization", False):
            return True
        optimizer = getattr(optimizer, "optim", None)
    return False


def _parameter(param: Param) -> Parameter:
    d: Any = param.domain
    kind = type(d)
    if kind in (Uniform, QUniform):
        return ng.p.Scalar(lower=float(d.lower), upper=float(d.upper))
    if kind in (LogUniform, QLogUniform):
        return ng.p.Log(lower=float(d.lower), upper=float(d.upper))
    if kind in (RandInt, QRandInt):
        low, high = int_bounds(d)
        return ng.p.Scalar(lower=low, upper=high).set_integer_casting()
    if kind in (LogRandInt, QLogRandInt):
        low, high = int_bounds(d)
        return ng.p.Log(lower=low, upper=high).set_integer_casting()
    if kind is Choice:
        return ng.p.Choice(list(range(len(d.categories))))
    raise unsupported(
        "NevergradSearch",
        param,
        "bounded floats and ints (uniform, loguniform, their q-variants, randint, qrandint, "
        "lograndint, qlograndint) and choice",
        "Give the key bounds (tune.uniform), or pass a Nevergrad parametrization as space=.",
    )
