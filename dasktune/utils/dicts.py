"""Small helpers over nested result dicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten_dict(d: Mapping[str, Any], delimiter: str = "/", prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into one level, joining keys with ``delimiter``.

    ``{"a": {"b": 1}, "c": 2}`` becomes ``{"a/b": 1, "c": 2}``. Lists and empty mappings are
    kept as values.
    """
    out: dict[str, Any] = {}
    for key, value in d.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten_dict(value, delimiter, full + delimiter))
        else:
            out[full] = value
    return out
