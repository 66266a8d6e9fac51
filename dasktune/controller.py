"""The experiment as a pure state machine: trials, stop rules, checkpoint and failure policy.

No I/O and no Dask here. The driver feeds events in (a result arrived, a trial failed, a
checkpoint was committed) and gets decisions back (continue, checkpoint, stop, retry), which is
what lets the rules be tested without a cluster.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from . import result as R
from .error import TuneError
from .resources import Resources
from .result_batching import MAX_RESULTS_PER_BATCH, BatchPolicy
from .schedulers import FIFOScheduler, TrialScheduler
from .stoppers import DictStopper, NoopStopper, Stopper
from .trial import Trial, TrialStatus

P = TypeVar("P")


class StopCriterionError(TuneError):
    """A ``stop`` criterion names a key the trainable does not report: a bug in the run's setup."""


@dataclass(frozen=True)
class ResultDecision:
    """What to do after a result: log it?, checkpoint now?, and keep training or stop."""

    log: bool
    checkpoint: bool
    stop: bool


@dataclass(frozen=True)
class CheckpointPolicy:
    """When trials checkpoint (``checkpoint_freq``, ``checkpoint_at_end``)."""

    freq: int = 0
    at_end: bool = False


class FailurePolicy:
    """How failures are handled: ``max_failures`` retries per trial (-1: unlimited)."""

    def __init__(self, max_failures: int = 0, fail_fast: bool = False) -> None:
        self.max_failures = max_failures
        self.fail_fast = fail_fast

    def may_retry(self, trial: Trial) -> bool:
        """Whether a trial that has just failed (already counted) gets another go."""
        return self.max_failures < 0 or trial.num_failures <= self.max_failures


class Controller:
    """Owns the trials and their states; turns events into decisions."""

    def __init__(
        self,
        stopper: Stopper,
        checkpoint_policy: CheckpointPolicy | None = None,
        failure_policy: FailurePolicy | None = None,
        scheduler: TrialScheduler | None = None,
        max_concurrent_trials: int | None = None,
    ) -> None:
        self.stopper = stopper
        self.checkpoint_policy = checkpoint_policy or CheckpointPolicy()
        self.failure_policy = failure_policy or FailurePolicy()
        self.scheduler = scheduler or FIFOScheduler()
        self.max_concurrent_trials = max_concurrent_trials
        self.trials: list[Trial] = []
        self._by_id: dict[str, Trial] = {}
        # Pending trials grouped by resource shape, oldest first within each shape, so starting
        # the next trial is O(number of shapes), not O(number of pending trials).
        self._pending: OrderedDict[Resources, deque[Trial]] = OrderedDict()
        self._num_running = 0
        self._num_finished = 0
        self._stop_all = False
        # Trials whose newest logged result was checkpointed: a closing duplicate of it needs
        # no checkpoint_at_end of its own.
        self._checkpointed_last: set[str] = set()

    # -- trials ------------------------------------------------------------------------------
    def add_trial(self, trial: Trial) -> None:
        """Add a trial; it starts PENDING unless it is already finished (resume)."""
        if trial.trial_id in self._by_id:
            raise ValueError(f"duplicate trial id {trial.trial_id}")
        self.trials.append(trial)
        self._by_id[trial.trial_id] = trial
        self.scheduler.on_trial_add(trial)
        if trial.is_finished:
            self._num_finished += 1
        else:
            trial.status = TrialStatus.PENDING
            self._enqueue(trial)

    def _enqueue(self, trial: Trial) -> None:
        self._pending.setdefault(trial.resources, deque()).append(trial)

    @property
    def num_pending(self) -> int:
        """Trials waiting to start."""
        return sum(len(q) for q in self._pending.values())

    @property
    def num_running(self) -> int:
        """Trials holding an actor now."""
        return self._num_running

    @property
    def is_finished(self) -> bool:
        """Whether every trial has ended (or a stop-all drained the running ones)."""
        if self._num_running:
            return False
        return self._stop_all or self._num_finished == len(self.trials)

    def start_trials(self, place: Callable[[Trial], P | None]) -> list[tuple[Trial, P]]:
        """Start as many pending trials as ``place`` finds room for, oldest first per shape.

        ``place(trial)`` reserves resources and returns a placement, or None when the trial's
        shape does not fit now (the shape is then skipped until the next call).
        """
        started: list[tuple[Trial, P]] = []
        if self._stop_all:
            return started
        shapes = sorted(
            (shape for shape, queue in self._pending.items() if queue),
            key=lambda shape: self._pending[shape][0].index,
        )
        for shape in shapes:
            queue = self._pending[shape]
            while queue and not self._at_concurrency_limit():
                trial = queue[0]
                placement = place(trial)
                if placement is None:
                    break
                queue.popleft()
                trial.mark_started()
                self._num_running += 1
                started.append((trial, placement))
            if not queue:
                del self._pending[shape]
        return started

    def startable_pending(self) -> list[tuple[Resources, int]]:
        """Pending trials that would start if there were room, as ``(shape, count)`` in the
        order ``start_trials`` tries them: none while stopping all, and no more than
        ``max_concurrent_trials`` allows beside the running ones. O(number of shapes)."""
        if self._stop_all:
            return []
        room = None
        if self.max_concurrent_trials is not None:
            room = max(self.max_concurrent_trials - self._num_running, 0)
        shapes = sorted(
            (shape for shape, queue in self._pending.items() if queue),
            key=lambda shape: self._pending[shape][0].index,
        )
        startable: list[tuple[Resources, int]] = []
        for shape in shapes:
            count = len(self._pending[shape])
            if room is not None:
                count = min(count, room)
                room -= count
            if count:
                startable.append((shape, count))
        return startable

    def _at_concurrency_limit(self) -> bool:
        limit = self.max_concurrent_trials
        return limit is not None and self._num_running >= limit

    def batch_policy(self, max_seconds: float) -> BatchPolicy:
        """The rules a host applies itself: batches of up to ``max_seconds`` when every
        per-result decision can be made on the worker, else (or when ``max_seconds`` <= 0)
        lock-step, one result per call. Without the stop rule (a scheduler, a stop function or
        a Stopper decides on the driver), the host still recognises ``done`` results."""
        batchable = max_seconds > 0 and type(self.scheduler) is FIFOScheduler
        criteria: dict[str, Any] = {}
        if type(self.stopper) is DictStopper:
            criteria = self.stopper.criteria
        elif type(self.stopper) is not NoopStopper:
            batchable = False
        return BatchPolicy(
            max_seconds=max_seconds if batchable else 0.0,
            max_results=MAX_RESULTS_PER_BATCH if batchable else 1,
            stop_criteria=criteria,
            checkpoint_freq=self.checkpoint_policy.freq,
            checkpoint_at_end=self.checkpoint_policy.at_end,
        )

    # -- events ------------------------------------------------------------------------------
    def on_result(self, trial: Trial, result: dict[str, Any]) -> ResultDecision:
        """A result arrived from a running trial.

        The result that ends the trial (stop rule, ``done``, scheduler STOP, stop-all) gets
        ``done=True`` in place, before the driver logs it, as Ray marks it.
        """
        if result.get(R.RESULT_DUPLICATE):
            # The function returned without a result of its own: its last report, already
            # logged, was its final result (Ray does not log it again either).
            closing = dict(trial.last_result)
            closing[R.DONE] = True
            trial.last_result = closing
            at_end = self.checkpoint_policy.at_end and trial.trial_id not in self._checkpointed_last
            checkpoint = bool(result.get(R.SHOULD_CHECKPOINT)) or at_end
            return ResultDecision(log=False, checkpoint=checkpoint, stop=True)
        trial.last_result = result
        trial.num_results += 1
        try:
            stop = bool(result.get(R.DONE)) or self.stopper(trial.trial_id, result)
        except KeyError as exc:
            raise StopCriterionError(str(exc.args[0]) if exc.args else str(exc)) from None
        if self.stopper.stop_all():
            self._stop_all = True
            stop = True
        if not stop:
            action = self.scheduler.on_trial_result(trial, result)
            if action == TrialScheduler.PAUSE:
                raise TuneError(
                    f"{type(self.scheduler).__name__} asked to PAUSE trial {trial}, but pausing "
                    "trials is not supported yet; return CONTINUE or STOP from "
                    "on_trial_result."
                )
            stop = action == TrialScheduler.STOP
        if stop:
            result[R.DONE] = True
        checkpoint = bool(result.get(R.SHOULD_CHECKPOINT))
        freq = self.checkpoint_policy.freq
        if freq and trial.training_iteration % freq == 0:
            checkpoint = True
        if stop and self.checkpoint_policy.at_end:
            checkpoint = True
        if checkpoint:
            self._checkpointed_last.add(trial.trial_id)
        else:
            self._checkpointed_last.discard(trial.trial_id)
        return ResultDecision(log=True, checkpoint=checkpoint, stop=stop)

    def on_checkpoint(self, trial: Trial, path: str, iteration: int) -> None:
        """A checkpoint of ``trial`` at ``iteration`` was committed at ``path``."""
        trial.checkpoint = path
        trial.checkpoint_iteration = iteration

    def on_trial_stopped(self, trial: Trial) -> None:
        """A running trial ended normally (stop rule, done, or scheduler)."""
        self._leave_running(trial)
        trial.status = TrialStatus.TERMINATED
        self._num_finished += 1
        self.scheduler.on_trial_complete(trial, trial.last_result)

    def on_trial_error(self, trial: Trial, message: str) -> bool:
        """A running trial failed (its code raised or its worker was lost).

        Returns True when it will be retried (it is PENDING again, restoring from its newest
        checkpoint), False when it is now ERROR.
        """
        self._leave_running(trial)
        trial.num_failures += 1
        trial.error_msg = message
        if self.failure_policy.may_retry(trial) and not self._stop_all:
            trial.status = TrialStatus.PENDING
            trial.restore_path = trial.checkpoint
            self._enqueue(trial)
            return True
        trial.status = TrialStatus.ERROR
        self._num_finished += 1
        self.scheduler.on_trial_error(trial)
        if self.failure_policy.fail_fast:
            self.stop_all()
        return False

    def requeue(self, trial: Trial) -> None:
        """A trial could not start (its worker vanished first): back to PENDING, not a failure."""
        self._leave_running(trial)
        trial.status = TrialStatus.PENDING
        self._pending.setdefault(trial.resources, deque()).appendleft(trial)

    def _leave_running(self, trial: Trial) -> None:
        if trial.status != TrialStatus.RUNNING:
            raise ValueError(f"trial {trial} is {trial.status}, not RUNNING")
        self._num_running -= 1

    def stop_all(self) -> None:
        """Start no more trials; the driver stops the running ones."""
        self._stop_all = True

    @property
    def stopping_all(self) -> bool:
        """Whether a stop-all (Stopper.stop_all, fail_fast) is in progress."""
        return self._stop_all

    # -- reporting -----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Number of trials in each status."""
        counts: dict[str, int] = {}
        for trial in self.trials:
            counts[trial.status] = counts.get(trial.status, 0) + 1
        return counts

    def errored(self) -> list[Trial]:
        """Trials that ended in ERROR."""
        return [t for t in self.trials if t.status == TrialStatus.ERROR]
