"""BOHB's model-based search (Ray's ``TuneBOHB``): configs come from hpbandster's BOHB config
generator, a kernel-density model per budget over a ConfigSpace space, which learns from the
results :class:`~dasktune.schedulers.hb_bohb.HyperBandForBOHB` marks with the budget
(milestone) they were reached at.

Needs the ``bohb`` extra (ConfigSpace and hpbandster): ``pip install 'dasktune[bohb]'``.

Falkner, Klein, Hutter, "BOHB: Robust and Efficient Hyperparameter Optimization at Scale",
https://arxiv.org/abs/1807.01774
"""

from __future__ import annotations

import copy
import inspect
import math
import warnings
from collections.abc import Mapping
from typing import Any

try:
    import ConfigSpace
    import numpy as np
    from hpbandster.optimizers.config_generators.bohb import BOHB
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dasktune.search.bohb needs ConfigSpace and hpbandster, which are an optional extra: "
        "pip install 'dasktune[bohb]' (or pip install ConfigSpace hpbandster)"
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
from .space_conversion import has_domains, put

Path = tuple[Any, ...]

# ConfigSpace keeps categorical choices as such only when they are these types; other choices
# (lists, dicts, objects) are given to it as their index.
_PLAIN = (bool, int, float, str)

# BOHB(...)'s keyword arguments other than the space: what bohb_config may hold.
# (``logger`` goes on to hpbandster's base config generator.)
_BOHB_OPTIONS = (
    *(
        name
        for name in inspect.signature(BOHB.__init__).parameters
        if name not in ("self", "configspace", "kwargs")
    ),
    "logger",
)


class _Job:
    """What hpbandster's ``BOHB.new_result`` reads of a finished evaluation."""

    def __init__(self, loss: float, budget: float, config: dict[str, Any]) -> None:
        self.result = {"loss": loss}
        self.kwargs = {"budget": budget, "config": config}
        self.exception = None


class TuneBOHB(Searcher):
    """BOHB's config generator as a dasktune searcher; use it with
    :class:`~dasktune.schedulers.HyperBandForBOHB` (``scheduler=``), which tells it each
    trial's metric at each budget (milestone) and when trials pause and resume.

    Args:
        space: a ``ConfigSpace.ConfigurationSpace``, or a dasktune search space (``uniform``,
            ``loguniform``, ``quniform``, ``qloguniform``, ``randint``, ``qrandint``,
            ``lograndint``, ``qlograndint``, ``choice``; nested dicts allowed, their keys joined
            with ``/`` in ConfigSpace). None: ``tune.run(config=...)``'s space.
        bohb_config: keyword arguments of hpbandster's ``BOHB`` config generator
            (``min_points_in_model``, ``top_n_percent``, ``num_samples``, ``random_fraction``,
            ``bandwidth_factor``, ``min_bandwidth``).
        max_concurrent: at most this many of its trials run at once (paused ones do not
            count, so a bracket can fill while its first trials wait); 0: no cap.
        metric, mode: what to optimise (``"min"``/``"max"``); or ``tune.run(metric=, mode=)``.
        points_to_evaluate: complete configs to try first.
        seed: seeds the space's sampler and BOHB's own draws, so a seeded run suggests the
            same configs given the same results.
    """

    def __init__(
        self,
        space: ConfigSpace.ConfigurationSpace | Mapping[str, Any] | None = None,
        bohb_config: Mapping[str, Any] | None = None,
        max_concurrent: int = 0,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(metric, mode)
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            raise TypeError(f"TuneBOHB(max_concurrent=...) must be an int, got {max_concurrent!r}")
        if max_concurrent < 0:
            raise ValueError(f"TuneBOHB(max_concurrent={max_concurrent}): use 0 (no cap) or more")
        if bohb_config is not None and not isinstance(bohb_config, Mapping):
            raise TypeError(f"TuneBOHB(bohb_config=...) must be a dict, got {bohb_config!r}")
        unknown = sorted(set(bohb_config or {}) - set(_BOHB_OPTIONS))
        if unknown:
            raise ValueError(
                f"TuneBOHB(bohb_config=...) has {unknown}, which hpbandster's BOHB does not take; "
                f"it takes {list(_BOHB_OPTIONS)}"
            )
        if points_to_evaluate is not None and not (
            isinstance(points_to_evaluate, list)
            and all(isinstance(p, Mapping) for p in points_to_evaluate)
        ):
            raise TypeError(
                f"points_to_evaluate must be a list of dicts (configs), got {points_to_evaluate!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"TuneBOHB(seed=...) must be an int, got {seed!r}")
        self.max_concurrent = max_concurrent
        self._bohb_config = dict(bohb_config or {})
        self._points = [dict(p) for p in points_to_evaluate or []]
        self._seed = seed
        self._space: ConfigSpace.ConfigurationSpace | None = None
        self._paths: dict[str, Path] = {}  # ConfigSpace name -> path in the config
        self._by_index: dict[str, list[Any]] = {}  # names whose choices go in by index
        self._rounded: dict[str, tuple[Any, Any, Any, type]] = {}  # quantised names
        self._own_space = space is not None
        self.bohber: BOHB | None = None
        # BOHB draws from NumPy's global generator; a seeded searcher swaps its own in for
        # each call, so it is reproducible and leaves the user's global state alone.
        self._rng_state: Any = None
        self.trial_to_params: dict[str, dict[str, Any]] = {}  # the ConfigSpace config
        self.running: set[str] = set()
        self.paused: set[str] = set()
        self._told: dict[str, set[float]] = {}  # budgets each trial's result was told at
        self._warned_no_budget = False
        if space is not None:
            self._take_space(space)

    # -- the space -------------------------------------------------------------------------

    def _take_space(self, space: ConfigSpace.ConfigurationSpace | Mapping[str, Any]) -> None:
        self._paths, self._by_index, self._rounded = {}, {}, {}
        if isinstance(space, ConfigSpace.ConfigurationSpace):
            self._space = space
            self._paths = {name: tuple(name.split("/")) for name in space}
        elif isinstance(space, Mapping):
            self._space = ConfigSpace.ConfigurationSpace()
            self._convert(space, ())
        else:
            raise TypeError(
                "TuneBOHB(space=...) takes a ConfigSpace.ConfigurationSpace or a dict (a "
                f"dasktune search space), got {type(space).__name__}"
            )
        if not len(self._space):
            raise ValueError(
                "TuneBOHB's space has nothing to search: give it tune.uniform(...), "
                "tune.choice(...)... values (or a ConfigSpace space with hyperparameters)"
            )
        if self._seed is not None:
            self._space.seed(self._seed)
        for point in self._points:
            self._point_config(point)  # refuse a bad point now, not at its turn

    def _convert(self, space: Mapping[str, Any], prefix: Path) -> None:
        for key, value in space.items():
            path = (*prefix, key)
            name = "/".join(str(p) for p in path)
            if is_grid_search(value):
                raise ValueError(
                    f"{name}: TuneBOHB cannot run a grid_search; use tune.choice(...) "
                    "(or drop search_alg= to run the grid)"
                )
            if isinstance(value, Domain):
                assert self._space is not None
                # Ray's bare Float/Integer/Categorical stand for their uniform domains.
                self._space.add(self._hyperparameter(name, canonical(value)))
                self._paths[name] = path
            elif isinstance(value, Mapping):
                self._convert(value, path)
            # constants: SearchGenerator merges each suggestion over tune.run's config

    def _hyperparameter(self, name: str, domain: Domain) -> Any:
        """The ConfigSpace hyperparameter of a dasktune domain (same support). ConfigSpace 1.x
        has no quantisation: a quantised domain's draw is rounded to ``q`` in the config."""
        hp = ConfigSpace.hyperparameters
        kind = type(domain)  # exact types: a subclass may sample differently
        d: Any = domain
        if kind in (QUniform, QLogUniform):
            self._rounded[name] = (d.lower, d.upper, d.q, float)
        if kind in (QRandInt, QLogRandInt):
            self._rounded[name] = (d.lower, d.upper, d.q, int)
        if kind in (Uniform, QUniform):
            return hp.UniformFloatHyperparameter(name, d.lower, d.upper)
        if kind in (LogUniform, QLogUniform):  # the log-uniform law is the same in any base
            return hp.UniformFloatHyperparameter(name, d.lower, d.upper, log=True)
        if kind is RandInt:  # upper is exclusive here, inclusive in ConfigSpace
            return hp.UniformIntegerHyperparameter(name, int(d.lower), int(d.upper) - 1)
        if kind is LogRandInt:
            return hp.UniformIntegerHyperparameter(name, int(d.lower), int(d.upper) - 1, log=True)
        if kind is QRandInt:
            return hp.UniformIntegerHyperparameter(name, int(d.lower), int(d.upper))
        if kind is QLogRandInt:
            return hp.UniformIntegerHyperparameter(name, int(d.lower), int(d.upper), log=True)
        if kind is Choice:
            categories = list(d.categories)
            if all(isinstance(c, _PLAIN) for c in categories) and len(set(categories)) == len(
                categories
            ):
                return hp.CategoricalHyperparameter(name, categories)
            self._by_index[name] = categories
            return hp.CategoricalHyperparameter(name, list(range(len(categories))))
        raise ValueError(
            f"{name}: TuneBOHB cannot search {domain!r}; it takes uniform, loguniform, quniform, "
            "qloguniform, randint, qrandint, lograndint, qlograndint and choice (ConfigSpace 1.x "
            "needs bounds for a normal law: give a ConfigSpace space for anything else)"
        )

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any]
    ) -> bool:
        """Take ``tune.run``'s metric, mode and, if this searcher has no space yet, its config."""
        if not super().set_search_properties(metric, mode, config):
            return False
        if has_domains(config):
            if self._own_space:
                raise ValueError(
                    "tune.run(config=...) has search-space entries, but TuneBOHB was given "
                    "space= already; put the whole space in one place (config= or space=)."
                )
            self._take_space(config)
        return True

    # -- suggestions and results -----------------------------------------------------------

    def _ensure_model(self) -> BOHB:
        if self.bohber is not None:
            return self.bohber
        if self._space is None:
            raise ValueError(
                "TuneBOHB has no search space: pass TuneBOHB(space=...) or "
                "tune.run(config={...: tune.uniform(...)})"
            )
        if self.metric is None or self.mode is None:
            raise ValueError(
                "TuneBOHB needs a metric and a mode: pass TuneBOHB(metric=..., mode=...) or "
                "tune.run(metric=..., mode=...)"
            )
        if self._seed is not None:
            self._rng_state = np.random.RandomState(self._seed).get_state()
        self.bohber = self._with_own_rng(lambda: BOHB(self._space, **self._bohb_config))
        return self.bohber

    def _with_own_rng(self, call: Any, *args: Any) -> Any:
        with warnings.catch_warnings():
            # hpbandster 0.7.4 reaches ConfigSpace 1.x through its deprecated (still working)
            # names, and statsmodels divides by zero for a one-level categorical: noise to users.
            for category in (DeprecationWarning, FutureWarning, RuntimeWarning):
                warnings.simplefilter("ignore", category)
            if self._rng_state is None:
                return call(*args)
            outer = np.random.get_state()
            np.random.set_state(self._rng_state)
            try:
                return call(*args)
            finally:
                self._rng_state = np.random.get_state()
                np.random.set_state(outer)

    def suggest(self, trial_id: str) -> Suggestion:
        """The next point to try first, else BOHB's next config; None at ``max_concurrent``."""
        bohber = self._ensure_model()
        if self.max_concurrent and len(self.running) >= self.max_concurrent:
            return None
        if self._points:
            params = self._point_config(self._points.pop(0))
        else:
            params, _ = self._with_own_rng(bohber.get_config, None)
        params = dict(params)
        self.trial_to_params[trial_id] = copy.deepcopy(params)
        self.running.add(trial_id)
        return self._to_config(params)

    def _to_config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A ConfigSpace config as the trial's (nested) config."""
        config: dict[str, Any] = {}
        for name, value in params.items():
            if name in self._by_index:
                value = self._by_index[name][value]
            elif name in self._rounded:
                lower, upper, q, cast = self._rounded[name]
                value = cast(_quantize(value, lower, upper, q))
            elif isinstance(value, np.generic):
                value = value.item()
            put(config, self._paths.get(name, (name,)), value)
        return config

    def _point_config(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """A config to try first, as a valid ConfigSpace config (its flat names)."""
        assert self._space is not None
        params: dict[str, Any] = {}
        for name, path in self._paths.items():
            value: Any = point
            for key in path:
                if not isinstance(value, Mapping) or key not in value:
                    break
                value = value[key]
            else:
                if name in self._by_index:
                    if value not in self._by_index[name]:
                        raise ValueError(
                            f"TuneBOHB points_to_evaluate: {name}={value!r} is not one of the "
                            f"choices {self._by_index[name]!r}"
                        )
                    value = self._by_index[name].index(value)
                params[name] = value
        try:
            ConfigSpace.Configuration(self._space, values=params)
        except Exception as exc:  # noqa: BLE001 - ConfigSpace raises several types
            raise ValueError(
                f"TuneBOHB points_to_evaluate: {dict(point)!r} is not a complete config of the "
                f"space ({type(exc).__name__}: {exc}). Give every searched key a value inside "
                "its range."
            ) from None
        return params

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Tell BOHB the metric at a budget (a result HyperBandForBOHB marked at a milestone)."""
        if trial_id not in self.trial_to_params:
            return
        if trial_id not in self.paused:
            self.running.add(trial_id)
        info = result.get("hyperband_info")
        if not isinstance(info, Mapping):
            if not self._warned_no_budget:
                self._warned_no_budget = True
                warnings.warn(
                    "TuneBOHB: a result has no hyperband_info, so BOHB learns nothing from it "
                    "and its suggestions stay random. Use scheduler=HyperBandForBOHB(...) "
                    "with TuneBOHB. Warned once.",
                    stacklevel=2,
                )
            return
        if "budget" in info:
            self._tell(trial_id, result, info["budget"])

    def _tell(self, trial_id: str, result: Mapping[str, Any], budget: float) -> None:
        told = self._told.setdefault(trial_id, set())
        value = result.get(self.metric or "")
        if budget in told or isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if math.isnan(value):
            return
        told.add(budget)
        assert self.bohber is not None
        loss = float(value) if self.mode == "min" else -float(value)
        job = _Job(loss, budget, self.trial_to_params[trial_id])
        self._with_own_rng(self.bohber.new_result, job)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Forget the trial. A last result HyperBandForBOHB marked with a budget (the trial it
        stopped at a milestone) is told first; Ray drops it."""
        if trial_id not in self.trial_to_params:
            return
        info = (result or {}).get("hyperband_info")
        if not error and isinstance(info, Mapping) and "budget" in info and result is not None:
            self._tell(trial_id, result, info["budget"])
        del self.trial_to_params[trial_id]
        self._told.pop(trial_id, None)
        self.paused.discard(trial_id)
        self.running.discard(trial_id)

    def on_pause(self, trial_id: str) -> None:
        """HyperBandForBOHB paused the trial: it no longer counts toward ``max_concurrent``."""
        self.paused.add(trial_id)
        self.running.discard(trial_id)

    def on_unpause(self, trial_id: str) -> None:
        """HyperBandForBOHB resumes the trial: it counts toward ``max_concurrent`` again."""
        self.paused.discard(trial_id)
        self.running.add(trial_id)
