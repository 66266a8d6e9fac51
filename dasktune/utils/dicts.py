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
        full = f"{prefix}{key}" if prefix or type(key) is not str else key
        # Exact scalar types first: the Mapping ABC check costs a microsecond per value, and
        # this runs for every result (CSV and TensorBoard loggers).
        if type(value) in _SCALARS or not (isinstance(value, Mapping) and value):
            out[full] = value
        else:
            out.update(flatten_dict(value, delimiter, full + delimiter))
    return out


_SCALARS = frozenset({int, float, str, bool, type(None)})
