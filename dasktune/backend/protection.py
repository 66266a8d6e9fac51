"""Adaptive scaling that knows about trials: it grows for pending ones and spares running ones.

Dask's ``Adaptive`` counts tasks, not actors. With trials running and no tasks queued it scales
the cluster down and closes workers that refuse to retire, killing the trials on them; with
trials pending and no tasks it never starts a worker for them (``adapt(minimum=0)`` would leave
a run waiting forever). Each run tells this scheduler plugin which workers its trials occupy and
how many more workers its pending trials need. The plugin

- removes busy workers from the candidates for closing (``valid_workers_downscaling``), and
- raises the scheduler's ``adaptive_target`` (the number of workers ``Adaptive`` aims for) to at
  least the busy workers plus every run's demand. Dask's own target stays a floor, so ordinary
  tasks scale the cluster as before.

It also serves the ``/dasktune`` page on the scheduler's HTTP server (:mod:`.page_route`):
runs push their trials' state through :data:`PAGE_HANDLER` and the plugin keeps the last one
(:mod:`.page_state`), so the page outlives the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from .page_route import install_page
from .page_state import PageState

PLUGIN_NAME = "dasktune-protect-busy-workers"
HANDLER = "dasktune_busy_workers"
# The scheduler handler runs push the page's state through.
PAGE_HANDLER = "dasktune_page"
# The scheduler handler Adaptive calls (over a comm) for the number of workers it should aim for.
TARGET_HANDLER = "adaptive_target"
# Marks our wrapper with the scheduler's own method, so a second plugin instance (after an
# unregister) wraps the original rather than a stale wrapper.
_ORIGINAL_ATTR = "__dasktune_original__"


class BusyWorkerProtection(SchedulerPlugin):
    """Scheduler plugin: workers named busy by any dasktune run are never scaled down, and
    adaptive scaling aims for enough workers to start the runs' pending trials."""

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self) -> None:
        self._busy: dict[str, frozenset[str]] = {}
        self._demand: dict[str, int] = {}
        self.page = PageState()

    async def start(self, scheduler: Any) -> None:
        """Install the handler runs report through, and wrap the scheduler's adaptive target."""
        scheduler.handlers[HANDLER] = self.report
        current = scheduler.handlers.get(TARGET_HANDLER, scheduler.adaptive_target)
        original: Callable[..., int] = getattr(current, _ORIGINAL_ATTR, current)

        def adaptive_target(target_duration: Any = None) -> int:
            dask_target = original(target_duration=target_duration)
            if scheduler.plugins.get(PLUGIN_NAME) is not self:
                return dask_target  # unregistered: Dask's target alone
            return self.target(dask_target, scheduler.workers)

        setattr(adaptive_target, _ORIGINAL_ATTR, original)
        # Adaptive reaches the target through the handler; the dashboard's JSON routes and the
        # Prometheus gauge call the method, so both show the same number.
        scheduler.handlers[TARGET_HANDLER] = adaptive_target
        scheduler.adaptive_target = adaptive_target
        scheduler.handlers[PAGE_HANDLER] = self.page_update

        def find_state() -> PageState | None:
            plugin = scheduler.plugins.get(PLUGIN_NAME)
            return getattr(plugin, "page", None)

        install_page(scheduler, find_state)

    def page_update(self, run_id: str, update: dict[str, Any]) -> None:
        """Merge a run's update into the ``/dasktune`` page's state."""
        self.page.update(run_id, update)

    def report(self, run_id: str, workers: list[str], demand: int = 0) -> None:
        """Record one run's busy workers and how many more workers its pending trials need.

        A run with neither (it ended) is forgotten.
        """
        if workers:
            self._busy[run_id] = frozenset(workers)
        else:
            self._busy.pop(run_id, None)
        if demand > 0:
            self._demand[run_id] = int(demand)
        else:
            self._demand.pop(run_id, None)

    def busy_workers(self) -> frozenset[str]:
        """Every worker some run reports busy."""
        return frozenset().union(*self._busy.values()) if self._busy else frozenset()

    def demand(self) -> int:
        """Workers the pending trials of all runs need, beyond those they already use."""
        return sum(self._demand.values())

    def target(self, dask_target: int, workers: Container[str]) -> int:
        """How many workers adaptive scaling should aim for: Dask's own target, or the
        ``workers`` (still in the cluster) that host trials plus the runs' demand if more."""
        busy = sum(1 for w in self.busy_workers() if w in workers)
        return max(dask_target, busy + self.demand())

    def valid_workers_downscaling(self, scheduler: Any, workers: list[Any]) -> list[Any]:
        """Drop busy workers from the scale-down candidates."""
        busy = self.busy_workers()
        return [ws for ws in workers if ws.address not in busy]
