"""scikit-optimize as a dasktune :class:`~dasktune.search.searcher.Searcher` (Ray's
``SkOptSearch``: ``ray.tune.suggest.skopt`` in 0.8/1.x, ``ray.tune.search.skopt`` in 2.x).

Needs the ``skopt`` extra: ``pip install 'dasktune[skopt]'``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

try:
    import skopt
    from skopt.space import Categorical, Dimension, Integer, Real
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dasktune.search.skopt needs scikit-optimize, which is an optional extra: "
        "pip install 'dasktune[skopt]' (or pip install scikit-optimize)"
    ) from exc

from .sample import Choice, LogUniform, QLogUniform, QUniform, Uniform
from .searcher import Suggestion
from .space_conversion import (
    INTS,
    LOG,
    Param,
    SpaceSearcher,
    config_from_values,
    flatten_space,
    has_domains,
    int_bounds,
    metric_value,
    point_value,
    to_python,
    unflatten,
    unsupported,
)


class SkOptSearch(SpaceSearcher):
    """Suggests configs with a scikit-optimize ``Optimizer`` (Gaussian-process Bayesian
    optimisation by default).

    Args:
        optimizer: a ``skopt.Optimizer`` built on your own dimensions; then ``space`` is the
            list of their names (in order). None: an ``Optimizer`` on ``space`` with skopt's
            defaults (seed it with ``np.random.seed``, or pass your own optimizer).
        space: a dasktune search space (``tune.uniform``, ``loguniform``, ``quniform``,
            ``qloguniform``, ``randint``, ``qrandint``, ``lograndint``, ``qlograndint``,
            ``choice``; nested dicts allowed); or skopt's own ``{name: dimension}``, where a
            dimension is a ``(low, high)`` tuple, a list of categories or a
            ``skopt.space.Dimension``. None: ``tune.run(config=...)``'s space.
        metric, mode: what to optimise (``"min"``/``"max"``); or ``tune.run(metric=, mode=)``.
        points_to_evaluate: configs to try first.
        evaluated_rewards: the metric each of ``points_to_evaluate`` is known to give: those
            points are told to the optimizer up front instead of being run.
        convert_to_python: whether values of a skopt-native space become Python numbers (a
            dasktune space's values always are).

    A trial that errors or ends without a numeric metric is not told to the optimizer (skopt
    has no notion of a failed point). While trials are pending, new suggestions are asked with
    skopt's constant-liar strategy, so concurrent trials get distinct points.
    """

    def __init__(
        self,
        optimizer: skopt.Optimizer | None = None,
        space: Mapping[str, Any] | Sequence[str] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        evaluated_rewards: list[float] | None = None,
        convert_to_python: bool = True,
    ) -> None:
        names: list[str] | None = None
        if optimizer is not None:
            if not isinstance(optimizer, skopt.Optimizer):
                raise TypeError(
                    f"optimizer must be a skopt.Optimizer, got {type(optimizer).__name__}"
                )
            if isinstance(space, Mapping) or space is None or isinstance(space, str):
                raise ValueError(
                    "SkOptSearch(optimizer=...): the optimizer has its dimensions already; pass "
                    "space=[names of those dimensions, in order]"
                )
            names = [str(n) for n in space]
            if len(names) != len(optimizer.space.dimensions):
                raise ValueError(
                    f"SkOptSearch: space names {names} do not match the optimizer's "
                    f"{len(optimizer.space.dimensions)} dimensions"
                )
            space = None
        elif space is not None and not isinstance(space, Mapping):
            raise TypeError(
                "SkOptSearch(space=...) takes a dict (a dasktune search space, or skopt "
                "dimensions), or a list of names with optimizer=..., got "
                f"{type(space).__name__}"
            )
        if evaluated_rewards is not None:
            if not points_to_evaluate:
                raise ValueError(
                    "SkOptSearch(evaluated_rewards=...) needs points_to_evaluate=[...], the "
                    "configs those rewards belong to"
                )
            if len(evaluated_rewards) != len(points_to_evaluate):
                raise ValueError(
                    f"SkOptSearch: {len(evaluated_rewards)} evaluated_rewards for "
                    f"{len(points_to_evaluate)} points_to_evaluate; give one reward per point"
                )
        super().__init__(space, metric, mode, points_to_evaluate)
        self._optimizer = optimizer
        self._names = names
        self._rewards = list(evaluated_rewards) if evaluated_rewards is not None else None
        self._convert_to_python = convert_to_python
        self._params: list[Param] = []
        self._queue: list[list[Any]] = []  # points to suggest first, as skopt points
        self._live: dict[str, list[Any]] = {}
        if optimizer is not None:
            self._own_space = True  # the optimizer's dimensions are the space

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any]
    ) -> bool:
        """Take ``tune.run``'s metric, mode and, if this searcher has no space yet, its
        config."""
        if self._optimizer is not None and has_domains(config):
            raise ValueError(
                "tune.run(config=...) has search-space entries, but SkOptSearch was given an "
                "optimizer with its own dimensions; put the space in one place"
            )
        if self._optimizer is not None:
            return super(SpaceSearcher, self).set_search_properties(metric, mode, config)
        return super().set_search_properties(metric, mode, config)

    def _ready(self) -> None:
        if self._optimizer is not None and self._space is None:
            self._space = {}  # the optimizer's; nothing to convert
        super()._ready()

    def _build(self) -> None:
        if self._optimizer is None:
            space = self._space
            assert isinstance(space, Mapping)
            if has_domains(space):
                self._params = flatten_space(space, "SkOptSearch")
                dimensions = [_dimension(p) for p in self._params]
                self._names = [p.name for p in self._params]
            else:
                self._names = [str(k) for k in space]
                dimensions = list(space.values())
            self._optimizer = skopt.Optimizer(dimensions)
        points = [self._skopt_point(p, i) for i, p in enumerate(self._points)]
        if self._rewards is not None:
            self._optimizer.tell(points, [self._sign * float(r) for r in self._rewards])
        else:
            self._queue = points

    def _skopt_point(self, point: Mapping[str, Any], index: int) -> list[Any]:
        if not self._params:
            assert self._names is not None
            missing = [n for n in self._names if n not in point]
            if missing:
                raise ValueError(
                    f"SkOptSearch: points_to_evaluate[{index}] has no value for {missing}; "
                    "each point must give every dimension"
                )
            return [point[n] for n in self._names]
        values = []
        for param in self._params:
            value = point_value(point, param, index, "SkOptSearch")
            if isinstance(param.domain, Choice):
                value = param.domain.categories.index(value)
            values.append(value)
        return values

    def suggest(self, trial_id: str) -> Suggestion:
        """The next point: a queued ``points_to_evaluate`` entry, else the optimizer's."""
        self._ready()
        assert self._optimizer is not None
        if self._queue:
            point = self._queue.pop(0)
        else:
            point = self._optimizer.ask()
            pending = list(self._live.values())
            if point in pending:
                # skopt proposes the same point until told; ask for distinct ones instead.
                for candidate in self._optimizer.ask(n_points=len(pending) + 1):
                    if candidate not in pending:
                        point = candidate
                        break
        self._live[trial_id] = point
        return self._to_config(point)

    def _to_config(self, point: list[Any]) -> dict[str, Any]:
        assert self._names is not None
        if not self._params:
            values = [to_python(v) if self._convert_to_python else v for v in point]
            return unflatten(dict(zip(self._names, values, strict=True)))
        return config_from_values(self._params, point)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Tells the optimizer the trial's metric (nothing for an error or a missing one)."""
        point = self._live.pop(trial_id, None)
        value = None if error else metric_value(result, self.metric)
        if point is None or value is None or self._optimizer is None:
            return
        self._optimizer.tell(point, self._sign * value)

    @property
    def optimizer(self) -> skopt.Optimizer | None:
        """The ``skopt.Optimizer`` (None until the first suggestion, unless given)."""
        return self._optimizer


def _dimension(param: Param) -> Dimension:
    d: Any = param.domain
    kind = type(d)
    if kind in (Uniform, QUniform, LogUniform, QLogUniform):
        prior = "log-uniform" if kind in LOG else "uniform"
        base = getattr(d, "base", 10)
        return Real(float(d.lower), float(d.upper), prior=prior, base=base, name=param.name)
    if kind in INTS:
        low, high = int_bounds(d)
        prior = "log-uniform" if kind in LOG else "uniform"
        return Integer(low, high, prior=prior, base=getattr(d, "base", 10), name=param.name)
    if kind is Choice:
        return Categorical(list(range(len(d.categories))), name=param.name)
    raise unsupported(
        "SkOptSearch",
        param,
        "bounded floats and ints (uniform, loguniform, their q-variants, randint, qrandint, "
        "lograndint, qlograndint) and choice",
        "skopt's dimensions are bounded: give the key bounds (tune.uniform), or use "
        "HyperOptSearch for a normal distribution.",
    )
