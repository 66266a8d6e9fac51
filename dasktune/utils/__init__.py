"""Utilities (``dasktune.utils``, as ``ray.tune.utils``)."""

from __future__ import annotations

from .dicts import flatten_dict

__all__ = ["flatten_dict"]
