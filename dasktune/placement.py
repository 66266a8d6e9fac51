"""What a running trial holds, from inside it: ``tune.get_placement()``, ``tune.get_gpu_ids()``.

A trial that asked for ``extra_cpu``/``extra_gpu``/``extra_custom_resources`` may run its own
Dask work on the slots dasktune reserved for it; :meth:`TrialPlacement.submit` sends a task
there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from . import trial_info
from .trial_info import TrialInfo, visible_gpu_ids


@dataclass(frozen=True)
class TrialPlacement:
    """The worker a trial runs on, what it holds there, and its reserved extras per worker."""

    worker: str = ""
    own: dict[str, float] = field(default_factory=dict)
    extras: dict[str, dict[str, float]] = field(default_factory=dict)
    gpu_ids: tuple[str, ...] = ()

    @property
    def extra_workers(self) -> list[str]:
        """Addresses of the workers holding this trial's extra slots."""
        return list(self.extras)

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Submit ``fn(*args, **kwargs)`` as a Dask task on a worker holding this trial's extra
        slots (its own worker when it reserved none); returns the Dask Future.

        Uses the worker's client (``distributed.get_client()``), so call it from the trial.
        """
        from distributed import get_client

        workers = self.extra_workers or ([self.worker] if self.worker else None)
        return get_client().submit(
            fn, *args, workers=workers, allow_other_workers=False, pure=False, **kwargs
        )

    @classmethod
    def from_info(cls, info: TrialInfo | None) -> TrialPlacement:
        """The placement recorded in a trial's info (empty outside a run)."""
        if info is None:
            return cls()
        data = info.placement or {}
        return cls(
            worker=data.get("worker", ""),
            own=dict(data.get("own", {})),
            extras={w: dict(a) for w, a in data.get("extras", {}).items()},
            gpu_ids=tuple(info.gpu_ids),
        )


def get_placement() -> TrialPlacement:
    """Placement of the trial running in this thread (empty outside a trial)."""
    return TrialPlacement.from_info(trial_info.current())


def get_gpu_ids() -> list[str]:
    """GPU ids the trial running in this thread holds (Ray's ``ray.get_gpu_ids()``).

    On a worker with one GPU per process (dask-cuda, one SLURM job per GPU) this is the
    process's device from ``CUDA_VISIBLE_DEVICES``; on a worker with several GPUs each trial
    gets its own share of them. Empty outside a trial or for a trial that holds no GPU.
    """
    info = trial_info.current()
    return list(info.gpu_ids) if info is not None else []


class GpuAllocator:
    """Hands out a worker process's GPU devices to the trials it hosts.

    dasktune's ledger guarantees the amounts fit the worker's ``GPU`` resource; this picks
    which device ids: whole GPUs go to distinct free devices, fractions pack onto the device
    with the least room that still fits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[str, float] = {}
        self._held: dict[str, list[tuple[str, float]]] = {}

    def _devices(self, declared: float) -> list[str]:
        ids = list(visible_gpu_ids())
        if not ids:
            ids = [str(i) for i in range(max(int(declared), 1))]
        return ids

    def allocate(self, trial_id: str, amount: float, declared: float) -> tuple[str, ...]:
        """Device ids for ``amount`` GPUs (``declared``: the worker's GPU resource)."""
        if amount <= 0:
            return ()
        with self._lock:
            for device in self._devices(declared):
                self._free.setdefault(device, 1.0)
            taken: list[tuple[str, float]] = []
            if amount >= 1:
                whole = [d for d, free in self._free.items() if free >= 1 - 1e-9]
                for device in whole[: int(round(amount))]:
                    taken.append((device, 1.0))
            else:
                fits = [d for d, free in self._free.items() if free + 1e-9 >= amount]
                if fits:
                    device = min(fits, key=lambda d: self._free[d])
                    taken.append((device, amount))
            for device, share in taken:
                self._free[device] -= share
            self._held[trial_id] = taken
            return tuple(d for d, _ in taken)

    def release(self, trial_id: str) -> None:
        """Give back what a trial held."""
        with self._lock:
            for device, share in self._held.pop(trial_id, []):
                self._free[device] = min(1.0, self._free.get(device, 0.0) + share)
