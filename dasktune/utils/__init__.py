"""Utilities (``dasktune.utils``, as ``ray.tune.utils``)."""

from __future__ import annotations

from .dicts import flatten_dict
from .validation import validate_save_restore

__all__ = ["flatten_dict", "validate_save_restore"]
