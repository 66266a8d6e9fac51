"""Serializing the user's trainable so any worker can load it.

cloudpickle stores importable classes and functions by reference, which fails on a worker that
cannot import the user's module (a script's helper module, a notebook's local file, a test
module). Modules that are not installed packages are therefore shipped by value.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from types import ModuleType
from typing import Any

import cloudpickle

_INSTALLED_ROOTS = tuple(
    os.path.realpath(p)
    for p in {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def _is_installed(module: ModuleType) -> bool:
    path = getattr(module, "__file__", None)
    if path is None:
        return True  # built-in or namespace: nothing to ship
    real = os.path.realpath(path)
    return "site-packages" in real or "dist-packages" in real or real.startswith(_INSTALLED_ROOTS)


def dumps_trainable(cls: type) -> bytes:
    """cloudpickle ``cls``, with the user's own (non-installed) modules pickled by value."""
    names = {cls.__module__}
    function = getattr(cls, "_function", None)
    if function is not None:
        names.add(getattr(function, "__module__", None) or "")
    by_value = []
    for name in names:
        module = sys.modules.get(name)
        if module is None or name == "__main__" or name.split(".")[0] == "dasktune":
            continue
        if not _is_installed(module):
            cloudpickle.register_pickle_by_value(module)
            by_value.append(module)
    try:
        return cloudpickle.dumps(cls)
    finally:
        for module in by_value:
            cloudpickle.unregister_pickle_by_value(module)


def loads_trainable(data: bytes) -> Any:
    """The inverse of :func:`dumps_trainable`."""
    return cloudpickle.loads(data)
