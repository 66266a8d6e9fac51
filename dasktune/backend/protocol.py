"""The interface the driver runs trials through: one implementation hosts trials as Dask
actors (:class:`~dasktune.backend.dask_backend.DaskBackend`), another scripts them in
simulated time (:class:`~dasktune.backend.simulated.SimulatedBackend`, for tests).

Calls about a trial raise :class:`TrialCodeError` when the user's code raised and
:class:`WorkerLost` when the worker holding the trial is gone; the driver turns both into
``CallFailed`` events.
"""

from __future__ import annotations

from typing import Protocol

from ..ledger import Placement
from ..result_batching import Batch
from ..trial import Trial

Committed = list[tuple[str, int]]


class WorkerLost(Exception):
    """The worker holding a trial's actor died or dropped out of the cluster."""

    def __init__(self, worker: str, detail: str = "") -> None:
        super().__init__(
            f"the worker {worker} holding the trial's actor was lost"
            + (f" ({detail})" if detail else "")
        )
        self.worker = worker
        self.detail = detail


class TrialCodeError(Exception):
    """The user's trainable raised; ``traceback`` is the text from the worker."""

    def __init__(self, traceback_text: str) -> None:
        super().__init__(traceback_text)
        self.traceback = traceback_text


class TrialBackend(Protocol):
    """Runs trials' trainables somewhere and reports on the workers that host them."""

    async def install_protection(self) -> str | None:
        """Prepare the cluster (scheduler plugin); return why that failed, if it did."""
        ...

    async def worker_capacities(self) -> dict[str, dict[str, float]]:
        """The workers now: address -> slots offered."""
        ...

    async def start(self, trial: Trial, run: int, placement: Placement, restore: str | None) -> str:
        """Build the trial's trainable on ``placement.worker`` and restore ``restore``;
        ``"new"`` or ``"reset"`` (a kept trainable took the config)."""
        ...

    async def train(self, trial: Trial) -> Batch:
        """Train until the host must hand results over."""
        ...

    async def save(self, trial: Trial, commit: bool = False) -> tuple[Committed, int]:
        """Checkpoint into the trial's storage: (committed since last report, iteration).
        ``commit``: return only once this checkpoint (and every earlier one) is committed."""
        ...

    async def finish(self, trial: Trial) -> Committed:
        """Wait for the trial's uploads, then stop its trainable; its host is free again."""
        ...

    async def stop(self, trial: Trial) -> tuple[Committed, bool]:
        """Best effort after a failure or at shutdown: commit what uploads can still finish,
        stop the trainable; (committed, whether its host is still usable). Never raises."""
        ...

    def abandon(self, trial: Trial) -> None:
        """Forget the trial's host (its worker is gone)."""
        ...

    async def find_checkpoint(
        self, trial: Trial, iterations: frozenset[int]
    ) -> tuple[str, int] | None:
        """The newest committed checkpoint in the trial's storage among ``iterations``."""
        ...

    def delete_checkpoint(self, url: str) -> None:
        """Delete a committed checkpoint (blocking: the driver calls it in a thread, under its
        storage deadline)."""
        ...

    async def report_usage(self, workers: frozenset[str], demand: int) -> str | None:
        """Tell the cluster which workers host trials and how many more are wanted; return
        why the report was refused, if it was."""
        ...

    async def close(self, stop_timeout: float | None = None) -> None:
        """Stop what still runs and trainables kept for reuse, each within ``stop_timeout``
        seconds (a default when None), and release every host."""
        ...
