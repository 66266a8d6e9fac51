"""Turn a config holding search-space objects into concrete variants, with Ray 1.x semantics.

Order of work for each variant: expand the grid (every ``grid_search``, including grid searches
inside a chosen grid value), then sample the plain domains, then evaluate the ``sample_from``
functions in passes until all are resolved. The whole grid is repeated ``num_samples`` times, in
the order of Ray's ``BasicVariantGenerator``.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import numbers
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from dasktune.search.sample import (
    GRID_SEARCH_KEY,
    Domain,
    SampleFrom,
    contains_domains,
    is_grid_search,
    is_search_space,
)

__all__ = [
    "SampleSpec",
    "Variant",
    "count_variants",
    "format_path",
    "generate_variants",
    "iter_variants",
]

Path = tuple[Any, ...]

# Characters that break, or are awkward in, a directory name on Linux, macOS or Windows.
_UNSAFE_IN_DIRNAME = re.compile(r'[\\/:*?"<>|\s\x00-\x1f\x7f]')


@dataclass(frozen=True)
class Variant:
    """One concrete configuration to run.

    Attributes:
        config: the fully resolved config, a deep copy owned by this variant.
        tag: Ray's experiment tag of the sampled and grid values, e.g. ``"lr=0.1,momentum=0.9"``;
            ``""`` when nothing was sampled. Ray's trial names prefix it with the trial index.
    """

    config: dict[str, Any]
    tag: str


class SampleSpec:
    """What a ``sample_from`` function receives.

    ``spec.config`` and ``spec["config"]`` give the variant's config so far, readable by item and
    by attribute (nested dicts too). Reading a value that is not resolved yet makes the resolver
    retry the function later. ``spec.rng`` is the variant's ``random.Random``.
    """

    __slots__ = ("_config", "rng")

    def __init__(self, config: dict[str, Any], rng: random.Random) -> None:
        self._config = config
        self.rng = rng

    @property
    def config(self) -> _ConfigView:
        """The config, as a read-only-in-effect view (writes go to a throwaway copy)."""
        return _ConfigView(self._config, ())

    def __getitem__(self, key: str) -> Any:
        if key == "config":
            return self.config
        raise KeyError(f"spec has only the key 'config', not {key!r}")

    def __repr__(self) -> str:
        return f"SampleSpec(config={self._config!r})"


def generate_variants(
    config: dict[str, Any], num_samples: int = 1, seed: int | None = None
) -> list[Variant]:
    """Resolve ``config`` into ``count_variants(config, num_samples)`` variants.

    Args:
        config: a dict whose values (walked through nested dicts and lists) may be domains
            (``uniform()``, ``choice()``, ``sample_from()``, ...) or ``grid_search()`` dicts.
        num_samples: how many times the whole grid is repeated; random domains are sampled
            afresh for every variant.
        seed: makes the output reproducible; ``None`` draws from OS entropy.

    Returns:
        The variants, in Ray's order: for each of the ``num_samples`` repeats, every grid
        combination, where grid searches are sorted by key path and the first varies fastest.

    Raises:
        TypeError: ``config`` is not a dict, or ``seed`` is not an int or None.
        ValueError: ``num_samples`` is not an int >= 1; a search-space object sits where it cannot
            be resolved; a ``sample_from`` function fails, returns a search-space object, or
            depends on itself. Messages name the key path, e.g. ``config["model"]["lr"]``.
    """
    _check_arguments(config, num_samples, seed)  # no endless num_samples=-1 for a list
    return list(iter_variants(config, num_samples, seed))


def iter_variants(
    config: dict[str, Any], num_samples: int = 1, seed: int | None = None
) -> Iterator[Variant]:
    """Like :func:`generate_variants`, but lazily, one variant at a time; ``num_samples=-1``
    repeats the grid without end.

    The config is checked before this returns, so placement errors are raised here; errors of
    ``sample_from`` functions are raised while iterating.
    """
    _check_arguments(config, num_samples, seed, endless_ok=True)
    _check_placement(config, ())
    return _variants(config, num_samples, random.Random(seed))


def count_variants(config: dict[str, Any], num_samples: int = 1) -> int:
    """How many variants :func:`generate_variants` would return, without sampling anything.

    That is the grid size (the product of grid-search lengths, nested grid searches counted
    per value) times ``num_samples``. Raises as :func:`generate_variants` does for bad input.
    """
    _check_arguments(config, num_samples, None)
    _check_placement(config, ())
    return _grid_size(config) * num_samples


def format_path(path: Path, root: str = "config") -> str:
    """Render a key path as Python indexing into ``root``: ``config["model"]["layers"][2]``."""
    parts = (
        f"[{json.dumps(key, ensure_ascii=False)}]" if isinstance(key, str) else f"[{key!r}]"
        for key in path
    )
    return root + "".join(parts)


def _variants(config: dict[str, Any], num_samples: int, rng: random.Random) -> Iterator[Variant]:
    # num_samples=-1 repeats the grid until the run ends it (time_budget_s, a Stopper).
    for _ in itertools.count() if num_samples < 0 else range(num_samples):
        for grid_paths, resolved in _expand_grid(copy.deepcopy(config)):
            domain_paths = _resolve_domains(resolved, rng)
            yield Variant(config=resolved, tag=_format_tag(resolved, grid_paths + domain_paths))


# --- argument and placement checks -------------------------------------------------------------


def _check_arguments(config: Any, num_samples: Any, seed: Any, endless_ok: bool = False) -> None:
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__} {config!r}")
    if is_grid_search(config):
        raise ValueError(
            "config itself is a grid_search; put the grid search under a key, "
            'e.g. {"model": tune.grid_search([...])}'
        )
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral):
        raise ValueError(
            f"num_samples must be an int >= 1, got {type(num_samples).__name__} {num_samples!r}"
        )
    if num_samples < 1 and not (endless_ok and num_samples == -1):
        limit = ", or -1 for no limit" if endless_ok else ""
        raise ValueError(f"num_samples must be an int >= 1{limit}, got {num_samples!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__} {seed!r}")


def _check_placement(obj: Any, path: Path) -> None:
    """Raise if a search-space object sits somewhere it would silently stay unresolved."""
    if isinstance(obj, Domain):
        _check_domain_arguments(obj, path)
    elif is_grid_search(obj):
        _check_grid_values(obj, path)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if contains_domains(key):
                raise ValueError(
                    f"{format_path(path)} has a search-space object as a dict key ({key!r}); "
                    "only values are resolved: use a fixed key and put the search space in its "
                    "value"
                )
            _check_placement(value, (*path, key))
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            _check_placement(item, (*path, index))
    elif isinstance(obj, (tuple, set, frozenset)) and contains_domains(obj):
        kind = type(obj).__name__
        raise ValueError(
            f"{format_path(_locate(obj, path))} is a search-space object inside a {kind} "
            f"({format_path(path)}); only dicts and lists are searched: use a list instead of "
            f"the {kind}, or build the {kind} with tune.sample_from(lambda spec: ...)"
        )


def _check_domain_arguments(domain: Domain, path: Path) -> None:
    nested = domain._nested_arguments()
    if nested:
        name, value = nested[0]
        raise ValueError(
            f"{format_path(path)}: the {name} of {domain!r} is itself a search-space object "
            f"({value!r}), which is never resolved: use tune.sample_from(lambda spec: ...) to "
            "compute the value, or tune.grid_search over the alternatives"
        )


def _check_grid_values(grid: dict[str, Any], path: Path) -> None:
    values = grid[GRID_SEARCH_KEY]
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(
            f"{format_path(path)} is a grid search whose values are not a non-empty list "
            f"(got {values!r}); write tune.grid_search([...])"
        )
    # Chosen grid values are walked again after they are set, so they may hold search spaces.
    for index, value in enumerate(values):
        _check_placement(value, (*path, GRID_SEARCH_KEY, index))


def _locate(obj: Any, path: Path) -> Path:
    """Key path of the first search-space object in ``obj`` (set members have no index)."""
    if is_search_space(obj):
        return path
    if isinstance(obj, dict):
        entries: list[tuple[Any, Any]] = list(obj.items())
    elif isinstance(obj, (list, tuple)):
        entries = list(enumerate(obj))
    else:
        return path
    for key, value in entries:
        if contains_domains(value):
            return _locate(value, (*path, key))
    return path


# --- grid expansion ---------------------------------------------------------------------------


def _expand_grid(spec: dict[str, Any]) -> Iterator[tuple[list[Path], dict[str, Any]]]:
    """Yield (grid paths, spec) for every grid combination; ``spec`` must be a private copy."""
    grids: list[Path] = []
    _find_grids(spec, (), grids)
    if not grids:
        yield [], spec
        return
    grids.sort(key=_path_sort_key)
    sizes = [len(_get(spec, path)[GRID_SEARCH_KEY]) for path in grids]
    for indices in _ray_grid_order(sizes):
        variant = copy.deepcopy(spec)
        for path, index in zip(grids, indices, strict=True):
            _assign(variant, path, _get(variant, path)[GRID_SEARCH_KEY][index])
        # A chosen value may itself hold grid searches (conditional search spaces).
        for inner_paths, inner in _expand_grid(variant):
            yield grids + inner_paths, inner


def _ray_grid_order(sizes: list[int]) -> Iterator[tuple[int, ...]]:
    """Index tuples of the cartesian product with the FIRST position varying fastest.

    That is the order of Ray's ``_grid_search_generator``, so trial order matches Ray's.
    """
    for reversed_indices in itertools.product(*(range(size) for size in reversed(sizes))):
        yield reversed_indices[::-1]


def _find_grids(obj: Any, path: Path, found: list[Path]) -> None:
    """Collect the paths of the outermost grid searches (values are expanded later)."""
    if is_grid_search(obj):
        found.append(path)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _find_grids(value, (*path, key), found)
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            _find_grids(item, (*path, index), found)


def _grid_size(obj: Any) -> int:
    if is_grid_search(obj):
        return sum(_grid_size(value) for value in obj[GRID_SEARCH_KEY])
    if isinstance(obj, dict):
        return math.prod(_grid_size(value) for value in obj.values())
    if isinstance(obj, list):
        return math.prod(_grid_size(item) for item in obj)
    return 1


def _path_sort_key(path: Path) -> tuple[tuple[int, Any], ...]:
    """Sort like Ray's sorted paths, without comparing an int index to a str key."""
    return tuple((0, key) if isinstance(key, int) else (1, str(key)) for key in path)


def _get(root: Any, path: Path) -> Any:
    for key in path:
        root = root[key]
    return root


def _assign(root: Any, path: Path, value: Any) -> None:
    _get(root, path[:-1])[path[-1]] = value


# --- sampling ---------------------------------------------------------------------------------


def _resolve_domains(config: dict[str, Any], rng: random.Random) -> list[Path]:
    """Sample every domain of a grid-resolved config in place; return their paths."""
    found: list[tuple[Path, Domain]] = []
    _find_domains(config, (), found)
    functions = [(path, domain) for path, domain in found if isinstance(domain, SampleFrom)]
    for path, domain in found:
        if not isinstance(domain, SampleFrom):
            _assign(config, path, domain.sample(None, random_state=rng))
    _resolve_functions(config, functions, rng)
    return [path for path, _ in found]


def _find_domains(obj: Any, path: Path, found: list[tuple[Path, Domain]]) -> None:
    if isinstance(obj, Domain):
        found.append((path, obj))
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _find_domains(value, (*path, key), found)
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            _find_domains(item, (*path, index), found)


def _resolve_functions(
    config: dict[str, Any], pending: list[tuple[Path, SampleFrom]], rng: random.Random
) -> None:
    """Evaluate ``sample_from`` functions in passes until none is left.

    A function that reads an unresolved value, or fails, is retried in the next pass; once a
    whole pass resolves nothing, the remaining ones can never succeed.
    """
    spec = SampleSpec(config, rng)
    while pending:
        failures: dict[Path, Exception] = {}
        for path, domain in pending:
            try:
                value = _finalize(domain.sample(spec, random_state=rng), pending)
            except Exception as error:
                failures[path] = error
                continue
            _check_function_result(value, path, domain)
            _assign(config, path, value)
        if len(failures) == len(pending):
            _raise_resolution_error(failures)
        pending = [(path, domain) for path, domain in pending if path in failures]


def _finalize(value: Any, pending: list[tuple[Path, SampleFrom]]) -> Any:
    """Turn config views in a function's result back into plain, independent data."""
    if isinstance(value, (_ConfigView, _ListView)):
        return _unview(value)
    if type(value) in (list, tuple):
        return type(value)(_finalize(item, pending) for item in value)
    if type(value) is dict:
        return {key: _finalize(item, pending) for key, item in value.items()}
    pending_ids = {id(domain) for _, domain in pending}
    if id(value) in pending_ids:
        # The function copied an unresolved value past the view (e.g. dict(spec.config)).
        raise _UnresolvedAccess(next(path for path, domain in pending if domain is value))
    return value


def _check_function_result(value: Any, path: Path, domain: SampleFrom) -> None:
    if contains_domains(value):
        raise ValueError(
            f"{format_path(path)}: {domain!r} returned a search-space object "
            f"({value!r}); a sample_from function must return a concrete value"
        )


def _raise_resolution_error(failures: dict[Path, Exception]) -> NoReturn:
    # A real failure explains more than the waits it may have caused in other functions.
    for path, error in failures.items():
        if not isinstance(error, _UnresolvedAccess):
            raise ValueError(
                f"the sample_from function at {format_path(path)} failed: "
                f"{type(error).__name__}: {error}"
            ) from error
    waits = "; ".join(
        f"{format_path(path)} needs {format_path(error.path)}"
        for path, error in failures.items()
        if isinstance(error, _UnresolvedAccess)
    )
    raise ValueError(
        f"sample_from values depend on each other in a cycle and can never be resolved: {waits}. "
        "Make each function read only values that do not (indirectly) read it"
    )


# --- tags -------------------------------------------------------------------------------------


def _format_tag(config: dict[str, Any], paths: list[Path]) -> str:
    """Ray's ``format_vars``: ``name=value`` pairs sorted by path, joined with commas."""
    # A grid value that is itself a grid search is found twice at the same path.
    unique = sorted(dict.fromkeys(paths), key=_path_sort_key)
    pairs = (f"{_clean(_tag_name(path))}={_clean(_get(config, path))}" for path in unique)
    return ",".join(pairs)


def _tag_name(path: Path) -> str:
    """Ray's rule: every int index, but of the other keys only the last one.

    ("model", "layers", 2) -> "layers_2"; ("blocks", 0, "width") -> "0_width".
    """
    pieces: list[str] = []
    named = False
    for key in reversed(path):
        if isinstance(key, int) and not isinstance(key, bool):
            pieces.append(str(key))
        elif not named:
            named = True
            pieces.append(str(key))
    return "_".join(reversed(pieces))


def _clean(value: Any) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        text = f"{float(value):.5}"
    else:
        text = str(value)
    return _UNSAFE_IN_DIRNAME.sub("_", text)


# --- the config view handed to sample_from functions --------------------------------------------


class _UnresolvedAccess(Exception):
    """A ``sample_from`` function read a value that is not resolved yet; retried later."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{format_path(path)} is not resolved yet")
        self.path = path


def _guard(value: Any, path: Path) -> Any:
    if is_search_space(value):
        raise _UnresolvedAccess(path)
    if isinstance(value, dict):
        return _ConfigView(value, path)
    if isinstance(value, list):
        return _ListView(value, path)
    return value


class _ConfigView(dict):  # type: ignore[type-arg]
    """A shallow copy of a config dict with attribute access and unresolved-value guards.

    As in Ray, a key wins over a dict method of the same name: ``spec.config.items`` is the
    ``"items"`` entry when there is one.
    """

    __slots__ = ("_dasktune_path",)

    def __init__(self, data: dict[Any, Any], path: Path) -> None:
        super().__init__(data)
        self._dasktune_path = path

    def __getitem__(self, key: Any) -> Any:
        return _guard(dict.__getitem__(self, key), (*self._dasktune_path, key))

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_") and dict.__contains__(self, name):
            return self[name]
        return super().__getattribute__(name)

    def __getattr__(self, name: str) -> Any:
        # Dunder lookups (copy, pickle) must not turn into key lookups.
        if name.startswith("__") or not dict.__contains__(self, name):
            raise AttributeError(f"{format_path(self._dasktune_path)} has no key {name!r}")
        return self[name]

    def get(self, key: Any, default: Any = None) -> Any:
        """The guarded value of ``key``, or ``default`` when the key is missing."""
        return self[key] if dict.__contains__(self, key) else default

    def values(self) -> list[Any]:  # type: ignore[override]
        """The guarded values."""
        return [self[key] for key in self]

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        """The (key, guarded value) pairs."""
        return [(key, self[key]) for key in self]


class _ListView(list):  # type: ignore[type-arg]
    """A shallow copy of a config list whose items are guarded like :class:`_ConfigView`'s."""

    __slots__ = ("_dasktune_path", "_dasktune_indices")

    def __init__(self, data: list[Any], path: Path, indices: list[int] | None = None) -> None:
        super().__init__(data)
        self._dasktune_path = path
        # Positions in the config's list, so that a slice still reports true key paths.
        self._dasktune_indices = list(range(len(data))) if indices is None else indices

    def __getitem__(self, index: Any) -> Any:
        indices = self._dasktune_indices
        if isinstance(index, slice):
            return _ListView(list.__getitem__(self, index), self._dasktune_path, indices[index])
        return _guard(list.__getitem__(self, index), (*self._dasktune_path, indices[index]))

    def __iter__(self) -> Iterator[Any]:
        for position in range(len(self)):
            yield self[position]


def _view_entries(view: _ConfigView | _ListView) -> list[tuple[Any, Any]]:
    """(key path component, raw value) of a view's entries, bypassing the guards."""
    if isinstance(view, _ConfigView):
        return [(key, dict.__getitem__(view, key)) for key in dict.keys(view)]
    return list(zip(view._dasktune_indices, list.__iter__(view), strict=True))


def _unview(view: _ConfigView | _ListView) -> Any:
    """A deep, plain copy of the config part behind ``view``; raises if it is unresolved."""
    entries = _view_entries(view)
    for key, value in entries:
        if contains_domains(value):
            raise _UnresolvedAccess(_locate(value, (*view._dasktune_path, key)))
    if isinstance(view, _ConfigView):
        plain: Any = dict(entries)
    else:
        plain = [value for _, value in entries]
    # A copy, so the variant's config never holds two aliases of one mutable object.
    return copy.deepcopy(plain)
