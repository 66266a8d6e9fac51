"""What the library adapters (HyperOpt, BayesOpt, Nevergrad, scikit-optimize, ZOOpt) share:
walking a dasktune search space into flat named parameters, fitting a library's raw value back
into its domain, reading a result's metric, and :class:`SpaceSearcher`, the base that takes the
space from ``space=`` or from ``tune.run(config=...)``.

Parameters are named by their key path joined with ``/`` (``{"model": {"lr": ...}}`` gives
``"model/lr"``), as Ray names them, and suggestions are nested back the same way.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .sample import (
    Choice,
    Domain,
    Function,
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
    _quantize,
    _times,
    canonical,
    is_grid_search,
)
from .searcher import Searcher

Path = tuple[Any, ...]

FLOATS = (Uniform, LogUniform, QUniform, QLogUniform, RandN, QRandN)
INTS = (RandInt, QRandInt, LogRandInt, QLogRandInt)
LOG = (LogUniform, QLogUniform, LogRandInt, QLogRandInt)
QUANTIZED = (QUniform, QLogUniform, QRandN, QRandInt, QLogRandInt)
NORMAL = (RandN, QRandN)


@dataclass(frozen=True)
class Param:
    """One searched value: where it goes in the config, its name, and its domain."""

    path: Path
    name: str
    domain: Domain


def flatten_space(space: Mapping[str, Any], searcher: str) -> list[Param]:
    """The dasktune domains of ``space`` (nested dicts walked), in order; constants skipped.

    Raises:
        ValueError: a ``grid_search`` or a ``sample_from`` (no library can search those).
    """
    params: list[Param] = []
    _walk(space, (), searcher, params)
    return params


def _walk(space: Mapping[str, Any], prefix: Path, searcher: str, out: list[Param]) -> None:
    for key, value in space.items():
        path = (*prefix, key)
        name = "/".join(str(p) for p in path)
        if is_grid_search(value):
            raise ValueError(
                f"{name}: {searcher} cannot run a grid_search; use tune.choice(...) (or drop "
                "search_alg= to run the grid)"
            )
        if isinstance(value, Function):
            raise ValueError(
                f"{name}: {searcher} cannot search a sample_from(...) function; give the key a "
                "domain (tune.uniform, tune.choice, ...), or compute it in the trainable"
            )
        if isinstance(value, Domain):
            out.append(Param(path, name, canonical(value)))
        elif isinstance(value, Mapping):
            _walk(value, path, searcher, out)


def has_domains(config: Mapping[str, Any], native: tuple[type, ...] = ()) -> bool:
    """Whether ``config`` holds a dasktune domain, a grid search or a ``native`` object."""
    for value in config.values():
        if isinstance(value, (Domain, *native)) or is_grid_search(value):
            return True
        if isinstance(value, Mapping) and has_domains(value, native):
            return True
    return False


def unsupported(searcher: str, param: Param, supported: str, alternative: str) -> ValueError:
    """The error for a domain ``searcher`` cannot express, naming the key and the way out."""
    return ValueError(
        f"{param.name}: {searcher} cannot search {param.domain!r}; it takes {supported}. "
        f"{alternative}"
    )


def fit(domain: Domain, value: Any) -> Any:
    """A library's raw draw for ``domain`` as a value the domain could give: the right type,
    within the bounds, rounded to the domain's ``q``. Libraries that search a continuous range
    (or a log of it) are told the raw point; the trial gets this one."""
    kind = type(domain)
    if kind is Choice:
        return value
    value = to_python(value)
    if kind in (Uniform, LogUniform):
        return float(min(max(value, domain.lower), domain.upper))  # type: ignore[attr-defined]
    if kind in (QUniform, QLogUniform):
        d: Any = domain
        return float(_quantize(value, d.lower, d.upper, d.q))
    if kind is RandN:
        return float(value)
    if kind is QRandN:
        return float(_times(round(value / domain.q), domain.q))  # type: ignore[attr-defined]
    if kind in (RandInt, LogRandInt):  # upper is exclusive
        d = domain
        return int(min(max(round(value), d.lower), d.upper - 1))
    if kind in (QRandInt, QLogRandInt):
        d = domain
        return int(_quantize(value, d.lower, d.upper, d.q))
    raise TypeError(f"fit(): no rule for {domain!r}")


def int_bounds(domain: Domain) -> tuple[int, int]:
    """The inclusive bounds of an integer domain (``randint``'s upper bound is exclusive)."""
    d: Any = domain
    if type(domain) in (RandInt, LogRandInt):
        return int(d.lower), int(d.upper) - 1
    return int(d.lower), int(d.upper)


def to_python(value: Any) -> Any:
    """NumPy scalars as Python numbers (configs are written as JSON and shown to users)."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (list, tuple, dict)):
        try:
            return item()
        except (TypeError, ValueError):
            return value
    return value


def metric_value(result: Mapping[str, Any] | None, metric: str | None) -> float | None:
    """The result's metric as a float; None when it is missing, not a number, or NaN."""
    if result is None or metric is None:
        return None
    value = to_python(result.get(metric))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def put(config: dict[str, Any], path: Path, value: Any) -> None:
    """Set ``value`` at ``path`` in nested dicts, creating them."""
    for key in path[:-1]:
        config = config.setdefault(key, {})
    config[path[-1]] = value


def config_from_values(
    params: Sequence[Param], values: Iterable[Any], log_names: Collection[str] = ()
) -> dict[str, Any]:
    """The trial config for a library's raw values, one per param in order: a category's index
    picks the category (a copy), a param in ``log_names`` was searched as its base-10 log, and
    every other value is :func:`fit` to its domain."""
    config: dict[str, Any] = {}
    for param, value in zip(params, values, strict=True):
        if isinstance(param.domain, Choice):
            value = copy.deepcopy(param.domain.categories[int(value)])
        else:
            if param.name in log_names:
                value = 10**value
            value = fit(param.domain, value)
        put(config, param.path, value)
    return config


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a/b": 1}`` as ``{"a": {"b": 1}}`` (how Ray nests a native space's names)."""
    config: dict[str, Any] = {}
    for name, value in flat.items():
        put(config, tuple(str(name).split("/")), value)
    return config


def point_value(point: Mapping[str, Any], param: Param, index: int, searcher: str) -> Any:
    """The value ``points_to_evaluate[index]`` gives ``param``.

    Raises:
        ValueError: the point lacks the key, or its value is outside the domain.
    """
    value: Any = point
    for key in param.path:
        if not isinstance(value, Mapping) or key not in value:
            raise ValueError(
                f"{searcher}: points_to_evaluate[{index}] has no value for {param.name!r}; "
                "each point must give every searched key"
            )
        value = value[key]
    if not param.domain.is_valid(value):
        raise ValueError(
            f"{searcher}: points_to_evaluate[{index}][{param.name!r}] = {value!r} is not in "
            f"{param.domain!r}"
        )
    return value


def check_points(points: Any, searcher: str) -> list[dict[str, Any]]:
    """``points_to_evaluate`` as a list of dicts.

    Raises:
        TypeError: it is not a list of dicts.
    """
    if points is None:
        return []
    if not isinstance(points, (list, tuple)) or not all(isinstance(p, Mapping) for p in points):
        raise TypeError(
            f"{searcher}(points_to_evaluate=...) must be a list of dicts (configs), got {points!r}"
        )
    return [dict(p) for p in points]


class SpaceSearcher(Searcher):
    """Base of the library adapters: the space comes from ``space=`` or, failing that, from
    ``tune.run(config=...)``; the library's optimizer is built on the first suggestion, when
    metric and mode are known (:meth:`_build`).

    Subclasses set ``_native`` (the library's own space objects, which make ``space=`` a native
    space) and implement :meth:`_build`, :meth:`suggest` and :meth:`on_trial_complete`.
    """

    _native: tuple[type, ...] = ()

    def __init__(
        self,
        space: Any,
        metric: str | None,
        mode: str | None,
        points_to_evaluate: Any,
    ) -> None:
        super().__init__(metric, mode)
        self._points = check_points(points_to_evaluate, type(self).__name__)
        # Whether space= was given: a space taken from a tune.run config may be taken again.
        self._own_space = space is not None
        self._space = space
        self._built = False

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any]
    ) -> bool:
        """Take ``tune.run``'s metric, mode and, if this searcher has no space yet, its config."""
        if not super().set_search_properties(metric, mode, config):
            return False
        if has_domains(config, self._native):
            if self._own_space:
                raise ValueError(
                    f"tune.run(config=...) has search-space entries, but {type(self).__name__} "
                    "was given space= already; put the whole space in one place (config= or "
                    "space=)."
                )
            if self._built:
                return False
            self._space = config
        return True

    def _ready(self) -> None:
        """Build the optimizer once: check the space, metric and mode first."""
        if self._built:
            return
        name = type(self).__name__
        if self._space is None:
            raise ValueError(
                f"{name} has no search space: pass {name}(space=...) or "
                "tune.run(config={...: tune.uniform(...)})"
            )
        if self.metric is None or self.mode is None:
            raise ValueError(
                f"{name} needs a metric and a mode: pass {name}(metric=..., mode=...) or "
                "tune.run(metric=..., mode=...)"
            )
        self._build()
        self._built = True

    def _build(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _build()")

    @property
    def _sign(self) -> float:
        """Multiplies the metric into a loss (every adapted library minimises)."""
        return -1.0 if self.mode == "max" else 1.0
