"""How many more workers a run's pending trials need: what adaptive scaling should add for them.

Pure arithmetic (no Dask calls). The driver counts the trials it could not place on the workers
it knows and converts them into workers with the capacities it has seen so far; the scheduler
plugin (``backend/protection.py``) adds that to the workers busy with trials.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

from .resources import Resources

# Fractional requests (0.1 GPU x 10) add up with rounding error; amounts this close count equal.
_EPS = 1e-9


def workers_needed(
    pending: Iterable[tuple[Resources, int]], worker_shapes: Collection[Mapping[str, float]]
) -> int:
    """New workers that would start every ``(resources, count)`` pending trial at once.

    Each group is packed on the kind of worker (from ``worker_shapes``, the capacities seen so
    far) that needs the fewest. With no worker seen yet, or none that could host the group, each
    trial counts as one worker, as Dask's own target counts one task per worker when it knows
    of none: adaptive ``maximum`` bounds it, and jobs not yet started are cancelled again once
    the first worker shows that fewer suffice. Groups are packed apart, so mixed shapes may be
    counted a little high.
    """
    total = 0
    for resources, count in pending:
        if count <= 0:
            continue
        options = [_workers_for(resources, count, shape) for shape in worker_shapes]
        fitting = [n for n in options if n is not None]
        total += min(fitting) if fitting else count
    return total


def _workers_for(resources: Resources, count: int, shape: Mapping[str, float]) -> int | None:
    """Workers of ``shape`` that host ``count`` trials of ``resources``, or None if none can."""
    own = resources.own_demand()
    need = dict(own)
    for key, amount in resources.extra_demand().items():
        need[key] = need.get(key, 0.0) + amount
    if any(shape.get(k, 0.0) + _EPS < v for k, v in own.items()):
        return None
    if any(shape.get(k, 0.0) <= 0.0 for k in need):
        return None
    if not need:
        return 1  # trials that hold nothing all fit on one worker
    per_worker = min(math.floor(shape[k] / v + _EPS) for k, v in need.items())
    if per_worker >= 1:
        return math.ceil(count / per_worker)
    # Its extras spill over to other workers: each trial spans several.
    span = max(math.ceil(v / shape[k] - _EPS) for k, v in need.items())
    return count * span
