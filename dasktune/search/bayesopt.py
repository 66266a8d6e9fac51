"""Gaussian-process Bayesian optimisation (the ``bayesian-optimization`` package) as a dasktune
:class:`~dasktune.search.searcher.Searcher` (Ray's ``BayesOptSearch``:
``ray.tune.suggest.bayesopt`` in 0.8/1.x, ``ray.tune.search.bayesopt`` in 2.x).

Needs the ``bayesopt`` extra: ``pip install 'dasktune[bayesopt]'``. Supports
bayesian-optimization 1.x (``UtilityFunction`` API; tested with 1.4.0), as Ray 1.x does; 2.x
replaced that API and is refused with the version to install.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

try:
    import bayes_opt as byo
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dasktune.search.bayesopt needs bayesian-optimization, which is an optional extra: "
        "pip install 'dasktune[bayesopt]' (or pip install 'bayesian-optimization<2')"
    ) from exc
if not hasattr(byo, "UtilityFunction"):  # pragma: no cover - depends on the environment
    raise ImportError(
        "dasktune.search.bayesopt supports bayesian-optimization 1.x (its UtilityFunction API), "
        f"found {getattr(byo, '__version__', 'a version without it')}: "
        "pip install 'bayesian-optimization>=1.2,<2'"
    )

from .sample import LogUniform, QLogUniform, QUniform, Uniform
from .searcher import Searcher, Suggestion
from .space_conversion import (
    Param,
    SpaceSearcher,
    config_from_values,
    flatten_space,
    has_domains,
    metric_value,
    point_value,
    unsupported,
)

_UTILITY_DEFAULTS = {"kind": "ucb", "kappa": 2.576, "xi": 0.0}


class BayesOptSearch(SpaceSearcher):
    """Suggests configs with ``bayes_opt.BayesianOptimization`` over a continuous box.

    Args:
        space: a dasktune search space of floats (``tune.uniform``, ``quniform``,
            ``loguniform``, ``qloguniform``; nested dicts allowed; log domains are searched on
            a log scale), or BayesOpt's own ``{name: (lower, upper)}``. Integers and choices
            are refused, as in Ray. None: ``tune.run(config=...)``'s space.
        metric, mode: what to optimise (``"min"``/``"max"``); or ``tune.run(metric=, mode=)``.
        points_to_evaluate: configs to try first.
        utility_kwargs: the acquisition function: ``kind`` (``"ucb"``, ``"ei"``, ``"poi"``),
            ``kappa``, ``xi`` (defaults ``ucb``, 2.576, 0.0, as Ray).
        random_state: the optimizer's seed.
        random_search_steps: results are held back from the model until this many trials
            completed, so the first suggestions are random (BayesOpt's own initial search).
        verbose: BayesOpt's verbosity.
        patience: end the search (FINISHED) once one config was suggested more than this many
            times; None: never.
        skip_duplicate: answer "not now" instead of suggesting a config again.

    A trial that errors or ends without a numeric metric is not registered with the model.
    """

    def __init__(
        self,
        space: Mapping[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        utility_kwargs: dict[str, Any] | None = None,
        random_state: int = 42,
        random_search_steps: int = 10,
        verbose: int = 0,
        patience: int | None = 5,
        skip_duplicate: bool = True,
    ) -> None:
        if space is not None and not isinstance(space, Mapping):
            raise TypeError(
                "BayesOptSearch(space=...) takes a dict (a dasktune search space, or "
                f"{{name: (lower, upper)}}), got {type(space).__name__}"
            )
        utility = {**_UTILITY_DEFAULTS, **(utility_kwargs or {})}
        unknown = set(utility) - set(inspect.signature(byo.UtilityFunction).parameters)
        if unknown:
            raise ValueError(
                f"BayesOptSearch(utility_kwargs=...): unknown {sorted(unknown)}; it takes kind, "
                "kappa, xi (and kappa_decay, kappa_decay_delay)"
            )
        if utility["kind"] not in ("ucb", "ei", "poi"):
            raise ValueError(
                f"utility_kwargs['kind'] must be ucb, ei or poi, got {utility['kind']!r}"
            )
        if isinstance(random_search_steps, bool) or not isinstance(random_search_steps, int):
            raise TypeError(f"random_search_steps must be an int, got {random_search_steps!r}")
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int)):
            raise TypeError(f"patience must be an int or None, got {patience!r}")
        super().__init__(space, metric, mode, points_to_evaluate)
        self._utility_kwargs = utility
        self._random_state = random_state
        self._random_search_steps = random_search_steps
        self._verbose = verbose
        self._patience = patience
        self._skip_duplicate = skip_duplicate
        self._params: list[Param] = []
        self._log: set[str] = set()  # names searched as log10 of the value
        self._optimizer: Any = None
        self._utility: Any = None
        self._queue: list[dict[str, float]] = []
        self._live: dict[str, dict[str, float]] = {}
        self._buffered: list[tuple[dict[str, float], float]] = []
        self._seen: Counter[tuple[tuple[str, float], ...]] = Counter()
        # How many results the model had when each point was last counted: a point proposed
        # again with nothing new learned (other trials still running) is not a repeat.
        self._seen_at: dict[tuple[tuple[str, float], ...], int] = {}
        self._registered = 0

    def _build(self) -> None:
        space = self._space
        assert isinstance(space, Mapping)
        if has_domains(space):
            self._params = flatten_space(space, "BayesOptSearch")
            bounds = {p.name: self._bounds(p) for p in self._params}
        else:
            bounds = {}
            for name, value in space.items():
                if not (isinstance(value, (tuple, list)) and len(value) == 2):
                    raise ValueError(
                        f"{name}: BayesOptSearch's own space maps names to (lower, upper), got "
                        f"{value!r}"
                    )
                bounds[str(name)] = (float(value[0]), float(value[1]))
        if not bounds:
            raise ValueError("BayesOptSearch(space=...) has nothing to search")
        options: dict[str, Any] = {}
        if "allow_duplicate_points" in inspect.signature(byo.BayesianOptimization).parameters:
            # Points given twice by the user must not make the model raise.
            options["allow_duplicate_points"] = True
        self._optimizer = byo.BayesianOptimization(
            f=None,
            pbounds=bounds,
            random_state=self._random_state,
            verbose=self._verbose,
            **options,
        )
        self._utility = byo.UtilityFunction(**self._utility_kwargs)
        self._queue = [self._internal_point(p, i) for i, p in enumerate(self._points)]

    def _bounds(self, param: Param) -> tuple[float, float]:
        d: Any = param.domain
        if type(d) in (Uniform, QUniform):
            return float(d.lower), float(d.upper)
        if type(d) in (LogUniform, QLogUniform):
            self._log.add(param.name)
            return math.log10(d.lower), math.log10(d.upper)
        raise unsupported(
            "BayesOptSearch",
            param,
            "floats in bounds (uniform, quniform, loguniform, qloguniform)",
            "BayesOpt searches a continuous box: use tune.uniform and round in the trainable, "
            "or a searcher with integers and choices (OptunaSearch, HyperOptSearch, "
            "SkOptSearch).",
        )

    def _internal_point(self, point: Mapping[str, Any], index: int) -> dict[str, float]:
        if not self._params:
            return {str(k): float(v) for k, v in point.items()}
        values = {}
        for param in self._params:
            value = float(point_value(point, param, index, "BayesOptSearch"))
            values[param.name] = math.log10(value) if param.name in self._log else value
        return values

    def suggest(self, trial_id: str) -> Suggestion:
        """The next point: a queued ``points_to_evaluate`` entry, else the model's."""
        self._ready()
        if self._queue:
            point = self._queue.pop(0)
        else:
            point = {k: float(v) for k, v in self._optimizer.suggest(self._utility).items()}
            key = tuple(sorted((k, round(v, 5)) for k, v in point.items()))
            seen = key in self._seen
            if self._seen_at.get(key) != self._registered:
                # Ray counts every proposal, so with several slots busy the same point is
                # "repeated" `patience` times in a row and the search ends after a few trials.
                self._seen[key] += 1
                self._seen_at[key] = self._registered
            if self._patience is not None and max(self._seen.values()) > self._patience:
                return Searcher.FINISHED
            if seen and self._skip_duplicate:
                return None
        self._live[trial_id] = point
        return self._to_config(point)

    def _to_config(self, point: Mapping[str, float]) -> dict[str, Any]:
        if not self._params:
            return dict(point)
        return config_from_values(self._params, [point[p.name] for p in self._params], self._log)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Registers the trial's metric with the model (held back during the random steps)."""
        point = self._live.pop(trial_id, None)
        value = None if error else metric_value(result, self.metric)
        if point is None or value is None or self._optimizer is None:
            return
        target = -self._sign * value  # BayesOpt maximises
        if len(self._buffered) < self._random_search_steps:
            self._buffered.append((point, target))
            if len(self._buffered) < self._random_search_steps:
                return
            for held, held_target in self._buffered:
                self._optimizer.register(params=held, target=held_target)
            self._registered += len(self._buffered)
            return
        self._optimizer.register(params=point, target=target)
        self._registered += 1

    @property
    def optimizer(self) -> Any:
        """The ``bayes_opt.BayesianOptimization`` (None until the first suggestion)."""
        return self._optimizer
