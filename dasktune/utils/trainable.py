"""``tune.with_parameters`` (Ray 1.x's ``ray.tune.utils.trainable.with_parameters``): a
trainable with extra arguments bound, such as a dataset, that are not part of the config.

Ray puts the arguments in its object store once and every trial fetches them. Here they are
pickled once, when ``with_parameters`` is called, and travel inside the trainable, which each
worker loads once per run (not once per trial); each trial unpickles its own copy, so a trial
that changes its data in place does not change another trial's (as with Ray, where each trial
gets its own deserialised copy). Unlike a config entry, they are not logged, not searched and
not part of trial names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import cloudpickle

from ..pickle_check import type_name, unpicklable_member
from ..trainable import Trainable


def with_parameters(trainable: Any, **kwargs: Any) -> Any:
    """``trainable`` with ``kwargs`` passed to it in every trial.

    A function trainable ``f(config, checkpoint_dir=None, data=None)`` becomes one that tune
    calls as ``f(config, checkpoint_dir)``, and which calls ``f(config, checkpoint_dir=...,
    data=...)``; a Trainable class gets them in ``setup(config, data=...)`` (or ``_setup``, Ray
    0.8's name, when the class defines that). The result keeps the trainable's name.

    Raises:
        TypeError: ``trainable`` is neither a function nor a ``Trainable`` subclass, or an
            argument cannot be pickled.
        ValueError: the function (or the class's ``setup``/``_setup``) has no parameter of an
            argument's name.
    """
    name = getattr(trainable, "__name__", "tune_with_parameters")
    payload = _pickled(kwargs, name)
    if isinstance(trainable, type):
        if not issubclass(trainable, Trainable):
            raise TypeError(
                f"tune.with_parameters() takes a function or a tune.Trainable subclass; "
                f"{name} is a class that is not a tune.Trainable."
            )
        legacy = trainable._setup is not Trainable._setup
        _check_names(trainable._setup if legacy else trainable.setup, name, kwargs)
        return _with_parameters_class(trainable, name, payload, legacy)
    if not callable(trainable):
        raise TypeError(
            f"tune.with_parameters() takes a function or a tune.Trainable subclass, got a "
            f"{type_name(trainable)}."
        )
    _check_names(trainable, name, kwargs)
    return _with_parameters_function(trainable, name, payload)


def _pickled(kwargs: dict[str, Any], name: str) -> bytes:
    try:
        return cloudpickle.dumps(kwargs)
    except Exception as exc:  # noqa: BLE001 - name the argument that cannot travel
        try:
            culprit, value, error = unpicklable_member(kwargs, "parameters", cloudpickle.dumps)
        except ValueError:
            culprit, value, error = "the parameters", kwargs, exc
        raise TypeError(
            f"tune.with_parameters({name}, ...): {culprit} (a {type_name(value)}) cannot be "
            f"pickled ({type(error).__name__}: {error}), and every trial gets its own copy on "
            "a worker. Pass something picklable (data, paths), or build the object inside the "
            "trainable from what you pass."
        ) from exc


def _check_names(fn: Callable[..., Any], name: str, kwargs: dict[str, Any]) -> None:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return  # a builtin or C callable: it answers for itself when called
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        what = getattr(fn, "__qualname__", name)
        raise ValueError(
            f"tune.with_parameters({name}, ...): {what}() has no parameter named "
            f"{', '.join(map(repr, unknown))}; add it to its signature (e.g. "
            f"{fn.__name__}(..., {unknown[0]}=None)) or drop the argument."
        )


def _with_parameters_function(fn: Callable[..., Any], name: str, payload: bytes) -> Any:
    try:
        takes_checkpoint_dir = "checkpoint_dir" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        takes_checkpoint_dir = False
    # Two signatures on purpose: tune passes checkpoint_dir (and lets the function checkpoint)
    # only to a function that names it.
    if takes_checkpoint_dir:

        def inner(config: dict[str, Any], checkpoint_dir: str | None = None) -> Any:
            return fn(config, checkpoint_dir=checkpoint_dir, **cloudpickle.loads(payload))

    else:

        def inner(config: dict[str, Any]) -> Any:  # type: ignore[misc]
            return fn(config, **cloudpickle.loads(payload))

    inner.__name__ = inner.__qualname__ = name
    inner.__doc__ = getattr(fn, "__doc__", None)
    # Not __wrapped__: inspect.signature would follow it and show fn's own parameters, and
    # tune reads the signature to know what to pass. Shipping reads this to send fn's module.
    inner._dasktune_wraps = fn  # type: ignore[attr-defined]
    return inner


def _with_parameters_class(
    cls: type[Trainable], name: str, payload: bytes, legacy: bool
) -> type[Trainable]:
    # A class written for Ray 0.8 sets itself up in _setup (legacy); a modern one in setup.
    def _setup(self: Trainable, config: dict[str, Any]) -> None:
        parameters = cloudpickle.loads(payload)
        if legacy:
            super(bound, self)._setup(config, **parameters)  # type: ignore[call-arg]
        else:
            self.setup(config, **parameters)  # type: ignore[call-arg]

    bound = type(name, (cls,), {"_setup": _setup, "__doc__": cls.__doc__})
    bound.__qualname__ = name
    return bound
