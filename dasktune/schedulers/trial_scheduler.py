"""Base class of trial schedulers, with Ray Tune's hook signatures.

Every hook gets ``trial_runner`` first (a :class:`~dasktune.trial_runner.TrialRunner`: the
trials, and a ``trial_executor`` to pause, stop or save any of them), as in Ray, so schedulers
written for Ray run unchanged. Hooks are called by the controller and must not block or do I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..trial import Trial
    from ..trial_runner import TrialRunner


class TrialScheduler:
    """Decides, after each result, whether a trial continues, pauses or stops, and which
    waiting trial runs next (Ray's ``ray.tune.schedulers.TrialScheduler``)."""

    CONTINUE = "CONTINUE"
    PAUSE = "PAUSE"
    STOP = "STOP"
    NOOP = "NOOP"

    _metric: str | None = None
    _mode: str | None = None

    @property
    def metric(self) -> str | None:
        """The metric this scheduler optimises, if set."""
        return self._metric

    @property
    def mode(self) -> str | None:
        """``"max"`` or ``"min"``, if set."""
        return self._mode

    def set_search_properties(self, metric: str | None, mode: str | None) -> bool:
        """Take ``tune.run``'s ``metric``/``mode`` where the scheduler has none; False when
        they contradict the scheduler's own."""
        if (self._metric and metric and self._metric != metric) or (
            self._mode and mode and self._mode != mode
        ):
            return False
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True

    def on_trial_add(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """A trial was created."""

    def on_trial_error(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """A trial ended in error (after its last retry)."""

    def on_trial_result(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> str:
        """A trial reported ``result``; return CONTINUE, PAUSE or STOP."""
        return self.CONTINUE

    def on_trial_complete(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> None:
        """A trial ended normally with ``result``."""

    def on_trial_remove(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """A trial was stopped from outside its own results (``trial_executor.stop_trial``)."""

    def choose_trial_to_run(self, trial_runner: TrialRunner) -> Trial | None:
        """The waiting (PENDING or PAUSED) trial to start next, or None to start none now."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement choose_trial_to_run(trial_runner), or "
            "subclass FIFOScheduler to run waiting trials in order."
        )

    def debug_string(self) -> str:
        """One line describing the scheduler's state."""
        return f"Using {type(self).__name__}."


class FIFOScheduler(TrialScheduler):
    """Runs trials in the order they were created, each until its stop rule (the default)."""

    def choose_trial_to_run(self, trial_runner: TrialRunner) -> Trial | None:
        """The oldest PENDING trial that fits now, else the oldest PAUSED one that fits."""
        # Ray walks every trial here; the runner keeps waiting trials indexed by resource
        # shape, so this costs O(shapes), whatever the number of trials.
        return trial_runner.first_runnable()

    def debug_string(self) -> str:
        """Ray's status line."""
        return "Using FIFO scheduling algorithm."
