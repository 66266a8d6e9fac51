"""What one trial asks of the cluster: ``resources_per_trial`` parsed and checked."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Keys of Ray's ``resources_per_trial`` dict that dasktune understands.
_KNOWN_KEYS = (
    "cpu",
    "gpu",
    "extra_cpu",
    "extra_gpu",
    "custom_resources",
    "extra_custom_resources",
)

# Dask worker resource tags that the ``cpu``/``gpu`` fields count against.
CPU = "CPU"
GPU = "GPU"


def _check_amount(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"resources_per_trial[{name!r}] must be a number, got {value!r}; "
            f"for example {{{name!r}: 1}}."
        )
    if value < 0 or math.isnan(value) or math.isinf(value):
        raise ValueError(
            f"resources_per_trial[{name!r}] must be a finite number >= 0, got {value!r}."
        )
    return float(value)


def _check_custom(name: str, value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"resources_per_trial[{name!r}] must be a dict of Dask worker resource names to "
            f"amounts, e.g. {{'TPU': 1}}; got {value!r}."
        )
    out = {}
    for key, amount in value.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"resources_per_trial[{name!r}] has a bad resource name {key!r}.")
        if key in (CPU, GPU):
            raise ValueError(
                f"resources_per_trial[{name!r}] names {key!r}; use the 'cpu'/'gpu' "
                f"(or 'extra_cpu'/'extra_gpu') fields for it instead."
            )
        out[key] = _check_amount(f"{name}.{key}", amount)
    return out


@dataclass(frozen=True)
class Resources:
    """The slots a trial holds while it runs.

    ``cpu``/``gpu``/``custom_resources`` are held on the worker that hosts the trial's actor;
    the ``extra_*`` amounts are reserved for work the trial launches itself (its own Dask tasks
    or actors), on the same worker where they fit, else elsewhere in the cluster.
    """

    cpu: float = 1.0
    gpu: float = 0.0
    extra_cpu: float = 0.0
    extra_gpu: float = 0.0
    custom_resources: Mapping[str, float] = field(default_factory=dict)
    extra_custom_resources: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "custom_resources", dict(self.custom_resources))
        object.__setattr__(self, "extra_custom_resources", dict(self.extra_custom_resources))
        # Computed once: requests are dict keys of the controller's queues and the ledger's
        # answers, hashed and compared on every scheduling decision.
        key = (
            self.cpu,
            self.gpu,
            self.extra_cpu,
            self.extra_gpu,
            tuple(sorted(self.custom_resources.items())),
            tuple(sorted(self.extra_custom_resources.items())),
        )
        object.__setattr__(self, "_key_cache", (key, hash(key)))

    def __hash__(self) -> int:
        return self._key_cache[1]

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, Resources) and self._key_cache[0] == other._key_cache[0]
        )

    @classmethod
    def from_request(cls, request: Resources | Mapping[str, Any] | None) -> Resources:
        """Build from ``resources_per_trial`` (a dict with Ray's keys), a Resources, or None."""
        if request is None:
            return cls()
        if isinstance(request, Resources):
            return request
        # Imported here: placement_groups builds Resources, so it imports this module.
        from .utils.placement_groups import PlacementGroupFactory

        if isinstance(request, PlacementGroupFactory):
            return request.to_resources()
        if not isinstance(request, Mapping):
            raise TypeError(
                "resources_per_trial must be a dict such as {'cpu': 1, 'gpu': 0.5} (or a "
                f"tune.PlacementGroupFactory), got {type(request).__name__}."
            )
        unknown = [k for k in request if k not in _KNOWN_KEYS]
        if unknown:
            raise ValueError(
                f"resources_per_trial has unknown key(s) {unknown}; the known keys are "
                f"{list(_KNOWN_KEYS)}. Put Dask worker resource tags in "
                "'custom_resources', e.g. {'custom_resources': {'TPU': 1}}."
            )
        return cls(
            cpu=_check_amount("cpu", request.get("cpu", 1)),
            gpu=_check_amount("gpu", request.get("gpu", 0)),
            extra_cpu=_check_amount("extra_cpu", request.get("extra_cpu", 0)),
            extra_gpu=_check_amount("extra_gpu", request.get("extra_gpu", 0)),
            custom_resources=_check_custom("custom_resources", request.get("custom_resources")),
            extra_custom_resources=_check_custom(
                "extra_custom_resources", request.get("extra_custom_resources")
            ),
        )

    def own_demand(self) -> dict[str, float]:
        """Amounts held on the trial's own worker, keyed by Dask resource tag."""
        demand = {CPU: self.cpu, GPU: self.gpu, **self.custom_resources}
        return {k: v for k, v in demand.items() if v > 0}

    def extra_demand(self) -> dict[str, float]:
        """Amounts reserved for the trial's own sub-work, keyed by Dask resource tag."""
        demand = {CPU: self.extra_cpu, GPU: self.extra_gpu, **self.extra_custom_resources}
        return {k: v for k, v in demand.items() if v > 0}

    def to_dict(self) -> dict[str, Any]:
        """The request as a Ray-style ``resources_per_trial`` dict."""
        return {
            "cpu": self.cpu,
            "gpu": self.gpu,
            "extra_cpu": self.extra_cpu,
            "extra_gpu": self.extra_gpu,
            "custom_resources": dict(self.custom_resources),
            "extra_custom_resources": dict(self.extra_custom_resources),
        }

    def summary(self) -> str:
        """Short human text, e.g. ``1 CPU, 0.5 GPU (+2 CPU extra)``."""
        own = ", ".join(f"{_fmt(v)} {k}" for k, v in self.own_demand().items()) or "nothing"
        extra = ", ".join(f"{_fmt(v)} {k}" for k, v in self.extra_demand().items())
        return f"{own} (+{extra} extra)" if extra else own


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"
