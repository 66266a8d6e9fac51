"""What the controller hears: typed events, fed to :meth:`Controller.handle`.

Every reply to a host call names the call's trial and the trial's ``run`` (its ``run_number``
when the call was made). The controller drops a reply whose run is no longer the trial's
current one: it comes from a run that was paused, restarted or abandoned since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Tick:
    """Time passed (``now``: the driver's monotonic clock, seconds)."""

    now: float


@dataclass(frozen=True)
class WorkersChanged:
    """The cluster's workers as the scheduler lists them now: address -> slots offered."""

    capacities: dict[str, dict[str, float]]
    now: float = 0.0


@dataclass(frozen=True)
class TrialStarted:
    """A trial's trainable is built (and restored) on its worker; ``how`` is ``"new"`` or
    ``"reset"`` (a kept trainable took the new config, ``reuse_actors``)."""

    trial_id: str
    run: int
    how: str = "new"


@dataclass(frozen=True)
class ResultsArrived:
    """One ``train`` call's results, in order. ``error``: a step raised after them (or while
    the host ended the trial). ``finished``: the host already ended the trial after the last
    result, with these checkpoints committed by its last uploads."""

    trial_id: str
    run: int
    results: list[dict[str, Any]]
    error: str | None = None
    finished: list[tuple[str, int]] | None = None


@dataclass(frozen=True)
class CheckpointSaved:
    """A checkpoint at ``iteration`` was taken; ``committed`` lists the ``(url, iteration)``
    of every checkpoint committed since the last report, oldest first."""

    trial_id: str
    run: int
    iteration: int
    committed: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class TrialStopped:
    """The trial's trainable was stopped (``finish``/``stop`` returned) after its uploads were
    committed (``committed``); its host may take another trial."""

    trial_id: str
    run: int
    committed: list[tuple[str, int]] = field(default_factory=list)
    host_healthy: bool = True


@dataclass(frozen=True)
class CallFailed:
    """A host call failed: the trial's code raised (``worker_lost`` False, ``message`` is the
    traceback) or the worker holding its actor was lost (``worker`` is its address). ``call``
    names the call (``start``, ``train``, ``save``, ``stop``)."""

    trial_id: str
    run: int
    call: str
    message: str
    worker_lost: bool = False
    worker: str | None = None


@dataclass(frozen=True)
class CheckpointFound:
    """Reply to :class:`~dasktune.instructions.FindCheckpoint`: the newest committed
    checkpoint in storage among those the run asked for (None: none)."""

    trial_id: str
    run: int
    checkpoint: tuple[str, int] | None


@dataclass(frozen=True)
class StopRequested:
    """Stop the run: start nothing more and stop every running trial (Ctrl-C, a fatal error)."""

    reason: str = ""


Event = (
    Tick
    | WorkersChanged
    | TrialStarted
    | ResultsArrived
    | CheckpointSaved
    | TrialStopped
    | CallFailed
    | CheckpointFound
    | StopRequested
)
