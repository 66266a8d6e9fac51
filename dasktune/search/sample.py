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

__all__ = [
    "GRID_SEARCH_KEY",
    "Choice",
    "Domain",
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

    Subclasses implement ``_sample`` and ``_arguments``; callers use :meth:`sample`.
    """

    def sample(self, spec: Any = None, rng: random.Random | None = None) -> Any:
        """Draw one value.

        Args:
            spec: what a ``sample_from`` function receives (see :func:`sample_from`); the plain
                distributions ignore it.
            rng: the random generator to draw from; a fresh, OS-seeded one when omitted.

        Raises:
            ValueError: an argument of this domain is itself a search-space object.
        """
        nested = self._nested_arguments()
        if nested:
            name, value = nested[0]
            raise ValueError(
                f"{self!r} cannot be sampled: its {name} is itself a search-space object "
                f"({value!r}); compute dependent values with sample_from(lambda spec: ...)"
            )
        return self._sample(spec, rng if rng is not None else random.Random())

    def _sample(self, spec: Any, rng: random.Random) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _sample(spec, rng)")

    def _arguments(self) -> list[tuple[str, Any]]:
        """(name, value) of each constructor argument, for nested-search-space checks."""
        return []

    def _nested_arguments(self) -> list[tuple[str, Any]]:
        """The arguments that are, or contain, search-space objects (those cannot be resolved)."""
        return [(name, value) for name, value in self._arguments() if contains_domains(value)]


class Uniform(Domain):
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


class LogUniform(Domain):
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


class QUniform(Domain):
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


class RandInt(Domain):
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


class QRandInt(Domain):
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


class RandN(Domain):
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


class QLogUniform(Domain):
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


class QRandN(Domain):
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


class LogRandInt(Domain):
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


class QLogRandInt(Domain):
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


class Choice(Domain):
    """One of a fixed list of categories, each equally likely; made by :func:`choice`."""

    def __init__(self, categories: Sequence[Any]) -> None:
        # A str is a sequence too, but choice("abc") is almost surely a mistake.
        if isinstance(categories, (str, bytes, Mapping, Set)) or not isinstance(
            categories, Iterable
        ):
            raise TypeError(
                "choice(): categories must be a non-empty list or tuple of values, "
                f"got {type(categories).__name__} {categories!r}"
            )
        self.categories = list(categories)
        if not self.categories:
            raise ValueError("choice(): categories must be a non-empty list or tuple, got []")

    def _arguments(self) -> list[tuple[str, Any]]:
        return [(f"categories[{i}]", value) for i, value in enumerate(self.categories)]

    def _sample(self, spec: Any, rng: random.Random) -> Any:
        return rng.choice(self.categories)

    def __repr__(self) -> str:
        return f"choice({self.categories!r})"


class SampleFrom(Domain):
    """A value computed by a function of the partly resolved config; made by :func:`sample_from`."""

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

    def __repr__(self) -> str:
        return f"sample_from({getattr(self.func, '__qualname__', repr(self.func))})"


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
