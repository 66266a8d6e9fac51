"""Search-space primitives, mirroring Ray Tune 1.x's ``tune.uniform``, ``tune.choice``, ...

Every constructor returns a :class:`Domain` except :func:`grid_search`, which returns the plain
dict ``{"grid_search": [...]}`` exactly as Ray does. Put them anywhere inside a config's dicts and
lists; :func:`dasktune.search.generate_variants` turns the config into concrete variants.

Argument errors are raised at construction and name the function and the argument. A search-space
object passed as an *argument* of another domain (``uniform(randint(0, 3), 5)``, a domain among
``choice`` categories) is accepted here and rejected by ``generate_variants``, because only there
is the key path known that makes the message useful.
"""

from __future__ import annotations

import inspect
import math
import numbers
import random
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from decimal import Decimal
from typing import Any

GRID_SEARCH_KEY = "grid_search"

# What Domain.sample(random_state=...) takes, as Ray: a generator, a seed, or a NumPy one.
RandomState = Any

__all__ = [
    "GRID_SEARCH_KEY",
    "BaseSampler",
    "Categorical",
    "Choice",
    "Domain",
    "Float",
    "Function",
    "Integer",
    "LogUniformSampler",
    "Normal",
    "Quantized",
    "Sampler",
    "UniformSampler",
    "as_random",
    "canonical",
    "LogRandInt",
    "LogUniform",
    "QLogRandInt",
    "QLogUniform",
    "QRandInt",
    "QRandN",
    "QUniform",
    "RandInt",
    "RandN",
    "SampleFrom",
    "Uniform",
    "choice",
    "contains_domains",
    "grid_search",
    "is_grid_search",
    "is_search_space",
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


def is_grid_search(obj: Any) -> bool:
    """Whether ``obj`` is a grid-search marker, i.e. a dict whose only key is ``"grid_search"``.

    Same test as Ray: a dict with other keys next to ``"grid_search"`` is ordinary data.
    """
    return isinstance(obj, dict) and len(obj) == 1 and GRID_SEARCH_KEY in obj


def is_search_space(obj: Any) -> bool:
    """Whether ``obj`` itself (not its contents) is a :class:`Domain` or a grid-search dict."""
    return isinstance(obj, Domain) or is_grid_search(obj)


def contains_domains(obj: Any) -> bool:
    """Whether ``obj`` is, or anywhere contains, a :class:`Domain` or a grid-search dict.

    Walks dicts (keys and values), lists, tuples, sets and frozensets; other objects are opaque.
    """
    return _contains_domains(obj, set())


def _contains_domains(obj: Any, seen: set[int]) -> bool:
    if is_search_space(obj):
        return True
    if not isinstance(obj, (dict, list, tuple, set, frozenset)):
        return False
    # A self-referencing container would otherwise recurse forever.
    if id(obj) in seen:
        return False
    seen.add(id(obj))
    items: Iterable[Any] = [*obj.keys(), *obj.values()] if isinstance(obj, dict) else obj
    return any(_contains_domains(item, seen) for item in items)


class Domain:
    """A distribution that one config value is drawn from; base of what ``uniform()`` etc. return.

    The same API as Ray's ``ray.tune.search.sample.Domain``: :meth:`sample`, :meth:`is_grid`,
    :meth:`is_function`, :meth:`is_valid`, :attr:`sampler`/:meth:`get_sampler`. Subclasses
    implement ``_sample`` and ``_arguments``.
    """

    def sample(
        self,
        spec: Any = None,
        size: int = 1,
        random_state: RandomState = None,
    ) -> Any:
        """Draw one value (``size=1``) or a list of ``size`` values, as Ray's ``Domain.sample``.

        Args:
            spec: what a ``sample_from`` function receives (see :func:`sample_from`); the plain
                distributions ignore it.
            size: how many values; a list is returned when it is not 1.
            random_state: a ``random.Random``, an int seed, or a NumPy ``Generator`` /
                ``RandomState`` to draw a seed from; a fresh, OS-seeded generator when omitted.

        Raises:
            ValueError: an argument of this domain is itself a search-space object, or
                ``size < 1``.
        """
        nested = self._nested_arguments()
        if nested:
            name, value = nested[0]
            raise ValueError(
                f"{self!r} cannot be sampled: its {name} is itself a search-space object "
                f"({value!r}); compute dependent values with sample_from(lambda spec: ...)"
            )
        if isinstance(size, random.Random) and random_state is None:
            # dasktune's earlier signature, sample(spec, rng), still in use.
            size, random_state = 1, size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"sample(size=...) must be an int >= 1, got {size!r}")
        rng = as_random(random_state)
        if size == 1:
            return self._sample(spec, rng)
        return [self._sample(spec, rng) for _ in range(size)]

    def _sample(self, spec: Any, rng: random.Random) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _sample(spec, rng)")

    def _arguments(self) -> list[tuple[str, Any]]:
        """(name, value) of each constructor argument, for nested-search-space checks."""
        return []

    def _nested_arguments(self) -> list[tuple[str, Any]]:
        """The arguments that are, or contain, search-space objects (those cannot be resolved)."""
        return [(name, value) for name, value in self._arguments() if contains_domains(value)]

    @property
    def sampler(self) -> Sampler | None:
        """How values are drawn (Ray's ``Domain.sampler``): a :class:`UniformSampler`,
        :class:`LogUniformSampler`, :class:`Normal`, or a :class:`Quantized` of one of them;
        None for a bare ``Float``/``Integer``/``Categorical`` (drawn uniformly) and functions."""
        make = _SAMPLERS.get(type(self))
        return make(self) if make is not None else None

    def get_sampler(self) -> Sampler | None:
        """:attr:`sampler`, or the uniform default of a bare ``Float``/``Integer``/``Categorical``
        (as Ray's ``get_sampler``); None for functions."""
        sampler = self.sampler
        if sampler is None and isinstance(self, (Float, Integer, Categorical)):
            return UniformSampler()
        return sampler

    def is_grid(self) -> bool:
        """False: a dasktune domain is never a grid (grids are ``grid_search`` dicts)."""
        return False

    def is_function(self) -> bool:
        """Whether the value is computed by a function (``sample_from``)."""
        return False

    def is_valid(self, value: Any) -> bool:
        """Whether ``value`` could have been drawn from this domain."""
        return True

    @property
    def domain_str(self) -> str:
        """A short description, as Ray's ``domain_str``."""
        return repr(self)


class Sampler:
    """How a :class:`Domain` draws values (Ray's ``Sampler``): a description for adapters that
    convert a space; the drawing itself is the domain's."""

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *sorted(vars(self).items(), key=str)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class BaseSampler(Sampler):
    """A sampler that is not a transformation of another (Ray's ``BaseSampler``)."""


class UniformSampler(BaseSampler):
    """Uniform draws (Ray's sampler ``Uniform``; in dasktune ``Uniform`` is the float domain)."""


class LogUniformSampler(BaseSampler):
    """Log-uniform draws in ``base`` (Ray's sampler ``LogUniform``)."""

    def __init__(self, base: float = 10) -> None:
        self.base = base


class Normal(BaseSampler):
    """Normal draws with ``mean`` and ``sd`` (Ray's ``Normal``)."""

    def __init__(self, mean: float = 0.0, sd: float = 1.0) -> None:
        self.mean = mean
        self.sd = sd


class Quantized(Sampler):
    """``sampler``'s draws rounded to multiples of ``q`` (Ray's ``Quantized``)."""

    def __init__(self, sampler: Sampler, q: float) -> None:
        self.sampler = sampler
        self.q = q

    def get_sampler(self) -> Sampler:
        """The sampler being quantized."""
        return self.sampler


class Float(Domain):
    """Floats between ``lower`` and ``upper`` (Ray's ``Float``).

    ``Float(l, u)`` alone draws uniformly; :meth:`uniform`, :meth:`loguniform`, :meth:`normal`
    and :meth:`quantized` return the domains ``tune.uniform(...)`` etc. return, so a space
    written either way converts to every searcher.
    """

    lower: Any = None
    upper: Any = None

    def __init__(self, lower: float | None, upper: float | None) -> None:
        if (lower is None) != (upper is None):
            raise ValueError(
                f"Float(lower, upper): give both bounds, or neither (for .normal()), got "
                f"lower={lower!r}, upper={upper!r}"
            )
        if lower is not None and _check_reals("Float", lower=lower, upper=upper):
            _check_order("Float", lower, upper)
        self.lower = lower
        self.upper = upper

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("lower", self.lower), ("upper", self.upper)]

    def _bare(self, method: str) -> None:
        if type(self) is not Float and type(self) is not Integer:
            raise ValueError(
                f"{self!r}.{method}(): this domain has its sampler already (Ray: 'You can only "
                f"choose one sampler'); start from Float(lower, upper).{method}(...)"
            )

    def _bounds(self, method: str) -> tuple[float, float]:
        if self.lower is None:
            raise ValueError(
                f"Float(None, None).{method}() needs bounds: Float(lower, upper).{method}(); "
                "only .normal() takes no bounds"
            )
        return self.lower, self.upper

    def uniform(self) -> Uniform:
        """The uniform domain on ``[lower, upper)`` (``tune.uniform``)."""
        self._bare("uniform")
        return Uniform(*self._bounds("uniform"))

    def loguniform(self, base: float = 10) -> LogUniform:
        """The log-uniform domain (``tune.loguniform``)."""
        self._bare("loguniform")
        return LogUniform(*self._bounds("loguniform"), base=base)

    def normal(self, mean: float = 0.0, sd: float = 1.0) -> RandN:
        """The normal domain (``tune.randn``); only on ``Float(None, None)``, since normal draws
        are not bounded."""
        self._bare("normal")
        if self.lower is not None:
            raise ValueError(
                f"Float({self.lower!r}, {self.upper!r}).normal(): normal draws are unbounded and "
                "would ignore the bounds; use Float(None, None).normal(mean, sd)"
            )
        return RandN(mean, sd)

    def quantized(self, q: float) -> Domain:
        """This domain's draws rounded to multiples of ``q`` (``tune.quniform``,
        ``tune.qloguniform``, ``tune.qrandn``)."""
        kind = type(self)
        if kind in (Float, Uniform):
            return QUniform(*self._bounds("quantized"), q)
        if kind is LogUniform:
            return QLogUniform(self.lower, self.upper, q, self.base)  # type: ignore[attr-defined]
        if kind is RandN:
            return QRandN(self.mean, self.sd, q)  # type: ignore[attr-defined]
        raise ValueError(f"{self!r}.quantized(): this domain is quantized already")

    def _sample(self, spec: Any, rng: random.Random) -> Any:
        return self.uniform()._sample(spec, rng)

    def is_valid(self, value: Any) -> bool:
        """Whether ``value`` is a real number within the bounds (any real when unbounded)."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        return self.lower is None or self.lower <= value <= self.upper

    def __repr__(self) -> str:
        return f"Float({self.lower!r}, {self.upper!r})"


class Integer(Domain):
    """Integers from ``lower`` to ``upper`` (exclusive), as Ray's ``Integer``.

    ``Integer(l, u)`` alone draws uniformly; :meth:`uniform`, :meth:`loguniform` and
    :meth:`quantized` return ``tune.randint``'s, ``tune.lograndint``'s and ``tune.qrandint``'s
    domains.
    """

    lower: Any
    upper: Any

    def __init__(self, lower: int, upper: int) -> None:
        if _check_ints("Integer", lower=lower, upper=upper):
            _check_order("Integer", lower, upper, note=" (upper is exclusive)")
        self.lower = lower
        self.upper = upper

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("lower", self.lower), ("upper", self.upper)]

    _bare = Float._bare

    def uniform(self) -> RandInt:
        """The uniform domain on ``lower..upper-1`` (``tune.randint``)."""
        self._bare("uniform")
        return RandInt(self.lower, self.upper)

    def loguniform(self, base: float = 10) -> LogRandInt:
        """The log-uniform domain on ``lower..upper-1`` (``tune.lograndint``)."""
        self._bare("loguniform")
        return LogRandInt(self.lower, self.upper, base)

    def quantized(self, q: int) -> Domain:
        """Multiples of ``q`` from ``lower`` to ``upper - 1`` (inclusive, as
        ``tune.qrandint(lower, upper - 1, q)``); both must be multiples of ``q``."""
        kind = type(self)
        if kind not in (Integer, RandInt, LogRandInt):
            raise ValueError(f"{self!r}.quantized(): this domain is quantized already")
        last = self.upper - 1
        if isinstance(q, numbers.Integral) and q > 0 and last % q:
            raise ValueError(
                f"{self!r}.quantized({q!r}): the largest value, upper - 1 = {last}, is not a "
                f"multiple of q; use tune.qrandint(lower, upper, q) with inclusive multiples of q"
            )
        if kind is LogRandInt:
            return QLogRandInt(self.lower, last, q, self.base)  # type: ignore[attr-defined]
        return QRandInt(self.lower, last, q)

    def _sample(self, spec: Any, rng: random.Random) -> Any:
        return rng.randrange(int(self.lower), int(self.upper))

    def is_valid(self, value: Any) -> bool:
        """Whether ``value`` is an int in ``[lower, upper)`` (``[lower, upper]`` when
        quantized, where the upper bound is inclusive)."""
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return False
        inclusive = isinstance(self.sampler, Quantized)
        return self.lower <= value <= self.upper if inclusive else self.lower <= value < self.upper

    def __repr__(self) -> str:
        return f"Integer({self.lower!r}, {self.upper!r})"


class Categorical(Domain):
    """One of ``categories`` (Ray's ``Categorical``); ``Categorical(c)`` alone and
    :meth:`uniform` draw each equally likely (``tune.choice``)."""

    _func = "Categorical"

    def __init__(self, categories: Sequence[Any]) -> None:
        func = self._func
        # A str is a sequence too, but choice("abc") is almost surely a mistake.
        if isinstance(categories, (str, bytes, Mapping, Set)) or not isinstance(
            categories, Iterable
        ):
            raise TypeError(
                f"{func}(): categories must be a non-empty list or tuple of values, "
                f"got {type(categories).__name__} {categories!r}"
            )
        self.categories = list(categories)
        if not self.categories:
            raise ValueError(f"{func}(): categories must be a non-empty list or tuple, got []")

    def _arguments(self) -> list[tuple[str, Any]]:
        return [(f"categories[{i}]", value) for i, value in enumerate(self.categories)]

    def _sample(self, spec: Any, rng: random.Random) -> Any:
        return rng.choice(self.categories)

    def uniform(self) -> Choice:
        """Each category equally likely (``tune.choice``)."""
        if type(self) is not Categorical:
            raise ValueError(f"{self!r}.uniform(): this domain has its sampler already")
        return Choice(self.categories)

    def grid(self) -> dict[str, list[Any]]:
        """Every category in turn: ``grid_search(categories)`` (a dasktune grid is a dict)."""
        return grid_search(self.categories)

    def is_valid(self, value: Any) -> bool:
        """Whether ``value`` is one of the categories."""
        return any(value is c or value == c for c in self.categories)

    def __repr__(self) -> str:
        return f"Categorical({self.categories!r})"


class Uniform(Float):
    """Floats drawn uniformly from ``[lower, upper)``; made by :func:`uniform`."""

    def __init__(self, lower: float, upper: float) -> None:
        if _check_reals("uniform", lower=lower, upper=upper):
            _check_order("uniform", lower, upper)
        self.lower = lower
        self.upper = upper

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("lower", self.lower), ("upper", self.upper)]

    def _sample(self, spec: Any, rng: random.Random) -> float:
        return _below(rng.uniform(self.lower, self.upper), self.lower, self.upper)

    def __repr__(self) -> str:
        return f"uniform({self.lower!r}, {self.upper!r})"


class LogUniform(Float):
    """Floats whose logarithm is uniform, within ``[lower, upper)``; made by :func:`loguniform`."""

    def __init__(self, lower: float, upper: float, base: float = 10) -> None:
        if _check_reals("loguniform", lower=lower, upper=upper, base=base):
            if lower <= 0:
                raise ValueError(
                    f"loguniform(): lower must be > 0 (a logarithm is taken), got {lower!r}"
                )
            _check_order("loguniform", lower, upper)
            if base <= 0 or base == 1:
                raise ValueError(f"loguniform(): base must be > 0 and != 1, got {base!r}")
        self.lower = lower
        self.upper = upper
        self.base = base

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("lower", self.lower), ("upper", self.upper), ("base", self.base)]

    def _sample(self, spec: Any, rng: random.Random) -> float:
        low = math.log(self.lower, self.base)
        high = math.log(self.upper, self.base)
        value = float(self.base ** rng.uniform(low, high))
        # base ** log(x) is not exactly x, so the draw can land a hair outside the bounds.
        return _below(max(value, float(self.lower)), self.lower, self.upper)

    def __repr__(self) -> str:
        return f"loguniform({self.lower!r}, {self.upper!r}, base={self.base!r})"


class QUniform(Float):
    """Uniform floats rounded to multiples of ``q`` in ``[lower, upper]``; see :func:`quniform`."""

    def __init__(self, lower: float, upper: float, q: float) -> None:
        if _check_reals("quniform", lower=lower, upper=upper, q=q):
            _check_order("quniform", lower, upper)
            _check_quantum("quniform", lower, upper, q)
        self.lower = lower
        self.upper = upper
        self.q = q

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("lower", self.lower), ("upper", self.upper), ("q", self.q)]

    def _sample(self, spec: Any, rng: random.Random) -> float:
        first, last = round(self.lower / self.q), round(self.upper / self.q)
        steps = round(rng.uniform(self.lower, self.upper) / self.q)
        return float(_times(min(max(steps, first), last), self.q))

    def __repr__(self) -> str:
        return f"quniform({self.lower!r}, {self.upper!r}, {self.q!r})"


class RandInt(Integer):
    """Integers drawn uniformly from ``[lower, upper)``; made by :func:`randint`."""

    def __init__(self, lower: int, upper: int) -> None:
        if _check_ints("randint", lower=lower, upper=upper):
            _check_order("randint", lower, upper, note=" (upper is exclusive)")
        self.lower = lower
        self.upper = upper

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("lower", self.lower), ("upper", self.upper)]

    def _sample(self, spec: Any, rng: random.Random) -> int:
        return rng.randrange(int(self.lower), int(self.upper))

    def __repr__(self) -> str:
        return f"randint({self.lower!r}, {self.upper!r})"


class QRandInt(Integer):
    """Multiples of ``q`` drawn uniformly from ``[lower, upper]``; made by :func:`qrandint`."""

    def __init__(self, lower: int, upper: int, q: int = 1) -> None:
        if _check_ints("qrandint", lower=lower, upper=upper, q=q):
            _check_order("qrandint", lower, upper)
            _check_quantum("qrandint", lower, upper, q)
        self.lower = lower
        self.upper = upper
        self.q = q

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("lower", self.lower), ("upper", self.upper), ("q", self.q)]

    def _sample(self, spec: Any, rng: random.Random) -> int:
        q = int(self.q)
        return rng.randint(int(self.lower) // q, int(self.upper) // q) * q

    def __repr__(self) -> str:
        return f"qrandint({self.lower!r}, {self.upper!r}, q={self.q!r})"


class RandN(Float):
    """Normally distributed floats; made by :func:`randn`."""

    def __init__(self, mean: float = 0.0, sd: float = 1.0) -> None:
        if _check_reals("randn", mean=mean, sd=sd) and sd <= 0:
            raise ValueError(f"randn(): sd must be > 0, got {sd!r}")
        self.mean = mean
        self.sd = sd

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("mean", self.mean), ("sd", self.sd)]

    def _sample(self, spec: Any, rng: random.Random) -> float:
        return rng.gauss(self.mean, self.sd)

    def __repr__(self) -> str:
        return f"randn({self.mean!r}, {self.sd!r})"


class QLogUniform(Float):
    """Log-uniform floats rounded to multiples of ``q`` in ``[lower, upper]``; see
    :func:`qloguniform`."""

    def __init__(self, lower: float, upper: float, q: float, base: float = 10) -> None:
        if _check_reals("qloguniform", lower=lower, upper=upper, q=q, base=base):
            _check_log("qloguniform", lower, base)
            _check_order("qloguniform", lower, upper)
            _check_quantum("qloguniform", lower, upper, q)
        self.lower = lower
        self.upper = upper
        self.q = q
        self.base = base

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("lower", self.lower), ("upper", self.upper), ("q", self.q), ("base", self.base)]

    def _sample(self, spec: Any, rng: random.Random) -> float:
        value = _log_draw(self.lower, self.upper, self.base, rng)
        return float(_quantize(value, self.lower, self.upper, self.q))

    def __repr__(self) -> str:
        return f"qloguniform({self.lower!r}, {self.upper!r}, {self.q!r}, base={self.base!r})"


class QRandN(Float):
    """Normally distributed floats rounded to multiples of ``q``; made by :func:`qrandn`."""

    def __init__(self, mean: float, sd: float, q: float) -> None:
        if _check_reals("qrandn", mean=mean, sd=sd, q=q):
            if sd <= 0:
                raise ValueError(f"qrandn(): sd must be > 0, got {sd!r}")
            if q <= 0:
                raise ValueError(f"qrandn(): q must be > 0, got {q!r}")
        self.mean = mean
        self.sd = sd
        self.q = q

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("mean", self.mean), ("sd", self.sd), ("q", self.q)]

    def _sample(self, spec: Any, rng: random.Random) -> float:
        return float(_times(round(rng.gauss(self.mean, self.sd) / self.q), self.q))

    def __repr__(self) -> str:
        return f"qrandn({self.mean!r}, {self.sd!r}, {self.q!r})"


class LogRandInt(Integer):
    """Integers in ``[lower, upper)`` whose logarithm is uniform; made by :func:`lograndint`."""

    def __init__(self, lower: int, upper: int, base: float = 10) -> None:
        if _check_ints("lograndint", lower=lower, upper=upper) and _check_reals(
            "lograndint", base=base
        ):
            _check_log("lograndint", lower, base)
            _check_order("lograndint", lower, upper, note=" (upper is exclusive)")
        self.lower = lower
        self.upper = upper
        self.base = base

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("lower", self.lower), ("upper", self.upper), ("base", self.base)]

    def _sample(self, spec: Any, rng: random.Random) -> int:
        value = math.floor(_log_draw(self.lower, self.upper, self.base, rng))
        return min(max(value, int(self.lower)), int(self.upper) - 1)

    def __repr__(self) -> str:
        return f"lograndint({self.lower!r}, {self.upper!r}, base={self.base!r})"


class QLogRandInt(Integer):
    """Log-uniform multiples of ``q`` in ``[lower, upper]``; made by :func:`qlograndint`."""

    def __init__(self, lower: int, upper: int, q: int, base: float = 10) -> None:
        if _check_ints("qlograndint", lower=lower, upper=upper, q=q) and _check_reals(
            "qlograndint", base=base
        ):
            _check_log("qlograndint", lower, base)
            _check_order("qlograndint", lower, upper)
            _check_quantum("qlograndint", lower, upper, q)
        self.lower = lower
        self.upper = upper
        self.q = q
        self.base = base

    def _arguments(self) -> list[tuple[str, Any]]:
        return [("lower", self.lower), ("upper", self.upper), ("q", self.q), ("base", self.base)]

    def _sample(self, spec: Any, rng: random.Random) -> int:
        value = _log_draw(self.lower, self.upper, self.base, rng)
        return int(_quantize(value, self.lower, self.upper, self.q))

    def __repr__(self) -> str:
        return f"qlograndint({self.lower!r}, {self.upper!r}, {self.q!r}, base={self.base!r})"


class Choice(Categorical):
    """One of a fixed list of categories, each equally likely; made by :func:`choice`."""

    _func = "choice"

    def __repr__(self) -> str:
        return f"choice({self.categories!r})"


class Function(Domain):
    """A value computed by a function of the partly resolved config; made by :func:`sample_from`
    (Ray's ``Function``; ``SampleFrom`` is the same class)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        if not callable(func) or isinstance(func, Domain):
            raise TypeError(
                "sample_from(): func must be a callable taking the spec (or no argument), "
                f"got {type(func).__name__} {func!r}"
            )
        self.func = func
        self.pass_spec = _takes_spec(func)

    def _sample(self, spec: Any, rng: random.Random) -> Any:
        return self.func(spec) if self.pass_spec else self.func()

    def is_function(self) -> bool:
        """True: the value is computed by a function of the config."""
        return True

    def __repr__(self) -> str:
        return f"sample_from({getattr(self.func, '__qualname__', repr(self.func))})"


SampleFrom = Function


def uniform(lower: float, upper: float) -> Uniform:
    """Sample a float uniformly from ``[lower, upper)``.

    Raises:
        TypeError: a bound is not a real number.
        ValueError: a bound is not finite, or ``lower >= upper``.
    """
    return Uniform(lower, upper)


def loguniform(lower: float, upper: float, base: float = 10) -> LogUniform:
    """Sample a float from ``[lower, upper)`` so that its logarithm is uniform.

    Use it for values spanning orders of magnitude, such as learning rates. ``base`` only changes
    the logarithm taken, not the distribution of the result; it is kept for Ray compatibility.

    Raises:
        TypeError: an argument is not a real number.
        ValueError: ``lower <= 0``, ``lower >= upper``, ``base <= 0`` or ``base == 1``.
    """
    return LogUniform(lower, upper, base)


def quniform(lower: float, upper: float, q: float) -> QUniform:
    """Sample a float uniformly from ``[lower, upper]`` and round it to a multiple of ``q``.

    Quantization makes the upper bound reachable (inclusive), as in Ray. Like Ray 1.x, ``lower``
    and ``upper`` must themselves be multiples of ``q``, so every value stays within the bounds.
    Values are exact decimal multiples of ``q`` (``0.3``, not ``0.30000000000000004``).

    Raises:
        TypeError: an argument is not a real number.
        ValueError: ``lower >= upper``, ``q <= 0``, or a bound is not a multiple of ``q``.
    """
    return QUniform(lower, upper, q)


def randint(lower: int, upper: int) -> RandInt:
    """Sample an integer uniformly from ``lower`` (inclusive) to ``upper`` (EXCLUSIVE), like Ray.

    Raises:
        TypeError: a bound is not an int.
        ValueError: ``lower >= upper`` (the range would be empty).
    """
    return RandInt(lower, upper)


def qrandint(lower: int, upper: int, q: int = 1) -> QRandInt:
    """Sample an integer multiple of ``q`` uniformly from ``lower`` to ``upper``, BOTH INCLUSIVE.

    Unlike :func:`randint`, the upper bound is inclusive, as documented for Ray 1.x's
    ``tune.qrandint``; ``qrandint(0, 10, 5)`` yields 0, 5 or 10. Like Ray 1.x, ``lower`` and
    ``upper`` must be multiples of ``q``. Each multiple is equally likely (Ray's round-to-nearest
    gives the two end values half the weight; the set of values is the same).

    Raises:
        TypeError: an argument is not an int.
        ValueError: ``lower >= upper``, ``q <= 0``, or a bound is not a multiple of ``q``.
    """
    return QRandInt(lower, upper, q)


def randn(mean: float = 0.0, sd: float = 1.0) -> RandN:
    """Sample a float from the normal distribution with mean ``mean`` and standard deviation ``sd``.

    Raises:
        TypeError: an argument is not a real number.
        ValueError: an argument is not finite, or ``sd <= 0``.
    """
    return RandN(mean, sd)


def qloguniform(lower: float, upper: float, q: float, base: float = 10) -> QLogUniform:
    """Sample a float log-uniformly from ``[lower, upper]`` and round it to a multiple of ``q``.

    Quantization makes the upper bound inclusive, as in Ray. As for :func:`quniform`, ``lower``
    and ``upper`` must be multiples of ``q``.

    Raises:
        TypeError: an argument is not a real number.
        ValueError: ``lower <= 0``, ``lower >= upper``, ``q <= 0``, a bound is not a multiple of
            ``q``, ``base <= 0`` or ``base == 1``.
    """
    return QLogUniform(lower, upper, q, base)


def qrandn(mean: float, sd: float, q: float) -> QRandN:
    """Sample a float from the normal distribution (``mean``, ``sd``) rounded to a multiple of
    ``q``.

    Raises:
        TypeError: an argument is not a real number.
        ValueError: an argument is not finite, ``sd <= 0`` or ``q <= 0``.
    """
    return QRandN(mean, sd, q)


def lograndint(lower: int, upper: int, base: float = 10) -> LogRandInt:
    """Sample an integer log-uniformly from ``lower`` (inclusive) to ``upper`` (EXCLUSIVE), like
    Ray 1.x's ``tune.lograndint``.

    Raises:
        TypeError: a bound is not an int, or ``base`` not a real number.
        ValueError: ``lower <= 0``, ``lower >= upper``, ``base <= 0`` or ``base == 1``.
    """
    return LogRandInt(lower, upper, base)


def qlograndint(lower: int, upper: int, q: int, base: float = 10) -> QLogRandInt:
    """Sample an integer multiple of ``q`` log-uniformly from ``lower`` to ``upper``, BOTH
    INCLUSIVE (quantization makes the upper bound inclusive, as in Ray 1.x's
    ``tune.qlograndint``). ``lower`` and ``upper`` must be multiples of ``q``.

    Raises:
        TypeError: a bound or ``q`` is not an int, or ``base`` not a real number.
        ValueError: ``lower <= 0``, ``lower >= upper``, ``q <= 0``, a bound is not a multiple of
            ``q``, ``base <= 0`` or ``base == 1``.
    """
    return QLogRandInt(lower, upper, q, base)


def choice(categories: Sequence[Any]) -> Choice:
    """Sample one of ``categories`` (a non-empty list or tuple), each equally likely.

    The categories must be concrete values: a domain or grid search among them is rejected by
    ``generate_variants``; use ``grid_search`` over the alternatives, or a ``sample_from``.

    Raises:
        TypeError: ``categories`` is a str, a mapping, a set or not iterable.
        ValueError: ``categories`` is empty.
    """
    return Choice(categories)


def sample_from(func: Callable[..., Any]) -> SampleFrom:
    """Compute a config value with ``func(spec)``, as Ray's ``tune.sample_from``.

    ``func`` runs once per variant, after that variant's grid values and plain domains are set.
    ``spec.config`` (or ``spec["config"]``) is the variant's config, readable both by item and by
    attribute, nested dicts too: ``lambda spec: spec.config.model.width * 2``. It may read other
    ``sample_from`` values; they are resolved in passes, and a cycle is an error. ``spec.rng`` is
    the variant's ``random.Random`` (seeded when ``generate_variants`` gets a seed), for functions
    that want reproducible randomness. ``func`` may also take no argument at all.

    Raises:
        TypeError: ``func`` is not callable, or cannot be called with one argument or none.
    """
    return SampleFrom(func)


def grid_search(values: list[Any] | tuple[Any, ...]) -> dict[str, list[Any]]:
    """Try every one of ``values``: returns ``{"grid_search": list(values)}``, exactly as Ray.

    Every grid search in a config multiplies the number of variants by its length; the whole grid
    is repeated ``num_samples`` times. Values may themselves contain grid searches and domains
    (conditional search spaces), which are expanded when that value is chosen.

    Raises:
        TypeError: ``values`` is not a list or tuple.
        ValueError: ``values`` is empty.
    """
    if not isinstance(values, (list, tuple)):
        raise TypeError(
            f"grid_search(): values must be a non-empty list or tuple, got "
            f"{type(values).__name__} {values!r}; wrap it with list(...)"
        )
    if not values:
        raise ValueError("grid_search(): values must be a non-empty list or tuple, got []")
    return {GRID_SEARCH_KEY: list(values)}


def _check_reals(func: str, **arguments: Any) -> bool:
    """Check each argument is a finite real; False when one is a search-space object.

    Search-space arguments are left for ``generate_variants`` to reject with the key path.
    """
    concrete = True
    for name, value in arguments.items():
        if contains_domains(value):
            concrete = False
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"{func}(): {name} must be a real number, got {type(value).__name__} {value!r}"
            )
        elif not math.isfinite(value):
            raise ValueError(f"{func}(): {name} must be finite, got {value!r}")
    return concrete


def _check_ints(func: str, **arguments: Any) -> bool:
    """Like :func:`_check_reals` but for integer arguments."""
    concrete = True
    for name, value in arguments.items():
        if contains_domains(value):
            concrete = False
        elif isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(
                f"{func}(): {name} must be an int, got {type(value).__name__} {value!r}"
            )
    return concrete


def _check_log(func: str, lower: float, base: float) -> None:
    if lower <= 0:
        raise ValueError(f"{func}(): lower must be > 0 (a logarithm is taken), got {lower!r}")
    if base <= 0 or base == 1:
        raise ValueError(f"{func}(): base must be > 0 and != 1, got {base!r}")


def _log_draw(lower: float, upper: float, base: float, rng: random.Random) -> float:
    """A float in ``[lower, upper]`` whose logarithm is uniform."""
    value = float(base ** rng.uniform(math.log(lower, base), math.log(upper, base)))
    return min(max(value, float(lower)), float(upper))


def _quantize(value: float, lower: float, upper: float, q: float) -> Decimal | int:
    """The multiple of ``q`` nearest to ``value``, kept within ``[lower, upper]`` (multiples of
    ``q`` themselves)."""
    first, last = round(lower / q), round(upper / q)
    return _times(min(max(round(value / q), first), last), q)


def _check_order(func: str, lower: float, upper: float, note: str = "") -> None:
    if lower >= upper:
        raise ValueError(
            f"{func}(): lower must be < upper{note}, got lower={lower!r}, upper={upper!r}"
        )


def _check_quantum(func: str, lower: float, upper: float, q: float) -> None:
    if q <= 0:
        raise ValueError(f"{func}(): q must be > 0, got {q!r}")
    for name, bound in (("lower", lower), ("upper", upper)):
        if not _is_multiple(bound, q):
            raise ValueError(
                f"{func}(): {name} must be a multiple of q={q!r} (so that every value lies "
                f"within the bounds), got {name}={bound!r}"
            )


def _is_multiple(value: float, q: float) -> bool:
    if isinstance(value, numbers.Integral) and isinstance(q, numbers.Integral):
        return value % q == 0
    # Float division is inexact (0.3 / 0.1 == 2.9999999999999996), hence the tolerance.
    steps = value / q
    return math.isclose(steps, round(steps), rel_tol=1e-9, abs_tol=1e-9)


def _below(value: float, lower: float, upper: float) -> float:
    """Clamp a float draw into ``[lower, upper)``: float rounding can reach ``upper`` itself."""
    return value if value < upper else max(float(lower), math.nextafter(float(upper), -math.inf))


def _times(steps: int, q: float) -> Decimal | int:
    """``steps * q`` in decimal, so that 3 * 0.1 gives 0.3 rather than 0.30000000000000004."""
    if isinstance(q, numbers.Integral):
        return steps * int(q)
    return Decimal(steps) * Decimal(repr(float(q)))


def _takes_spec(func: Callable[..., Any]) -> bool:
    """Whether ``func`` is called with the spec (Ray also accepts zero-argument functions)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        # No introspectable signature (some builtins): assume Ray's usual one-argument form.
        return True
    try:
        signature.bind(None)
        return True
    except TypeError:
        pass
    try:
        signature.bind()
        return False
    except TypeError:
        raise TypeError(
            f"sample_from(): func must accept one argument (the spec) or none, "
            f"got {getattr(func, '__qualname__', func)!r} with signature {signature}"
        ) from None


def as_random(random_state: RandomState) -> random.Random:
    """A ``random.Random`` from what Ray's ``sample(random_state=...)`` takes: None (fresh), a
    ``random.Random`` (used as is), an int seed, or a NumPy ``Generator``/``RandomState`` (a
    seed is drawn from it, so it advances as Ray's would)."""
    if random_state is None:
        return random.Random()
    if isinstance(random_state, random.Random):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return random.Random(int(random_state))
    integers = getattr(random_state, "integers", None) or getattr(random_state, "randint", None)
    if callable(integers):
        return random.Random(int(integers(0, 2**63 - 1)))
    raise TypeError(
        "random_state must be None, an int seed, a random.Random or a numpy Generator/"
        f"RandomState, got {type(random_state).__name__}"
    )


def canonical(domain: Domain) -> Domain:
    """The ``tune.*`` domain a bare Ray-style ``Float``/``Integer``/``Categorical`` stands for
    (each draws uniformly); any other domain unchanged. Adapters convert this one."""
    kind = type(domain)
    if kind in (Float, Integer, Categorical) and (kind is not Float or domain.lower is not None):
        return domain.uniform()  # type: ignore[attr-defined]
    return domain


_SAMPLERS: dict[type, Callable[[Any], Sampler]] = {
    Uniform: lambda d: UniformSampler(),
    LogUniform: lambda d: LogUniformSampler(d.base),
    QUniform: lambda d: Quantized(UniformSampler(), d.q),
    QLogUniform: lambda d: Quantized(LogUniformSampler(d.base), d.q),
    RandN: lambda d: Normal(d.mean, d.sd),
    QRandN: lambda d: Quantized(Normal(d.mean, d.sd), d.q),
    RandInt: lambda d: UniformSampler(),
    QRandInt: lambda d: Quantized(UniformSampler(), d.q),
    LogRandInt: lambda d: LogUniformSampler(d.base),
    QLogRandInt: lambda d: Quantized(LogUniformSampler(d.base), d.q),
    Choice: lambda d: UniformSampler(),
}
