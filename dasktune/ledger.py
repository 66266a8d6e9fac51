"""Per-worker resource slots: which trial holds what, where.

Dask actors do not hold the resources they were submitted with (they are released as soon as the
actor's constructor returns), so the scheduler cannot stop two GPU trials landing on one GPU.
This ledger is what prevents oversubscription. It is pure bookkeeping: no Dask calls.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from .resources import CPU, GPU, Resources

# Fractional requests (0.1 GPU x 10) add up with rounding error; amounts closer than this
# count as equal.
_EPS = 1e-9


def capacity_from_worker_info(info: Mapping[str, Any]) -> dict[str, float]:
    """Slots a worker offers, from the scheduler's worker info.

    Declared Dask resources win; a worker that declares no ``CPU`` offers one CPU slot per thread.
    """
    resources = dict(info.get("resources") or {})
    capacity = {str(k): float(v) for k, v in resources.items()}
    capacity.setdefault(CPU, float(info.get("nthreads", 1)))
    return capacity


@dataclass
class Placement:
    """Where a trial runs and what it holds: its own slots on ``worker``, plus extras."""

    trial_id: str
    worker: str
    own: dict[str, float]
    extras: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_public_dict(self) -> dict[str, Any]:
        """The placement as plain data, for the trainable (``tune.get_placement()``)."""
        return {
            "worker": self.worker,
            "own": dict(self.own),
            "extras": {w: dict(a) for w, a in self.extras.items()},
        }


class ResourceLedger:
    """Tracks each worker's capacity and the slots each placed trial holds."""

    def __init__(self) -> None:
        self._capacity: dict[str, dict[str, float]] = {}
        self._used: dict[str, dict[str, float]] = {}
        self._placements: dict[str, Placement] = {}
        # can_place answers until the next change: a scheduler asks it for every waiting trial
        # (PBT's choose_trial_to_run does), and each answer scans every worker.
        self._fits_now: dict[tuple[Resources, frozenset[str]], bool] = {}

    # -- workers ---------------------------------------------------------------------------
    def set_worker(self, address: str, capacity: Mapping[str, float]) -> None:
        """Add a worker, or update what it offers."""
        self._fits_now.clear()
        self._capacity[address] = dict(capacity)
        self._used.setdefault(address, {})

    def remove_worker(self, address: str) -> list[str]:
        """Forget a worker; return the trials whose own slots were on it (their slots are freed)."""
        self._fits_now.clear()
        self._capacity.pop(address, None)
        self._used.pop(address, None)
        lost = [p.trial_id for p in self._placements.values() if p.worker == address]
        for trial_id in lost:
            self.release(trial_id)
        for placement in self._placements.values():
            placement.extras.pop(address, None)
        return lost

    @property
    def workers(self) -> list[str]:
        """Addresses of the known workers."""
        return list(self._capacity)

    def free(self, address: str) -> dict[str, float]:
        """What a worker has left."""
        used = self._used[address]
        return {k: v - used.get(k, 0.0) for k, v in self._capacity[address].items()}

    def busy_workers(self) -> frozenset[str]:
        """Workers where some trial holds slots (its own or extras)."""
        busy: set[str] = set()
        for placement in self._placements.values():
            busy.add(placement.worker)
            busy.update(placement.extras)
        return frozenset(busy)

    def explain_infeasible(self, resources: Resources) -> str | None:
        """Why no state of this cluster could ever host the request, or None if one could."""
        own = resources.own_demand()
        extra = resources.extra_demand()
        if not self._capacity:
            return None  # no workers yet: can't judge, the caller waits for some
        if not any(_fits(own, cap) for cap in self._capacity.values()):
            return (
                f"no worker can host a trial that needs {resources.summary()}: "
                f"the workers offer {self.describe_workers()}. Lower resources_per_trial, or "
                "start workers with enough resources (e.g. `dask worker --resources GPU=1`)."
            )
        totals = self.total_capacity()
        need = dict(own)
        for k, v in extra.items():
            need[k] = need.get(k, 0.0) + v
        if not _fits(need, totals):
            return (
                f"the whole cluster cannot host a trial that needs {resources.summary()}: "
                f"the workers offer {self.describe_workers()} (total "
                f"{_describe(totals)}). Lower the extra_* requests or add workers."
            )
        return None

    def describe_workers(self) -> str:
        """One line listing each worker's capacity, for error messages."""
        if not self._capacity:
            return "no workers"
        return "; ".join(f"{addr}: {_describe(cap)}" for addr, cap in self._capacity.items())

    # -- placing ------------------------------------------------------------------------------
    def place(
        self,
        trial_id: str,
        resources: Resources,
        exclude: Collection[str] = frozenset(),
    ) -> Placement | None:
        """Reserve slots for a trial, or return None if they are not free now.

        The trial's own slots go on the worker with the most free CPU that fits them (spreading
        trials evens out load); ``exclude`` names workers not to use now. Extras go on the same
        worker first, then on the others.
        """
        if trial_id in self._placements:
            raise ValueError(f"trial {trial_id} already holds a placement")
        found = self._find(resources, exclude)
        if found is None:
            return None
        worker, own, extras = found
        placement = Placement(trial_id, worker, own, extras)
        self._hold(worker, own)
        for addr, amounts in extras.items():
            self._hold(addr, amounts)
        self._placements[trial_id] = placement
        return placement

    def can_place(self, resources: Resources, exclude: Collection[str] = frozenset()) -> bool:
        """Whether :meth:`place` would find room for ``resources`` now (reserves nothing)."""
        key = (resources, frozenset(exclude))
        answer = self._fits_now.get(key)
        if answer is None:
            answer = self._fits_now[key] = self._find(resources, exclude) is not None
        return answer

    def _find(
        self, resources: Resources, exclude: Collection[str]
    ) -> tuple[str, dict[str, float], dict[str, dict[str, float]]] | None:
        own = resources.own_demand()
        candidates = [a for a in self._capacity if a not in exclude and _fits(own, self.free(a))]
        if not candidates:
            return None
        order = sorted(candidates, key=lambda a: -self.free(a).get(CPU, 0.0))
        extra = resources.extra_demand()
        for worker in order:
            extras = self._find_extras(worker, own, extra)
            if extras is not None:
                return worker, dict(own), extras
        return None

    def _find_extras(
        self, worker: str, own: Mapping[str, float], extra: Mapping[str, float]
    ) -> dict[str, dict[str, float]] | None:
        if not extra:
            return {}
        free = {a: self.free(a) for a in self._capacity}
        for k, v in own.items():
            free[worker][k] = free[worker].get(k, 0.0) - v
        order = [worker] + [a for a in self._capacity if a != worker]
        extras: dict[str, dict[str, float]] = {}
        for key, amount in extra.items():
            remaining = amount
            for addr in order:
                take = min(remaining, max(free[addr].get(key, 0.0), 0.0))
                # Whole units of GPU/custom extras are what sub-work can really use; only CPU is
                # split freely across workers.
                if key != CPU and take < remaining - _EPS:
                    take = float(int(take + _EPS))
                if take <= _EPS:
                    continue
                extras.setdefault(addr, {})[key] = extras.get(addr, {}).get(key, 0.0) + take
                free[addr][key] -= take
                remaining -= take
                if remaining <= _EPS:
                    break
            if remaining > _EPS:
                return None
        return extras

    def _hold(self, address: str, amounts: Mapping[str, float]) -> None:
        self._fits_now.clear()
        used = self._used[address]
        for k, v in amounts.items():
            used[k] = used.get(k, 0.0) + v

    def release(self, trial_id: str) -> Placement | None:
        """Free a trial's slots (own and extras). Releasing twice is harmless."""
        placement = self._placements.pop(trial_id, None)
        if placement is None:
            return None
        self._unhold(placement.worker, placement.own)
        for addr, amounts in placement.extras.items():
            self._unhold(addr, amounts)
        return placement

    def _unhold(self, address: str, amounts: Mapping[str, float]) -> None:
        self._fits_now.clear()
        used = self._used.get(address)
        if used is None:
            return  # the worker is gone; its slots went with it
        for k, v in amounts.items():
            left = used.get(k, 0.0) - v
            used[k] = 0.0 if left < _EPS else left

    def total_capacity(self) -> dict[str, float]:
        """Sum of every worker's capacity."""
        totals: dict[str, float] = {}
        for cap in self._capacity.values():
            for k, v in cap.items():
                totals[k] = totals.get(k, 0.0) + v
        return totals


def _fits(demand: Mapping[str, float], available: Mapping[str, float]) -> bool:
    return all(available.get(k, 0.0) + _EPS >= v for k, v in demand.items())


def _describe(amounts: Mapping[str, float]) -> str:
    parts = [f"{v:g} {k}" for k, v in sorted(amounts.items()) if v > 0]
    return ", ".join(parts) or "nothing"


__all__ = ["GPU", "Placement", "ResourceLedger", "capacity_from_worker_info"]
