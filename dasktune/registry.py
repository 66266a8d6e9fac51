"""``register_trainable`` and name lookup (the driver-side registry of ``tune.run("name")``)."""

from __future__ import annotations

import inspect
import threading
from typing import Any

from .function_trainable import trainable_name_of, wrap_function
from .trainable import Trainable

_lock = threading.Lock()
_registry: dict[str, type[Trainable]] = {}


def to_trainable_class(trainable: Any, name: str | None = None) -> type[Trainable]:
    """A Trainable subclass for a class or function; raise a clear TypeError for anything else."""
    if inspect.isclass(trainable):
        if issubclass(trainable, Trainable):
            return trainable
        raise TypeError(
            f"{trainable.__name__} is a class but not a dasktune.Trainable subclass; subclass "
            "tune.Trainable, or pass a function def f(config) that calls tune.track.log()."
        )
    if callable(trainable):
        return wrap_function(trainable, name=name or trainable_name_of(trainable))
    raise TypeError(
        f"the trainable must be a tune.Trainable subclass, a function, or the name of a "
        f"registered trainable; got {type(trainable).__name__} {trainable!r:.80}."
    )


def register_trainable(name: str, trainable: Any) -> None:
    """Register a class or function (lambdas too) under ``name`` for ``tune.run(name)``."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_trainable needs a non-empty string name, got {name!r}")
    cls = to_trainable_class(trainable, name=name)
    with _lock:
        _registry[name] = cls


def get_trainable_cls(name: str) -> type[Trainable]:
    """The Trainable class registered under ``name``."""
    with _lock:
        cls = _registry.get(name)
        known = sorted(_registry)
    if cls is None:
        hint = f" Registered: {known}." if known else " Nothing is registered yet."
        raise ValueError(
            f"no trainable is registered as {name!r}; call "
            f"tune.register_trainable({name!r}, my_trainable) first.{hint}"
        )
    return cls
