"""Serializing the user's trainable so any worker can load it.

cloudpickle stores importable classes and functions by reference, which fails on a worker that
cannot import the user's module (a script's helper module, a notebook's local file, a test
module). Modules that are not installed packages are therefore shipped by value.

Code shipped by value keeps its file name: cloudpickle replaces every code object's file name
with ``<dynamic-code>`` (so that its output does not depend on where the code was defined), and
a trial's traceback would then name no file of the user's. The trainable is pickled once per
run and never compared byte for byte, so it keeps the real names and the traceback shows the
user's file and line.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import sysconfig
import types
from collections import ChainMap
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import cloudpickle

from .pickle_check import type_name, unpicklable_member

_INSTALLED_ROOTS = tuple(
    os.path.realpath(p)
    for p in {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)

# cloudpickle's own reducer for code objects (the one that renames the file), if it has one.
_CLOUDPICKLE_CODE_REDUCE: Callable[[types.CodeType], Any] | None = (
    cloudpickle.Pickler.dispatch_table.get(types.CodeType)
)


def _code_in_file(rebuild: Callable[..., types.CodeType], args: Any, filename: str) -> Any:
    """Rebuild a code object as cloudpickle does, under its original file name."""
    return rebuild(*args).replace(co_filename=filename)


def _reduce_code(code: types.CodeType) -> Any:
    assert _CLOUDPICKLE_CODE_REDUCE is not None
    rebuild, args = _CLOUDPICKLE_CODE_REDUCE(code)
    return _code_in_file, (rebuild, args, code.co_filename)


class _Pickler(cloudpickle.Pickler):
    """cloudpickle that keeps code objects' file names."""

    if _CLOUDPICKLE_CODE_REDUCE is not None:
        dispatch_table = ChainMap(
            {types.CodeType: _reduce_code}, cloudpickle.Pickler.dispatch_table
        )


def _dumps(obj: Any) -> bytes:
    with io.BytesIO() as buffer:
        _Pickler(buffer, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(obj)
        return buffer.getvalue()


def _is_installed(module: ModuleType) -> bool:
    path = getattr(module, "__file__", None)
    if path is None:
        return True  # built-in or namespace: nothing to ship
    real = os.path.realpath(path)
    return "site-packages" in real or "dist-packages" in real or real.startswith(_INSTALLED_ROOTS)


@contextlib.contextmanager
def _user_modules_by_value(cls: type) -> Iterator[None]:
    """While open, cloudpickle pickles ``cls``'s own (non-installed) modules by value: those of
    the class and its bases, of a function trainable, and of a function it wraps
    (``tune.with_parameters``)."""
    names = {base.__module__ for base in cls.__mro__}
    function = getattr(cls, "_function", None)
    while function is not None:
        names.add(getattr(function, "__module__", None) or "")
        function = getattr(function, "_dasktune_wraps", None)
    by_value = []
    for name in names:
        module = sys.modules.get(name)
        if module is None or name == "__main__" or name.split(".")[0] == "dasktune":
            continue
        if not _is_installed(module):
            cloudpickle.register_pickle_by_value(module)
            by_value.append(module)
    try:
        yield
    finally:
        for module in by_value:
            cloudpickle.unregister_pickle_by_value(module)


def dumps_trainable(cls: type) -> bytes:
    """cloudpickle ``cls``, with the user's own (non-installed) modules pickled by value.

    Raises ``TypeError`` naming the class (or function) and the member that cannot be pickled
    (a lock, a socket, an open file held as a class attribute or a global), with the fix.
    """
    with _user_modules_by_value(cls):
        try:
            return _dumps(cls)
        except Exception as exc:  # noqa: BLE001 - any pickling error: name what caused it
            cause = exc
            function = getattr(cls, "_function", None)
            if function is not None:
                root: Any = function
                what = f"the function {getattr(function, '__qualname__', function)!r}"
                label = getattr(function, "__qualname__", "function")
            else:
                root, what, label = cls, f"the class {cls.__qualname__}", cls.__qualname__
            try:
                culprit, value, error = unpicklable_member(root, label, _dumps)
            except ValueError:  # the root alone pickles: blame the whole trainable
                culprit, value, error = label, cls, exc
    raise TypeError(
        f"the trainable cannot be sent to the workers: {culprit} (a {type_name(value)}, "
        f"in {what}) cannot be pickled ({type(error).__name__}: {error}). Every trial builds "
        "its trainable on a worker from a pickled copy of the class and its globals: create "
        "such objects in setup()/_setup() (or inside the function), not at class or module "
        "level, or make them picklable (__getstate__/__reduce__)."
    ) from cause


def loads_trainable(data: bytes) -> Any:
    """The inverse of :func:`dumps_trainable`."""
    return cloudpickle.loads(data)
