"""Optuna as a dasktune :class:`~dasktune.search.searcher.Searcher` (Ray 1.x's
``ray.tune.suggest.optuna.OptunaSearch``), driven through Optuna's ask-and-tell interface.

Needs the ``optuna`` extra: ``pip install dasktune[optuna]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

try:
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from optuna.trial import TrialState
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dasktune.search.optuna needs Optuna, which is an optional extra: "
        "pip install 'dasktune[optuna]' (or pip install optuna)"
    ) from exc

from .sample import (
    Choice,
    Domain,
    LogRandInt,
    LogUniform,
    QLogRandInt,
    QLogUniform,
    QRandInt,
    QUniform,
    RandInt,
    Uniform,
    _quantize,
    canonical,
    is_grid_search,
)
from .searcher import Searcher, Suggestion
from .space_conversion import has_domains, put, unflatten

Path = tuple[Any, ...]
DefineByRun = Callable[["optuna.trial.Trial"], "dict[str, Any] | None"]

# Optuna stores categorical choices as such only when they are these types; other choices
# (lists, dicts, objects) are passed to Optuna as their index.
_PLAIN = (type(None), bool, int, float, str)


class OptunaSearch(Searcher):
    """Suggests configs from an Optuna study (TPE by default) and tells it every result.

    Args:
        space: the search space: a dasktune config with ``tune.uniform``, ``tune.loguniform``,
            ``tune.quniform``, ``tune.qloguniform``, ``tune.randint``, ``tune.qrandint``,
            ``tune.lograndint``, ``tune.qlograndint``, ``tune.choice`` (nested dicts allowed; a
            quantised log domain is drawn on Optuna's log scale and rounded to ``q``); or
            Optuna's own ``{name: optuna.distributions.*}``; or a
            define-by-run function ``space(optuna_trial)`` that calls ``optuna_trial.suggest_*``
            and may return a dict of constants. None: ``tune.run(config=...)``'s space.
        metric, mode: what to optimise (``"min"``/``"max"``); or ``tune.run(metric=, mode=)``.
        points_to_evaluate: configs to try first (Optuna's ``enqueue_trial``).
        sampler: an ``optuna.samplers.BaseSampler``; default ``TPESampler(seed=seed)``.
        seed: the default sampler's seed.

    A trial that errors, or whose ``metric`` is not a number (or NaN), is told to the study as
    FAIL; one that ends without reporting ``metric`` at all is told as PRUNED (as in Ray).
    The study is saved with the experiment state: ``resume=True`` continues the same study.
    """

    def __init__(
        self,
        space: Mapping[str, Any] | DefineByRun | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        sampler: optuna.samplers.BaseSampler | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(metric, mode)
        if sampler is not None and seed is not None:
            raise ValueError(
                "OptunaSearch(sampler=..., seed=...): the seed is only for the default sampler; "
                "give your sampler its seed instead (e.g. TPESampler(seed=0))."
            )
        if sampler is not None and not isinstance(sampler, optuna.samplers.BaseSampler):
            raise TypeError(
                f"sampler must be an optuna.samplers.BaseSampler, got {type(sampler).__name__}"
            )
        if points_to_evaluate is not None and not (
            isinstance(points_to_evaluate, list)
            and all(isinstance(p, Mapping) for p in points_to_evaluate)
        ):
            raise TypeError(
                f"points_to_evaluate must be a list of dicts (configs), got {points_to_evaluate!r}"
            )
        self._sampler = sampler
        self._seed = seed
        self._points = [dict(p) for p in points_to_evaluate or []]
        self._define_by_run: DefineByRun | None = None
        # name in Optuna -> (path in the config, distribution)
        self._space: dict[str, tuple[Path, BaseDistribution]] | None = None
        # names whose categorical choices are passed to Optuna by index
        self._by_index: dict[str, list[Any]] = {}
        # names of quantised log domains -> (lower, upper, q, type) to round Optuna's draw
        self._rounded: dict[str, tuple[Any, Any, Any, type]] = {}
        self._study: optuna.Study | None = None
        self._live: dict[str, int] = {}  # searcher trial id -> Optuna trial number
        # Whether space= was given: a space taken from a tune.run config may be taken again.
        self._own_space = space is not None
        if space is not None:
            self._take_space(space)

    def _take_space(self, space: Mapping[str, Any] | DefineByRun) -> None:
        if callable(space) and not isinstance(space, Mapping):
            self._define_by_run = space
            self._space = None
            return
        if not isinstance(space, Mapping):
            raise TypeError(
                "OptunaSearch(space=...) takes a dict (a dasktune search space, or Optuna "
                "distributions) or a define-by-run function, got "
                f"{type(space).__name__}"
            )
        self._space = {}
        self._by_index = {}
        self._rounded = {}
        self._convert(space, ())
        if not self._space:
            raise ValueError(
                "OptunaSearch(space=...) has nothing to search: give it tune.uniform(...), "
                "tune.choice(...)... values (or Optuna distributions)"
            )

    def _convert(self, space: Mapping[str, Any], prefix: Path) -> None:
        for key, value in space.items():
            path = (*prefix, key)
            name = "/".join(str(p) for p in path)
            if isinstance(value, BaseDistribution):
                self._space[name] = (path, value)  # type: ignore[index]
            elif is_grid_search(value):
                raise ValueError(
                    f"{name}: OptunaSearch cannot run a grid_search; use tune.choice(...) "
                    "(or drop search_alg= to run the grid)"
                )
            elif isinstance(value, Domain):
                value = canonical(value)  # Ray-style Float(l, u) etc.
                self._space[name] = (path, self._distribution(name, value))  # type: ignore[index]
            elif isinstance(value, Mapping):
                self._convert(value, path)
            # constants: SearchGenerator merges each suggestion over tune.run's config

    def _distribution(self, name: str, domain: Domain) -> BaseDistribution:
        """The Optuna distribution of a dasktune domain (same support, same quantisation)."""
        kind = type(domain)  # exact types: a subclass may sample differently
        if kind is Uniform:
            return FloatDistribution(domain.lower, domain.upper)
        if kind is LogUniform:  # the log-uniform law is the same whatever the base
            return FloatDistribution(domain.lower, domain.upper, log=True)
        if kind is QUniform:
            return FloatDistribution(domain.lower, domain.upper, step=domain.q)
        if kind is RandInt:  # upper is exclusive here, inclusive in Optuna
            return IntDistribution(int(domain.lower), int(domain.upper) - 1)
        if kind is QRandInt:
            return IntDistribution(int(domain.lower), int(domain.upper), step=int(domain.q))
        if kind is LogRandInt:
            return IntDistribution(int(domain.lower), int(domain.upper) - 1, log=True)
        # Optuna cannot quantise a log scale (Ray drops the quantisation): the value it draws
        # is rounded to the nearest multiple of q in the config instead.
        if kind is QLogUniform:
            self._rounded[name] = (domain.lower, domain.upper, domain.q, float)
            return FloatDistribution(domain.lower, domain.upper, log=True)
        if kind is QLogRandInt:
            self._rounded[name] = (domain.lower, domain.upper, domain.q, int)
            return IntDistribution(int(domain.lower), int(domain.upper), log=True)
        if kind is Choice:
            categories = domain.categories
            if all(isinstance(c, _PLAIN) for c in categories):
                return CategoricalDistribution(categories)
            self._by_index[name] = list(categories)
            return CategoricalDistribution(list(range(len(categories))))
        raise ValueError(
            f"{name}: OptunaSearch cannot search {domain!r}; it takes uniform, loguniform, "
            "quniform, qloguniform, randint, qrandint, lograndint, qlograndint and choice (give "
            "Optuna distributions, or a define-by-run function, for anything else)"
        )

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any]
    ) -> bool:
        """Take ``tune.run``'s metric, mode and, if this searcher has no space yet, its config."""
        if not super().set_search_properties(metric, mode, config):
            return False
        if has_domains(config, (BaseDistribution,)):
            if self._own_space:
                raise ValueError(
                    "tune.run(config=...) has search-space entries, but OptunaSearch was given "
                    "space= already; put the whole space in one place (config= or space=)."
                )
            self._take_space(config)
        return True

    def _ensure_study(self) -> optuna.Study:
        if self._study is not None:
            return self._study
        if self._space is None and self._define_by_run is None:
            raise ValueError(
                "OptunaSearch has no search space: pass OptunaSearch(space=...) or "
                "tune.run(config={...: tune.uniform(...)})"
            )
        if self.metric is None or self.mode is None:
            raise ValueError(
                "OptunaSearch needs a metric and a mode: pass OptunaSearch(metric=..., mode=...) "
                "or tune.run(metric=..., mode=...)"
            )
        sampler = self._sampler or optuna.samplers.TPESampler(seed=self._seed)
        direction = "minimize" if self.mode == "min" else "maximize"
        study = optuna.create_study(sampler=sampler, direction=direction)
        for point in self._points:
            study.enqueue_trial(self._flatten_point(point))
        self._study = study
        return study

    def _flatten_point(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """A config to try first, as Optuna's flat params."""
        if self._space is None:  # define-by-run: the user's own param names
            return dict(point)
        params: dict[str, Any] = {}
        for name, (path, _) in self._space.items():
            value: Any = point
            for key in path:
                if not isinstance(value, Mapping) or key not in value:
                    break
                value = value[key]
            else:
                if name in self._by_index:
                    value = self._by_index[name].index(value)
                params[name] = value
        return params

    def suggest(self, trial_id: str) -> Suggestion:
        """Asks the study for a new trial and returns its config."""
        study = self._ensure_study()
        if self._define_by_run is not None:
            ot_trial = study.ask()
            constants = self._define_by_run(ot_trial)
            config = unflatten(ot_trial.params)
            if constants:
                config.update(constants)
        else:
            assert self._space is not None
            ot_trial = study.ask({name: dist for name, (_, dist) in self._space.items()})
            config = {}
            for name, (path, _) in self._space.items():
                value = ot_trial.params[name]
                if name in self._by_index:
                    value = self._by_index[name][value]
                elif name in self._rounded:
                    lower, upper, q, cast = self._rounded[name]
                    value = cast(_quantize(value, lower, upper, q))
                put(config, path, value)
        self._live[trial_id] = ot_trial.number
        return config

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Tells the study the trial's metric, or that it failed."""
        number = self._live.pop(trial_id, None)
        if number is None or self._study is None:
            return
        value = None if (error or result is None) else result.get(self.metric or "")
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value == value  # NaN: no score
        ):
            self._study.tell(number, float(value))
        elif value is None and not error:
            # Ended early without the metric (a scheduler or stop rule stopped it before it
            # reported one): PRUNED, as Ray tells it, so the sampler does not read it as a
            # broken region of the space.
            self._study.tell(number, state=TrialState.PRUNED)
        else:
            self._study.tell(number, state=TrialState.FAIL)

    @property
    def study(self) -> optuna.Study | None:
        """The Optuna study (None until the first suggestion)."""
        return self._study
