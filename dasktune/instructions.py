"""What the controller asks for: typed instructions, carried out by the driver.

Instructions on a trial carry the trial's ``run``; the driver tags each call with it and the
reply event carries it back. ``Notify`` instructions go to the listeners (result logs, error
files, progress output, user callbacks); the rest are calls to the backend or storage I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .ledger import Placement
from .trial import Trial


@dataclass(frozen=True)
class StartTrial:
    """Build the trial's trainable on ``placement.worker`` (restoring ``restore``, a committed
    checkpoint URL, if given). Reply: TrialStarted or CallFailed."""

    trial: Trial
    run: int
    placement: Placement
    restore: str | None = None


@dataclass(frozen=True)
class Train:
    """Train the trial until its host must hand results over. Reply: ResultsArrived or
    CallFailed."""

    trial: Trial
    run: int


@dataclass(frozen=True)
class Save:
    """Checkpoint the trial into storage (committed in the background; with ``commit``, the
    reply waits until this checkpoint and every earlier one are committed: a PBT donor's clone
    must be whole before a receiver reads it). Reply: CheckpointSaved or CallFailed."""

    trial: Trial
    run: int
    commit: bool = False


@dataclass(frozen=True)
class Stop:
    """End the trial's trainable. ``graceful``: wait for its uploads (under the checkpoint
    timeout) and stop it, failing the call if that fails (reply TrialStopped or CallFailed);
    otherwise commit what still can be and stop it, best effort (reply TrialStopped, with
    ``host_healthy`` False when the host could not be stopped)."""

    trial: Trial
    run: int
    graceful: bool = True


@dataclass(frozen=True)
class Abandon:
    """The trial's worker is gone: give up its call in flight and its host. No reply."""

    trial: Trial
    run: int


@dataclass(frozen=True)
class FindCheckpoint:
    """Look in the trial's storage for the newest committed checkpoint among ``iterations``.
    Reply: CheckpointFound."""

    trial: Trial
    run: int
    iterations: frozenset[int]


@dataclass(frozen=True)
class DeleteCheckpoint:
    """Delete a committed checkpoint retention no longer keeps. No reply."""

    url: str


@dataclass(frozen=True)
class WriteFile:
    """Write ``text`` as the file ``name`` in the experiment dir (a scheduler's own files, such
    as PBT's policy logs), whole, in the background; for one name the newest write wins. No
    reply."""

    name: str
    text: str


@dataclass(frozen=True)
class WriteState:
    """Write the experiment state file (a snapshot taken now). No reply."""


@dataclass(frozen=True)
class ReportUsage:
    """Tell the cluster's scheduler plugin which workers host trials now and how many more
    workers the waiting trials need (adaptive scaling). No reply."""

    workers: frozenset[str]
    demand: int


@dataclass(frozen=True)
class Notify:
    """Something listeners hear of: ``kind`` is one of :class:`Note`'s names."""

    kind: str
    trial: Trial | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Note:
    """The kinds of :class:`Notify`."""

    TRIAL_START = "trial_start"  # info: worker
    TRIAL_RESTORE = "trial_restore"  # info: worker, checkpoint
    RESULT = "result"  # info: result
    CHECKPOINT = "checkpoint"  # info: checkpoint (url), iteration
    TRIAL_PAUSE = "trial_pause"
    TRIAL_EXPLOIT = "trial_exploit"  # info: donor (trial), checkpoint (url), iteration, config
    TRIAL_COMPLETE = "trial_complete"
    TRIAL_ERROR = "trial_error"  # info: message, failure (header), retried
    WAITING = "waiting"  # info: text
    STATUS = "status"


Instruction = (
    StartTrial
    | Train
    | Save
    | Stop
    | Abandon
    | FindCheckpoint
    | DeleteCheckpoint
    | WriteFile
    | WriteState
    | ReportUsage
    | Notify
)
