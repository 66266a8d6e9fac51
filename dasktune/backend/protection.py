"""Keeping adaptive scale-down away from workers that host running trials.

Dask's ``Adaptive`` counts tasks, not actors: with trials running and no tasks queued it scales
the cluster down and closes workers that refuse to retire, killing the trials on them. This
scheduler plugin removes busy workers from the candidates for closing
(``valid_workers_downscaling``); each run tells it which workers are busy.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

PLUGIN_NAME = "dasktune-protect-busy-workers"
HANDLER = "dasktune_busy_workers"


class BusyWorkerProtection(SchedulerPlugin):
    """Scheduler plugin: workers named busy by any dasktune run are never scaled down."""

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self) -> None:
        self._busy: dict[str, frozenset[str]] = {}

    async def start(self, scheduler: Any) -> None:
        """Install the handler runs use to report their busy workers."""
        scheduler.handlers[HANDLER] = self.set_busy

    def set_busy(self, run_id: str, workers: list[str]) -> None:
        """Record the busy workers of one run (an empty list forgets the run)."""
        if workers:
            self._busy[run_id] = frozenset(workers)
        else:
            self._busy.pop(run_id, None)

    def busy_workers(self) -> frozenset[str]:
        """Every worker some run reports busy."""
        return frozenset().union(*self._busy.values()) if self._busy else frozenset()

    def valid_workers_downscaling(self, scheduler: Any, workers: list[Any]) -> list[Any]:
        """Drop busy workers from the scale-down candidates."""
        busy = self.busy_workers()
        return [ws for ws in workers if ws.address not in busy]
