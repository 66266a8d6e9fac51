"""Finding the part of the user's data or code that cannot be pickled.

Pickling fails with a bare message ("cannot pickle '_thread.lock' object") that names neither
the config key, the result key nor the class attribute that holds the culprit. These helpers
are run only after a pickle failed, to name it: the key path inside a config or a result, or
the member of a trainable class or function (class attribute, global, closure variable,
default) that holds it. Each step re-pickles a smaller part, which is slow but only ever runs
on the failure path.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

# What is tried on a value: a pickler's dumps, or copy.deepcopy (both fail on the same objects).
Attempt = Callable[[Any], Any]
Path = tuple[Any, ...]

# Class members every class has, which never hold user state.
_SKIPPED_MEMBERS = frozenset(
    {"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "__annotations__"}
)
# How deep the search for a culprit follows classes, functions and their globals.
_MAX_DEPTH = 6


def type_name(value: Any) -> str:
    """The type of ``value`` as users know it: ``_thread.lock``, ``socket.socket``, ``str``."""
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _fails(dumps: Attempt, value: Any) -> BaseException | None:
    try:
        dumps(value)
    except Exception as exc:  # noqa: BLE001 - any pickling error counts
        return exc
    return None


def unpicklable_path(value: Any, dumps: Attempt) -> tuple[Path, Any, BaseException] | None:
    """Where in ``value`` (nested dicts, lists, tuples) the innermost part that ``dumps``
    cannot pickle sits: ``(key path, that part, its error)``, or None when ``value`` pickles."""
    error = _fails(dumps, value)
    if error is None:
        return None
    return _descend(value, (), dumps, error, set())


def _descend(
    value: Any, path: Path, dumps: Attempt, error: BaseException, seen: set[int]
) -> tuple[Path, Any, BaseException]:
    seen.add(id(value))  # a container holding itself is walked once
    for key, item in _items(value):
        if id(item) in seen:
            continue
        inner = _fails(dumps, item)
        if inner is not None:
            return _descend(item, (*path, key), dumps, inner, seen)
    return path, value, error


def _items(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, dict):
        yield from value.items()
    elif isinstance(value, (list, tuple)):
        yield from enumerate(value)


def unpicklable_member(obj: Any, label: str, dumps: Attempt) -> tuple[str, Any, BaseException]:
    """What makes a class or function unpicklable: ``(label, culprit, error)``.

    ``label`` names the culprit from ``obj`` on, e.g. ``MyTrainable.lock`` or
    ``train -> global LOCK``. Plain data members are tried before methods, so a method that
    refers back to its own class does not take the blame for the class's attribute. Falls back
    to ``obj`` itself when no single member fails on its own.
    """
    error = _fails(dumps, obj)
    if error is None:
        raise ValueError(f"{label} pickles; there is no culprit to find")
    return _member(obj, label, dumps, error, {id(obj)}, 0)


def _member(
    obj: Any, label: str, dumps: Attempt, error: BaseException, seen: set[int], depth: int
) -> tuple[str, Any, BaseException]:
    if depth < _MAX_DEPTH:
        for name, value in _members(obj):
            if id(value) in seen:
                continue
            inner = _fails(dumps, value)
            if inner is not None:
                seen.add(id(value))
                return _member(value, f"{label}{name}", dumps, inner, seen, depth + 1)
    return label, obj, error


def _members(obj: Any) -> Iterator[tuple[str, Any]]:
    """``(label suffix, member)`` of a class or function, plain data first."""
    if inspect.isclass(obj):
        data: list[tuple[str, Any]] = []
        code: list[tuple[str, Any]] = []
        for name, value in vars(obj).items():
            if name in _SKIPPED_MEMBERS:
                continue
            value = getattr(value, "__func__", value)  # staticmethod, classmethod
            if isinstance(value, property):
                value = value.fget
            target = code if callable(value) else data
            target.append((f".{name}", value))
        yield from data
        yield from code
        for base in obj.__bases__:
            if base.__module__ != "builtins" and not base.__module__.startswith("dasktune"):
                yield f" (base class {base.__qualname__})", base
    elif isinstance(obj, types.FunctionType):
        code_obj = obj.__code__
        for name, cell in zip(code_obj.co_freevars, obj.__closure__ or (), strict=False):
            try:
                yield f" -> closure variable {name}", cell.cell_contents
            except ValueError:  # an empty cell
                continue
        for index, value in enumerate(obj.__defaults__ or ()):
            yield f" -> default argument {index}", value
        for name, value in (obj.__kwdefaults__ or {}).items():
            yield f" -> default of {name}", value
        for name in sorted(_global_names(code_obj)):
            if name in obj.__globals__:
                yield f" -> global {name}", obj.__globals__[name]
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield f"[{key!r}]", value
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            yield f"[{index}]", value
    elif not isinstance(obj, types.ModuleType) and isinstance(getattr(obj, "__dict__", None), dict):
        for name, value in vars(obj).items():  # an instance: its attributes
            yield f".{name}", value


def _global_names(code: types.CodeType) -> set[str]:
    """Names a function's code (and the code nested in it) may read as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names
