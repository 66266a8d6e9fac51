"""Base class of trial schedulers: pure decisions over trial results (no I/O, no Dask)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..trial import Trial


class TrialScheduler:
    """Decides, after each result, whether a trial continues, pauses or stops (Ray's interface).

    The controller calls these hooks; they must not block or do I/O.
    """

    CONTINUE = "CONTINUE"
    PAUSE = "PAUSE"
    STOP = "STOP"

    def on_trial_add(self, trial: Trial) -> None:
        """A trial was created."""

    def on_trial_result(self, trial: Trial, result: dict[str, Any]) -> str:
        """A trial reported ``result``; return CONTINUE, PAUSE or STOP."""
        return self.CONTINUE

    def on_trial_complete(self, trial: Trial, result: dict[str, Any]) -> None:
        """A trial ended normally with ``result``."""

    def on_trial_error(self, trial: Trial) -> None:
        """A trial ended in error."""

    def debug_string(self) -> str:
        """One line describing the scheduler's state."""
        return type(self).__name__


class FIFOScheduler(TrialScheduler):
    """Runs trials in the order they were created, each until its stop rule (the default)."""
