"""HyperOpt's TPE as a dasktune :class:`~dasktune.search.searcher.Searcher` (Ray's
``HyperOptSearch``: ``ray.tune.suggest.hyperopt`` in 0.8/1.x, ``ray.tune.search.hyperopt``
in 2.x).

Needs the ``hyperopt`` extra: ``pip install 'dasktune[hyperopt]'``.
"""

from __future__ import annotations

import copy
import functools
import math
import sys
from collections.abc import Mapping
from typing import Any

try:
    import hyperopt as hpo
    import numpy as np
    from hyperopt.pyll.base import Apply
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dasktune.search.hyperopt needs HyperOpt, which is an optional extra: "
        "pip install 'dasktune[hyperopt]' (or pip install hyperopt)"
    ) from exc

from .sample import (
    Choice,
    LogRandInt,
    LogUniform,
    QLogRandInt,
    QLogUniform,
    QRandInt,
    QRandN,
    QUniform,
    RandInt,
    RandN,
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
    put,
)

# hyperopt.fmin is shadowed by the function of that name in hyperopt's namespace.
_generate_trials_to_calculate = sys.modules["hyperopt.fmin"].generate_trials_to_calculate


class HyperOptSearch(SpaceSearcher):
    """Suggests configs with HyperOpt's Tree-structured Parzen Estimator.

    Args:
        space: a dasktune search space (``tune.uniform``, ``loguniform``, ``quniform``,
            ``qloguniform``, ``randn``, ``qrandn``, ``randint``, ``qrandint``, ``lograndint``,
            ``qlograndint``, ``choice``; nested dicts allowed), or HyperOpt's own space (a dict
            of ``hp.*`` expressions, as ``fmin`` takes). None: ``tune.run(config=...)``'s space.
        metric, mode: what to optimise (``"min"``/``"max"``); or ``tune.run(metric=, mode=)``.
        points_to_evaluate: configs to try first, in order. With HyperOpt's own space, give
            HyperOpt's values (the index for an ``hp.choice``), keyed by label.
        n_initial_points: random suggestions before TPE starts modelling (TPE's
            ``n_startup_jobs``).
        random_state_seed: seed of the suggestions (reproducible runs).
        gamma: TPE's split between good and bad points.

    A trial that errors, or ends without a numeric metric, is marked failed in HyperOpt's
    ``Trials`` (TPE ignores it). The state (the ``Trials`` and the random generator) is saved
    with the experiment: ``resume=True`` goes on with the same history.
    """

    _native = (Apply,)

    def __init__(
        self,
        space: Mapping[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        n_initial_points: int = 20,
        random_state_seed: int | None = None,
        gamma: float = 0.25,
    ) -> None:
        if isinstance(n_initial_points, bool) or not isinstance(n_initial_points, int):
            raise TypeError(f"n_initial_points must be an int, got {n_initial_points!r}")
        if n_initial_points < 1:
            raise ValueError(f"n_initial_points must be >= 1, got {n_initial_points}")
        if not 0 < gamma < 1:
            raise ValueError(f"gamma must be between 0 and 1, got {gamma!r}")
        if space is not None and not isinstance(space, Mapping):
            raise TypeError(
                "HyperOptSearch(space=...) takes a dict (a dasktune search space, or hp.* "
                f"expressions), got {type(space).__name__}"
            )
        super().__init__(space, metric, mode, points_to_evaluate)
        self._n_initial_points = n_initial_points
        self._seed = random_state_seed
        self._gamma = gamma
        self._params: list[Param] = []
        self._native_space = False
        self._domain: Any = None
        self._trials: Any = None
        self._rng: np.random.Generator | None = None
        self._queued = 0  # points_to_evaluate not suggested yet
        self._live: dict[str, int] = {}  # searcher trial id -> HyperOpt trial id

    def _build(self) -> None:
        space = self._space
        assert space is not None
        if has_domains(space):
            if _has_apply(space):
                raise ValueError(
                    "HyperOptSearch: the space mixes dasktune domains and hp.* expressions; "
                    "write it all one way"
                )
            self._params = flatten_space(space, "HyperOptSearch")
            expression: dict[str, Any] = {}
            for param in self._params:
                put(expression, param.path, _expression(param))
        else:
            self._native_space = True
            expression = dict(space)
        self._domain = hpo.Domain(lambda config: config, expression)
        self._rng = np.random.default_rng(self._seed)
        if self._points:
            self._trials = _generate_trials_to_calculate(
                [self._hyperopt_point(p, i) for i, p in enumerate(self._points)]
            )
            self._trials.refresh()
            self._queued = len(self._points)
        else:
            self._trials = hpo.Trials()

    def _hyperopt_point(self, point: Mapping[str, Any], index: int) -> dict[str, Any]:
        if self._native_space:
            return dict(point)
        values: dict[str, Any] = {}
        for param in self._params:
            value = point_value(point, param, index, "HyperOptSearch")
            if isinstance(param.domain, Choice):
                value = _index(param.domain.categories, value)
            values[param.name] = value
        return values

    def suggest(self, trial_id: str) -> Suggestion:
        """The next point: a queued ``points_to_evaluate`` entry, else TPE's suggestion."""
        self._ready()
        trials = self._trials
        if self._queued:
            new_trial = trials.trials[len(self._points) - self._queued]
            self._queued -= 1
        else:
            assert self._rng is not None
            new_ids = trials.new_trial_ids(1)
            trials.refresh()
            algo = functools.partial(
                hpo.tpe.suggest, n_startup_jobs=self._n_initial_points, gamma=self._gamma
            )
            docs = algo(new_ids, self._domain, trials, int(self._rng.integers(2**31 - 1)))
            trials.insert_trial_docs(docs)
            trials.refresh()
            new_trial = docs[0]
        self._live[trial_id] = new_trial["tid"]
        ctrl = hpo.base.Ctrl(trials, current_trial=new_trial)
        memo = self._domain.memo_from_config(hpo.base.spec_from_misc(new_trial["misc"]))
        hpo.utils.use_obj_for_literal_in_memo(self._domain.expr, ctrl, hpo.base.Ctrl, memo)
        config = hpo.pyll.rec_eval(self._domain.expr, memo=memo)
        if self._native_space:
            return copy.deepcopy(config)
        return self._to_config(config)

    def _to_config(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return config_from_values(self._params, [_at(raw, p.path) for p in self._params])

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Records the trial's loss in HyperOpt's ``Trials``, or marks it failed."""
        tid = self._live.pop(trial_id, None)
        if tid is None or self._trials is None:
            return
        doc = next((t for t in self._trials._dynamic_trials if t["tid"] == tid), None)
        if doc is None:
            return
        doc["refresh_time"] = hpo.utils.coarse_utcnow()
        value = None if error else metric_value(result, self.metric)
        if value is None:
            doc["state"] = hpo.JOB_STATE_ERROR
            reason = "the trial errored" if error else f"no numeric {self.metric!r} in its result"
            doc["misc"]["error"] = ("dasktune", reason)
        else:
            doc["state"] = hpo.JOB_STATE_DONE
            doc["result"] = {"loss": self._sign * value, "status": hpo.STATUS_OK}
        self._trials.refresh()

    @property
    def trials(self) -> Any:
        """HyperOpt's ``Trials`` (None until the first suggestion)."""
        return self._trials


def _expression(param: Param) -> Any:
    """The ``hp.*`` expression of a dasktune domain; the draw is fitted to the domain after."""
    d: Any = param.domain
    label = param.name
    kind = type(d)
    if kind is Uniform:
        return hpo.hp.uniform(label, d.lower, d.upper)
    if kind is QUniform:
        return hpo.hp.quniform(label, d.lower, d.upper, d.q)
    if kind is LogUniform:
        return hpo.hp.loguniform(label, math.log(d.lower), math.log(d.upper))
    if kind is QLogUniform:
        return hpo.hp.qloguniform(label, math.log(d.lower), math.log(d.upper), d.q)
    if kind is RandN:
        return hpo.hp.normal(label, d.mean, d.sd)
    if kind is QRandN:
        return hpo.hp.qnormal(label, d.mean, d.sd, d.q)
    if kind in (RandInt, QRandInt):
        low, high = int_bounds(d)
        return hpo.hp.quniform(label, low, high, getattr(d, "q", 1))
    if kind in (LogRandInt, QLogRandInt):
        low, high = int_bounds(d)
        return hpo.hp.qloguniform(label, math.log(low), math.log(high), getattr(d, "q", 1))
    if kind is Choice:
        # Indices, so that HyperOpt never interprets a category (a dict, a list) as a space.
        return hpo.hp.choice(label, list(range(len(d.categories))))
    raise ValueError(
        f"{label}: HyperOptSearch cannot search {d!r}; give HyperOpt's own hp.* expression "
        "in space= instead"
    )


def _index(categories: list[Any], value: Any) -> int:
    for i, category in enumerate(categories):
        if category is value or category == value:
            return i
    raise ValueError(f"{value!r} is not one of {categories!r}")


def _has_apply(space: Mapping[str, Any]) -> bool:
    for value in space.values():
        if isinstance(value, Apply):
            return True
        if isinstance(value, Mapping) and _has_apply(value):
            return True
    return False


def _at(nested: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` in HyperOpt's nested sample."""
    value: Any = nested
    for key in path:
        value = value[key]
    return value
