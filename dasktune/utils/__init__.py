"""Utilities (``dasktune.utils``, as ``ray.tune.utils``)."""

from __future__ import annotations

from .dicts import flatten_dict

__all__ = ["flatten_dict", "validate_save_restore"]


def __getattr__(name: str) -> object:
    # validate_save_restore needs the Dask backend, which itself uses these utilities:
    # importing it on first use avoids the import cycle.
    if name == "validate_save_restore":
        from .validation import validate_save_restore

        return validate_save_restore
    raise AttributeError(f"module 'dasktune.utils' has no attribute {name!r}")
