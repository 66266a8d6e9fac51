"""The experiment as a pure state machine: events in, instructions out.

``Controller.handle(*events) -> list[Instruction]`` owns every trial's life: which waiting
trial starts next and where (the resource ledger), what follows each result (stop rules, the
scheduler, checkpoint policy), pausing and resuming, failures (retry or error, a worker lost,
adopting the newest committed checkpoint), checkpoint retention, quarantine of dying workers,
the time budget and the experiment-state timer. It does no I/O and never awaits: the driver
carries the instructions out and feeds each outcome back as an event, so every rule is
tested with plain events (and the whole loop on a simulated backend), no cluster, no clock.

Work per result is O(1) in the number of trials; starting trials is O(resource shapes).
"""

from __future__ import annotations

import copy
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import events as E
from . import result as R
from .checkpoint_book import RetentionPolicy, TrialCheckpoints
from .demand import workers_needed
from .error import TuneError
from .instructions import (
    Abandon,
    DeleteCheckpoint,
    FindCheckpoint,
    Instruction,
    Note,
    Notify,
    ReportUsage,
    Save,
    StartTrial,
    Stop,
    Train,
    WriteFile,
    WriteState,
)
from .ledger import ResourceLedger
from .resources import Resources
from .result_batching import MAX_RESULTS_PER_BATCH, BatchPolicy
from .schedulers import FIFOScheduler, TrialScheduler
from .search.search_algorithm import SearchAlgorithm
from .stoppers import DictStopper, FunctionStopper, NoopStopper, Stopper, verdict
from .trial import Trial, TrialStatus
from .trial_runner import TrialRunner

# A worker whose actor could not be reached gets no new trials for this long (it is most likely
# dying), unless the scheduler drops it first.
QUARANTINE_S = 5.0
# Once the run is stopping, how long a running trial may take to answer before it is
# abandoned: a step stuck in user code cannot be interrupted, and must not hang the run.
STOP_GRACE_S = 5.0
# Trials made ahead while none of the waiting ones fits (the next might: another shape).
PENDING_CAP = 8
# Experiment state: rewritten every STATE_INTERVAL_S, and soon after a trial ended (sooner for
# small runs: the file is rewritten whole, so its cost per result stays bounded).
STATE_INTERVAL_S = 10.0
STATE_AFTER_CHANGE_S = 1.0
STATE_AFTER_CHANGE_PER_TRIAL_S = 0.0005


class StopCriterionError(TuneError):
    """A ``stop`` criterion names a key the trainable does not report: a bug in the run's setup."""


class _ResultFailed(Exception):
    """A result its trial must fail on; ``message`` goes to the trial's error file."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _describe_stopper(stopper: Stopper) -> str:
    if isinstance(stopper, FunctionStopper):
        return f"the stop function {stopper.name}"
    if isinstance(stopper, DictStopper):
        return f"stop={stopper.criteria!r}"
    return f"the stopper {type(stopper).__name__}"


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


# What a running trial does after its current call: train on, checkpoint, stop or pause.
_TRAIN, _SAVE, _STOP, _SAVE_STOP, _PAUSE = "train", "save", "stop", "save_stop", "pause"
# Why a trial stops and starts again at once: it takes a PBT donor's checkpoint and config.
_EXPLOIT = "exploit"


@dataclass
class _Exploit:
    """A receiver's pending exploit (see :meth:`Controller.request_exploit`)."""

    donor: Trial
    config: dict[str, Any]
    tag: str | None
    min_iteration: int
    on_clone: Callable[[str, int], None] | None


class Controller:
    """Owns the trials and their states; turns events into instructions."""

    def __init__(
        self,
        stopper: Stopper,
        search_alg: SearchAlgorithm,
        scheduler: TrialScheduler | None = None,
        checkpoint_policy: CheckpointPolicy | None = None,
        failure_policy: FailurePolicy | None = None,
        retention: RetentionPolicy | None = None,
        max_concurrent_trials: int | None = None,
        time_budget_s: float | None = None,
        worker_wait_timeout_s: float | None = None,
        infeasible_check: Callable[..., str | None] | None = None,
        can_checkpoint: bool = True,
    ) -> None:
        self.stopper = stopper
        self.search_alg = search_alg
        self.scheduler = scheduler or FIFOScheduler()
        self.checkpoint_policy = checkpoint_policy or CheckpointPolicy()
        self.failure_policy = failure_policy or FailurePolicy()
        self.retention = retention or RetentionPolicy()
        self.max_concurrent_trials = max_concurrent_trials
        self.time_budget_s = time_budget_s
        self.worker_wait_timeout_s = worker_wait_timeout_s
        self._infeasible_check = infeasible_check
        self._can_checkpoint = can_checkpoint
        self.ledger = ResourceLedger()
        self.runner = TrialRunner(self)
        self.trials: list[Trial] = []
        self._by_id: dict[str, Trial] = {}
        # Waiting trials: PENDING ones by resource shape, oldest first within a shape (starting
        # the next is O(shapes)); PAUSED ones in the order they paused.
        self._pending: OrderedDict[Resources, deque[Trial]] = OrderedDict()
        self._paused: list[Trial] = []
        self._num_pending = 0
        self._num_running = 0
        self._num_recovering = 0  # lost their worker; looking for their newest checkpoint
        self._num_finished = 0
        # Per running trial: the call in flight, what follows a save, why it is stopping, the
        # failure waiting for its trainable to stop, and requests made by the scheduler.
        self._call: dict[str, str] = {}
        self._after_save: dict[str, str] = {}
        self._ending: dict[str, str] = {}
        self._failure: dict[str, tuple[str, bool]] = {}
        self._requests: dict[str, str] = {}
        self._forced_errors: dict[str, str | None] = {}
        self._checkpoints: dict[str, TrialCheckpoints] = {}
        # Exploits (PBT): pending ones by receiver; receivers waiting for a donor's checkpoint
        # to commit, by donor; waiting receivers held out of the queues meanwhile; checkpoints a
        # receiver restores from, pinned against retention until it commits one of its own.
        self._exploits: dict[str, _Exploit] = {}
        self._awaiting: dict[str, list[str]] = {}
        self._held: dict[str, Trial] = {}
        self._pins: dict[str, int] = {}
        self._pinned_by: dict[str, str] = {}
        self._deferred_deletes: set[str] = set()
        # Running trials that cloned a donor and are stopping: what their uploads still commit
        # is the state they gave up.
        self._gave_up: set[str] = set()
        self._quarantine: dict[str, float] = {}
        # Trials whose newest logged result was checkpointed: a closing duplicate of it needs
        # no checkpoint_at_end of its own.
        self._checkpointed_last: set[str] = set()
        self._worker_shapes: dict[tuple[tuple[str, float], ...], dict[str, float]] = {}
        self._out: list[Instruction] = []
        self._stopping = False
        self._stopping_since = 0.0
        # The time budget ends waiting trials too (Ray): a trial pausing then ends TERMINATED.
        self._ending_waiting = False
        self._dirty = True  # something changed that may let a trial start
        # The search algorithm had no trial for now (a Searcher's None): ask again next turn,
        # even if nothing else changes (say, nothing runs).
        self._ask_again = False
        self._now = 0.0
        self._started_at: float | None = None
        self._waiting_since: float | None = None
        self._next_state = 0.0
        self._last_state = float("-inf")
        self._state_changed = False
        self._reported: tuple[frozenset[str], int] | None = None
        self._usage_due = False
        self._last_shape: Resources | None = None

    # -- the one entry point -------------------------------------------------------------------
    def handle(self, *events: E.Event) -> list[Instruction]:
        """Apply events in order; return what the driver must do, in order."""
        self._out = out = []
        for event in events:
            handler = _HANDLERS[type(event)]
            handler(self, event)
        self._fill()
        if self._usage_due:
            self._usage_due = False
            self._report_usage()
        self._out = []
        return out

    # -- trials --------------------------------------------------------------------------------
    def add_trial(
        self, trial: Trial, known_to_scheduler: bool = False, ended: bool = False
    ) -> None:
        """Add a trial (from the search algorithm, or rebuilt on resume); it waits PENDING
        unless it is already finished or PAUSED.

        On resume, ``known_to_scheduler``: the scheduler was saved with this trial, so it is
        not told of it again (HyperBand would put it in a second bracket). ``ended``: the
        trial's log shows it ended after the state was last written; it is finished now, and
        the scheduler and searcher hear of it as if it just completed.
        """
        if trial.trial_id in self._by_id:
            raise ValueError(f"duplicate trial id {trial.trial_id}")
        self.trials.append(trial)
        self._by_id[trial.trial_id] = trial
        if trial.resources != self._last_shape and self._infeasible_check is not None:
            problem = self._infeasible_check(self.ledger, trial.resources)
            if problem:
                raise TuneError(problem)
        self._last_shape = trial.resources
        if not known_to_scheduler:
            _user_hook(self.scheduler, "on_trial_add", self.runner, trial)
        if ended:
            self._finish(trial, removed=False)
        elif trial.is_finished:
            self._num_finished += 1
        elif trial.status == TrialStatus.PAUSED:
            self._paused.append(trial)
        else:
            trial.status = TrialStatus.PENDING
            self._enqueue(trial)

    def _enqueue(self, trial: Trial, front: bool = False) -> None:
        queue = self._pending.setdefault(trial.resources, deque())
        if front:
            queue.appendleft(trial)
        else:
            queue.append(trial)
        self._num_pending += 1
        self._dirty = True

    def _dequeue(self, trial: Trial) -> None:
        if trial.status == TrialStatus.PAUSED:
            self._paused.remove(trial)
            return
        queue = self._pending[trial.resources]
        if queue[0] is trial:
            queue.popleft()
        else:
            queue.remove(trial)
        if not queue:
            del self._pending[trial.resources]
        self._num_pending -= 1

    @property
    def num_pending(self) -> int:
        """Trials created and waiting to start (not counting PAUSED ones)."""
        return self._num_pending

    @property
    def num_running(self) -> int:
        """Trials holding slots now."""
        return self._num_running

    @property
    def stopping_all(self) -> bool:
        """Whether the run is stopping every trial (a Stopper, fail_fast, the time budget)."""
        return self._stopping

    @property
    def is_finished(self) -> bool:
        """Whether nothing runs and nothing will start again."""
        if self._num_running or self._num_recovering:
            return False
        if self._stopping:
            return True
        return (
            not self._num_pending
            and not self._paused
            and not self._held
            and self.search_alg.is_finished()
        )

    def counts(self) -> dict[str, int]:
        """Number of trials in each status."""
        counts: dict[str, int] = {}
        for trial in self.trials:
            counts[trial.status] = counts.get(trial.status, 0) + 1
        return counts

    def errored(self) -> list[Trial]:
        """Trials that ended in ERROR."""
        return [t for t in self.trials if t.status == TrialStatus.ERROR]

    def checkpoints_of(self, trial: Trial) -> TrialCheckpoints:
        """The checkpoints this run asked ``trial`` for and kept."""
        return self._checkpoints.setdefault(trial.trial_id, TrialCheckpoints())

    # -- what the TrialRunner facade asks --------------------------------------------------------
    def can_place(self, resources: Resources) -> bool:
        """Whether a trial asking for ``resources`` fits on some worker now."""
        return self.ledger.can_place(resources, exclude=self._quarantine.keys())

    def first_runnable(self) -> Trial | None:
        """The oldest PENDING trial that fits now, else the oldest PAUSED one that fits."""
        best: Trial | None = None
        for shape, queue in self._pending.items():
            if queue and (best is None or queue[0].index < best.index) and self.can_place(shape):
                best = queue[0]
        if best is not None:
            return best
        for trial in self._paused:
            if self.can_place(trial.resources):
                return trial
        return None

    def pausing_trial_ids(self) -> list[str]:
        """RUNNING trials whose pause is decided but still under way (asked for, saving, or
        stopping). The experiment state records them, so a resumed run keeps them paused as its
        saved scheduler expects, rather than running them past the point they paused at."""
        ids = {
            i
            for ways in (self._requests, self._after_save, self._ending)
            for i, why in ways.items()
            if why == _PAUSE
        }
        return sorted(ids)

    def has_waiting_trials(self) -> bool:
        """Whether any trial waits PENDING or PAUSED (O(1): no list is built)."""
        return bool(self._num_pending or self._paused)

    def waiting_trials(self) -> list[Trial]:
        """PENDING and PAUSED trials that may be started now (not those waiting for an
        exploit's donor), in creation order."""
        waiting = [t for q in self._pending.values() for t in q] + self._paused
        return sorted(waiting, key=lambda t: t.index)

    def request_pause(self, trial: Trial) -> None:
        """Pause ``trial`` (at its next reply if it runs)."""
        if trial.trial_id in self._held:
            return  # it waits (PAUSED or PENDING) already
        if trial.status == TrialStatus.RUNNING:
            self._requests[trial.trial_id] = _PAUSE
        elif trial.status == TrialStatus.PENDING:
            self._dequeue(trial)
            trial.status = TrialStatus.PAUSED
            self._paused.append(trial)

    def request_stop(self, trial: Trial, error: bool = False, error_msg: str | None = None) -> None:
        """Stop ``trial`` for good (at its next reply if it runs); ``error``: it ends in ERROR."""
        if trial.is_finished:
            return
        if trial.trial_id in self._held:
            self._cancel_exploit(trial, "it was stopped")
        if error:
            self._forced_errors[trial.trial_id] = error_msg
        if trial.status == TrialStatus.RUNNING:
            self._requests[trial.trial_id] = _STOP
            return
        self._dequeue(trial)
        self._finish(trial, removed=True)

    def request_save(self, trial: Trial) -> None:
        """Checkpoint ``trial`` after its current step."""
        if trial.status == TrialStatus.RUNNING:
            self._requests.setdefault(trial.trial_id, _SAVE)

    def request_exploit(
        self,
        trial: Trial,
        donor: Trial,
        config: dict[str, Any],
        tag: str | None = None,
        min_iteration: int = 0,
        on_clone: Callable[[str, int], None] | None = None,
    ) -> bool:
        """``trial`` (the receiver) continues from ``donor``'s newest committed checkpoint with
        ``config`` (and experiment tag ``tag``): PBT's exploit. False when refused (a finished
        trial, or one with an exploit pending already).

        The checkpoint must be at least at ``min_iteration`` (the donor's state the scheduler
        ranked); if the donor's newest committed one is older or missing and the donor runs,
        it saves one first and the receiver waits for its commit (ray#27170 cloned nothing). A
        donor that no longer runs gives its newest checkpoint; with none the exploit is
        dropped, with a note. A running receiver takes it at its next reply: it stops and
        starts again at once on its slots, restoring the donor's checkpoint (with
        ``reuse_actors`` the backend resets a kept trainable in place when ``reset_config``
        returns True); a waiting one restores it when it next starts. ``on_clone(url,
        iteration)`` is called when the checkpoint is chosen (PBT writes its policy log then).
        The checkpoint is pinned against retention until the receiver commits one of its own.
        """
        if trial.is_finished or trial.trial_id in self._exploits:
            return False
        if self._by_id.get(donor.trial_id) is not donor:
            raise ValueError(f"request_exploit: donor {donor} is not a trial of this run")
        self._exploits[trial.trial_id] = _Exploit(
            donor, copy.deepcopy(config), tag, int(min_iteration), on_clone
        )
        if trial.status in (TrialStatus.PENDING, TrialStatus.PAUSED):
            self._resolve_exploit(trial)
        return True

    def write_file(self, name: str, text: str) -> None:
        """Write ``text`` as the experiment-dir file ``name`` (whole; newest wins)."""
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise ValueError(f"write_file: {name!r} must be a plain file name")
        self._out.append(WriteFile(name, text))

    # -- exploits ----------------------------------------------------------------------------
    def _resolve_exploit(self, trial: Trial) -> bool:
        """Find the checkpoint ``trial``'s pending exploit clones, or wait for it. Called for a
        waiting trial, or a running one at a reply with no call in flight. True when the
        trial's next step is taken care of (it restarts, saves, idles or is held); False when
        the exploit was dropped and a running trial should go on as it would have."""
        tid = trial.trial_id
        ex = self._exploits[tid]
        donor = ex.donor
        if donor.checkpoint is not None and donor.checkpoint_iteration >= ex.min_iteration:
            self._clone(trial, donor.checkpoint, donor.checkpoint_iteration)
            return True
        if donor.status == TrialStatus.RUNNING and not self._stopping:
            # The donor saves at its next reply (committed before the reply): see _continue.
            self._awaiting.setdefault(donor.trial_id, []).append(tid)
            if donor is trial:
                self._call[tid] = "save"
                self._after_save[tid] = _TRAIN
                self._out.append(Save(trial, trial.run_number, commit=True))
            elif trial.status == TrialStatus.RUNNING:
                self._call[tid] = "clone"  # idles on its slots: the donor answers within a step
            else:
                self._dequeue(trial)
                self._held[tid] = trial
            return True
        if donor.checkpoint is not None:
            self._clone(trial, donor.checkpoint, donor.checkpoint_iteration)
            return True
        self._cancel_exploit(trial, f"its donor {donor} has no checkpoint and does not run")
        return False

    def _clone(self, trial: Trial, url: str, iteration: int, then: str = _EXPLOIT) -> None:
        """Apply ``trial``'s exploit with the donor's checkpoint ``url``; a running trial then
        stops to start again at once (``then`` ``_EXPLOIT``) or to wait PAUSED (``_PAUSE``)."""
        tid = trial.trial_id
        ex = self._exploits.pop(tid)
        for waiting in self._awaiting.values():
            if tid in waiting:
                waiting.remove(tid)
        donor = ex.donor
        trial.config = ex.config
        trial.config_pickle = None  # pickled again for the state file
        if ex.tag is not None:
            trial.experiment_tag = ex.tag
        self._pin(trial, url)
        # Its own earlier checkpoints hold the state it gave up: neither recovery nor a resumed
        # run (which adopts the newest in its dir) may restore them, so they go (a pinned one,
        # cloned by another trial, once that trial no longer needs it).
        book = self.checkpoints_of(trial)
        book.requested.clear()
        for _, _, own in book.kept:
            if own != url:
                self._delete(own)
        book.kept.clear()
        trial.checkpoint, trial.checkpoint_iteration = url, iteration
        trial.restore_path = url
        self._state_changed = True
        if ex.on_clone is not None:
            ex.on_clone(url, iteration)
        info = {"donor": donor, "checkpoint": url, "iteration": iteration, "config": trial.config}
        self._out.append(Notify(Note.TRIAL_EXPLOIT, trial, info))
        if trial.status == TrialStatus.RUNNING:
            self._gave_up.add(tid)
            self._stop(trial, then)
        elif self._held.pop(tid, None) is not None:
            self._requeue(trial)

    def _requeue(self, trial: Trial) -> None:
        if trial.status == TrialStatus.PAUSED:
            self._paused.append(trial)
            self._dirty = True
        else:
            self._enqueue(trial)

    def _drop_exploit(self, trial: Trial) -> bool:
        """Forget ``trial``'s pending exploit (a held trial waits in its queue again)."""
        tid = trial.trial_id
        if self._exploits.pop(tid, None) is None:
            return False
        for waiting in self._awaiting.values():
            if tid in waiting:
                waiting.remove(tid)
        if self._held.pop(tid, None) is not None:
            self._requeue(trial)
        if self._call.get(tid) == "clone":
            del self._call[tid]
        return True

    def _cancel_exploit(self, trial: Trial, why: str) -> None:
        if self._drop_exploit(trial):
            text = f"trial {trial} did not exploit its donor: {why}; it goes on with its own state"
            self._out.append(Notify(Note.WAITING, trial, {"text": text}))

    def _donor_committed(self, donor: Trial) -> None:
        """Receivers waiting for ``donor``'s checkpoint clone it once it is recent enough."""
        waiting = self._awaiting.get(donor.trial_id)
        if not waiting or donor.checkpoint is None:
            return
        for tid in list(waiting):
            if self._exploits[tid].min_iteration <= donor.checkpoint_iteration:
                self._clone(self._by_id[tid], donor.checkpoint, donor.checkpoint_iteration)
        if not self._awaiting.get(donor.trial_id):
            self._awaiting.pop(donor.trial_id, None)

    def _donor_left(self, donor: Trial) -> None:
        """``donor`` stopped running before a recent enough checkpoint committed: its waiting
        receivers take its newest one, or go on with their own state."""
        for tid in self._awaiting.pop(donor.trial_id, []):
            receiver = self._by_id[tid]
            if tid not in self._exploits:
                continue
            idle = self._call.get(tid) == "clone"
            if donor.checkpoint is not None:
                self._clone(receiver, donor.checkpoint, donor.checkpoint_iteration)
            else:
                self._cancel_exploit(receiver, f"its donor {donor} stopped with no checkpoint")
                if idle:
                    self._continue(receiver, _TRAIN)

    def _delete(self, url: str) -> None:
        """Delete a checkpoint, unless a receiver may still restore it (then when it is
        unpinned)."""
        if url in self._pins:
            self._deferred_deletes.add(url)
        else:
            self._out.append(DeleteCheckpoint(url))

    def _pin(self, trial: Trial, url: str) -> None:
        self._unpin(trial)
        self._pins[url] = self._pins.get(url, 0) + 1
        self._pinned_by[trial.trial_id] = url

    def _unpin(self, trial: Trial, keep: bool = False) -> None:
        """``trial`` no longer needs the checkpoint it cloned; retention's deletion of it, held
        back meanwhile, happens now (unless ``keep``: it stays the trial's final checkpoint)."""
        url = self._pinned_by.pop(trial.trial_id, None)
        if url is None:
            return
        left = self._pins[url] - 1
        if left:
            self._pins[url] = left
            return
        del self._pins[url]
        if url in self._deferred_deletes:
            self._deferred_deletes.discard(url)
            if not keep:
                self._out.append(DeleteCheckpoint(url))

    def _restart(self, trial: Trial) -> None:
        """A trial stopped to take a donor's checkpoint starts again at once on its slots
        (elsewhere if its worker can take none now), restoring ``trial.restore_path``."""
        tid = trial.trial_id
        for table in (self._call, self._after_save, self._requests):
            table.pop(tid, None)
        self._checkpointed_last.discard(tid)
        self.ledger.release(tid)
        placement = self.ledger.place(tid, trial.resources, exclude=self._quarantine.keys())
        if placement is None:
            self._num_running -= 1
            trial.status = TrialStatus.PENDING
            self._enqueue(trial, front=True)
            return
        self._num_running -= 1  # _start_placed counts it again
        self._start_placed(trial, placement)

    # -- the batch policy hosts follow -------------------------------------------------------
    def batch_policy(self, max_seconds: float) -> BatchPolicy:
        """The rules a host applies itself: batches of up to ``max_seconds`` when every
        per-result decision can be made on the worker, else (or when ``max_seconds`` <= 0)
        lock-step, one result per call. Without the stop rule (a scheduler, a stop function or
        a Stopper decides on the driver), the host still recognises ``done`` results."""
        batchable = (
            max_seconds > 0 and type(self.scheduler) is FIFOScheduler and self.time_budget_s is None
        )
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

    # -- starting trials -------------------------------------------------------------------------
    def _fill(self) -> None:
        """Start waiting trials while there is room (only when something changed)."""
        if not self._dirty or self._stopping:
            return
        self._dirty = False
        while not self._at_concurrency_limit():
            self.top_up()
            trial = _user_hook(self.scheduler, "choose_trial_to_run", self.runner)
            if trial is None:
                break
            if (
                trial.status not in (TrialStatus.PENDING, TrialStatus.PAUSED)
                or self._by_id.get(trial.trial_id) is not trial
                or trial.trial_id in self._held
            ):
                raise TuneError(
                    f"{type(self.scheduler).__name__}.choose_trial_to_run returned {trial} "
                    f"({trial.status}); it must return a PENDING or PAUSED trial of "
                    "trial_runner.get_trials() (not one waiting for an exploit's donor: "
                    "trial_runner.waiting_trials() lists those it may), or None."
                )
            placement = self.ledger.place(
                trial.trial_id, trial.resources, exclude=self._quarantine.keys()
            )
            if placement is None:
                break  # it chose a trial that does not fit now; ask again when slots free
            self._start(trial, placement)
        self._check_stall()

    def top_up(self) -> None:
        """Create trials from the search algorithm until one waits that fits now, or
        ``PENDING_CAP`` wait (trials are made as they can start, so memory does not grow with
        num_samples)."""
        while not self.search_alg.is_finished() and (
            not self._num_pending
            or (
                self._num_pending < PENDING_CAP
                and self.ledger.workers
                and not self._at_concurrency_limit()
                and self.first_runnable() is None
            )
        ):
            trial = self.search_alg.next_trial()  # its own errors name the config at fault
            if trial is None:
                self._ask_again = not self.search_alg.is_finished()
                return
            self.add_trial(trial)

    def _at_concurrency_limit(self) -> bool:
        limit = self.max_concurrent_trials
        return limit is not None and self._num_running >= limit

    def _start(self, trial: Trial, placement: Any) -> None:
        self._dequeue(trial)
        self._start_placed(trial, placement)

    def _start_placed(self, trial: Trial, placement: Any) -> None:
        trial.status = TrialStatus.RUNNING
        trial.run_number += 1
        trial.location = placement.worker
        self._num_running += 1
        self._call[trial.trial_id] = "start"
        restore = trial.restore_path
        kind = Note.TRIAL_RESTORE if restore else Note.TRIAL_START
        info = {"worker": placement.worker, "checkpoint": restore}
        self._out.append(Notify(kind, trial, info))
        self._out.append(StartTrial(trial, trial.run_number, placement, restore))

    def _check_stall(self) -> None:
        """A scheduler that starts nothing while nothing runs and trials wait would hang the
        run (Ray's synchronous PBT does, when a trial errors): fail it, naming the scheduler."""
        if self._num_running or self._num_recovering or not self.ledger.workers:
            return
        if (self._num_pending or self._paused) and self.first_runnable() is not None:
            raise TuneError(
                f"{type(self.scheduler).__name__} chose no trial to run although nothing runs "
                f"and {self._num_pending} PENDING and {len(self._paused)} PAUSED trial(s) could "
                "start: the run would wait forever. Its choose_trial_to_run(trial_runner) must "
                "return one of them (FIFOScheduler's returns the oldest that fits)."
            )

    # -- events ----------------------------------------------------------------------------------
    def _live(self, event: Any, call: str | None = None) -> Trial | None:
        """The trial an event is about, or None when the event is stale: from an earlier run
        of the trial, or about a call that is no longer the one in flight."""
        trial = self._by_id.get(event.trial_id)
        if trial is None or trial.run_number != event.run:
            return None
        if call is not None and self._call.get(trial.trial_id) != call:
            return None
        return trial

    def _on_tick(self, event: E.Tick) -> None:
        now = self._now = event.now
        if self._ask_again:
            self._ask_again = False
            self._dirty = True
        if self._started_at is None:
            self._started_at = now
            self._next_state = now  # at once: a driver killed early can be resumed
        if self._quarantine:
            expired = [w for w, until in self._quarantine.items() if until <= now]
            for worker in expired:
                del self._quarantine[worker]
                self._dirty = True
        budget = self.time_budget_s
        if budget is not None and not self._stopping and now - self._started_at >= budget:
            self._stop_all(end_waiting=True)
        elif not self._stopping and self.stopper.stop_all():
            # Asked here too, not only after results: a TimeoutStopper must end a run whose
            # trials are stuck and report nothing.
            self._stop_all()
        if self._stopping and self._num_running and now - self._stopping_since >= STOP_GRACE_S:
            self._abandon_stuck()
        self._check_waiting_for_workers(now)
        after_change = max(STATE_AFTER_CHANGE_S, len(self.trials) * STATE_AFTER_CHANGE_PER_TRIAL_S)
        due = now >= self._next_state
        if due or (self._state_changed and now - self._last_state >= after_change):
            self._state_changed = False
            self._last_state, self._next_state = now, now + STATE_INTERVAL_S
            self._out.append(WriteState())
        self._usage_due = True  # once the trials this turn can start have started

    def _check_waiting_for_workers(self, now: float) -> None:
        if self.ledger.workers or self.is_finished:
            self._waiting_since = None
            return
        if self._waiting_since is None:
            self._waiting_since = now
            timeout = self.worker_wait_timeout_s
            self._out.append(
                Notify(
                    Note.WAITING,
                    info={
                        "text": "the cluster has no workers; waiting for some to join "
                        f"(timeout: {'none' if timeout is None else f'{timeout:g} s'})"
                    },
                )
            )
        elif (
            self.worker_wait_timeout_s is not None
            and now - self._waiting_since >= self.worker_wait_timeout_s
        ):
            raise TuneError(
                f"the cluster had no workers for {self.worker_wait_timeout_s:g} s; start workers "
                "(or scale the cluster up), or raise worker_wait_timeout_s= in tune.run()."
            )

    def _report_usage(self) -> None:
        """Workers busy with trials and workers the waiting trials need, when they changed."""
        busy = self.ledger.busy_workers()
        demand = workers_needed(self.startable_pending(), self._worker_shapes.values())
        if (busy, demand) != self._reported:
            self._reported = (busy, demand)
            self._out.append(ReportUsage(busy, demand))

    def startable_pending(self) -> list[tuple[Resources, int]]:
        """Waiting trials that would start if there were room, as ``(shape, count)``: the
        PENDING ones, then those the search algorithm has yet to hand out (counted in the shape
        of its newest trial), within ``max_concurrent_trials``. O(number of shapes)."""
        if self._stopping:
            return []
        room = None
        if self.max_concurrent_trials is not None:
            room = max(self.max_concurrent_trials - self._num_running, 0)
        groups = [(shape, len(queue)) for shape, queue in self._pending.items() if queue]
        groups += [(t.resources, 1) for t in self._paused]
        total = self.search_alg.total_samples()
        if not self.search_alg.is_finished() and self._last_shape is not None:
            made = len(self.trials)
            more = (total - made) if total is not None else (room or 1)
            if more > 0:
                groups.append((self._last_shape, more))
        merged: dict[Resources, int] = {}  # one group per shape: packed together
        for shape, count in groups:
            if room is not None:
                count = min(count, room)
                room -= count
            if count > 0:
                merged[shape] = merged.get(shape, 0) + count
        return list(merged.items())

    def _on_workers(self, event: E.WorkersChanged) -> None:
        if event.now:
            self._now = event.now
        known = set(self.ledger.workers)
        for address, capacity in event.capacities.items():
            self.ledger.set_worker(address, capacity)
            self._worker_shapes.setdefault(tuple(sorted(capacity.items())), dict(capacity))
        for address in known - set(event.capacities):
            self._worker_left(address)
        if event.capacities.keys() - known:
            self._dirty = True
            if self._infeasible_check is not None:
                problem = self._infeasible_check(self.ledger)
                if problem:
                    raise TuneError(problem)

    def _worker_left(self, address: str) -> None:
        self._quarantine.pop(address, None)
        for trial_id in self.ledger.remove_worker(address):
            trial = self._by_id[trial_id]
            self._lost(trial, address, "it left the cluster")

    def _on_started(self, event: E.TrialStarted) -> None:
        trial = self._live(event, "start")
        if trial is not None:
            self._continue(trial, _TRAIN)

    def _on_results(self, event: E.ResultsArrived) -> None:
        trial = self._live(event, "train")
        if trial is None:
            return
        action = _TRAIN
        for result in event.results:
            try:
                action = self._on_result(trial, result)
            except _ResultFailed as failure:
                # This trial's result (or what the run's code made of it) is at fault: the
                # trial fails; the rest of its batch would not exist in lock-step.
                self._code_failed(trial, failure.message)
                return
        if event.error is not None:
            self._code_failed(trial, event.error)
        elif event.finished is not None and action == _STOP:
            self._commit(trial, event.finished)
            self._ending[trial.trial_id] = _STOP
            self._stopped(trial)
        else:
            self._continue(trial, action)

    def _on_result(self, trial: Trial, result: dict[str, Any]) -> str:
        """Rules for one result: log it, stop, pause, checkpoint, or train on."""
        if result.get(R.RESULT_DUPLICATE):
            # The function returned without a result of its own: its last report, already
            # logged, was its final result (Ray does not log it again either).
            trial.last_result = {**trial.last_result, R.DONE: True}
            at_end = self.checkpoint_policy.at_end and trial.trial_id not in self._checkpointed_last
            return _SAVE_STOP if result.get(R.SHOULD_CHECKPOINT) or at_end else _STOP
        done = result.get(R.DONE)
        if done is not None and done is not True and done is not False:
            # Hosts refuse such results (result_check); a backend that does not is caught here.
            raise _ResultFailed(
                f"trial {trial} reported done={done!r}, a {type(done).__name__}; done must be "
                "True or False (a non-empty string would count as True). Report done=True or "
                "done=False, or leave done out."
            )
        trial.last_result = result
        trial.num_results += 1
        # The stop rule, the scheduler and the searcher are the run's code, called with this
        # trial's result: one that raises on it fails this trial (as in Ray), after the result
        # is logged; the other trials go on.
        try:
            stop = done is True
            if not stop:
                stop = self.stopper(trial.trial_id, result)
                if stop is not True and stop is not False:
                    stop = verdict(stop, _describe_stopper(self.stopper))
            stop_all = self.stopper.stop_all()
            if stop_all is not True and stop_all is not False:
                stop_all = verdict(stop_all, f"{type(self.stopper).__name__}.stop_all()")
            if stop_all:
                self._stop_all()
                stop = True
        except KeyError as exc:
            raise StopCriterionError(str(exc.args[0]) if exc.args else str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - user code: the trial's failure, named
            raise self._hook_failed(trial, result, _describe_stopper(self.stopper), exc) from exc
        decision = TrialScheduler.CONTINUE
        if not stop:
            try:
                decision = self.scheduler.on_trial_result(self.runner, trial, result)
            except Exception as exc:  # noqa: BLE001 - user code: the trial's failure, named
                what = f"{type(self.scheduler).__name__}.on_trial_result()"
                raise self._hook_failed(trial, result, what, exc) from exc
            stop = decision == TrialScheduler.STOP
        if stop:
            result[R.DONE] = True  # as Ray marks the result that ends a trial, before logging
        self._out.append(Notify(Note.RESULT, trial, {"result": result}))
        if not stop:
            try:
                self.search_alg.on_trial_result(trial.trial_id, result)
            except Exception as exc:  # noqa: BLE001 - user code: the trial's failure, named
                what = f"{type(self.search_alg).__name__}.on_trial_result()"
                raise self._hook_failed(trial, result, what, exc, logged=True) from exc
        checkpoint = bool(result.get(R.SHOULD_CHECKPOINT))
        freq = self.checkpoint_policy.freq
        if freq and trial.training_iteration % freq == 0:
            checkpoint = True
        if checkpoint or (stop and self.checkpoint_policy.at_end):
            self._checkpointed_last.add(trial.trial_id)
        else:
            self._checkpointed_last.discard(trial.trial_id)
        if stop:
            return _SAVE_STOP if checkpoint or self.checkpoint_policy.at_end else _STOP
        if decision == TrialScheduler.PAUSE:
            return _PAUSE
        return _SAVE if checkpoint else _TRAIN

    def _hook_failed(
        self,
        trial: Trial,
        result: dict[str, Any],
        what: str,
        exc: BaseException,
        logged: bool = False,
    ) -> _ResultFailed:
        """The failure of ``trial`` because ``what`` raised ``exc`` on its ``result``; the
        result is logged all the same (it was fine: the code reading it failed)."""
        if not logged:
            self._out.append(Notify(Note.RESULT, trial, {"result": result}))
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return _ResultFailed(
            f"{trace}{what} raised {type(exc).__name__} on a result of trial {trial} "
            f"(training_iteration {result.get(R.TRAINING_ITERATION)}), so this trial fails and "
            f"the others go on. Fix {what} (the traceback above), or have the trial report what "
            "it expects."
        )

    def _continue(self, trial: Trial, action: str) -> None:
        """Issue the trial's next call: ``action``, unless a request or a stop-all overrides."""
        tid = trial.trial_id
        request = self._requests.pop(tid, None)
        if tid in self._exploits:
            ex = self._exploits[tid]
            ready = ex.donor.checkpoint is not None and (
                ex.donor.checkpoint_iteration >= ex.min_iteration
            )
            if self._stopping or request == _STOP or action in (_STOP, _SAVE_STOP):
                self._cancel_exploit(trial, "it stops")
            elif action != _PAUSE and request != _PAUSE:
                if self._resolve_exploit(trial):
                    return
            elif ready:
                # Pausing with the donor's checkpoint at hand: no save of the state it gives up.
                self._clone(trial, ex.donor.checkpoint, ex.donor.checkpoint_iteration, _PAUSE)
                return
            # else it pauses (saving), and the exploit applies once it is PAUSED (_stopped)
        commit = False
        if tid in self._awaiting and not self._stopping and self._call.get(tid) != "start":
            # Receivers wait for this donor's checkpoint: it is taken now, committed before the
            # reply (a pause or a stop commits its checkpoints anyway). Not right after a start:
            # that would rewrite the checkpoint it restored, which others may be reading.
            if action in (_TRAIN, _SAVE) and request not in (_STOP, _PAUSE):
                action, commit = _SAVE, True
            elif action == _STOP and request != _STOP and self._can_checkpoint:
                action, commit = _SAVE_STOP, True
        if self._stopping and action not in (_STOP, _SAVE_STOP):
            action = _SAVE_STOP if self.checkpoint_policy.at_end else _STOP
        elif request == _STOP and action not in (_STOP, _SAVE_STOP):
            action = _STOP
        elif request == _PAUSE and action in (_TRAIN, _SAVE):
            action = _PAUSE
        elif request == _SAVE and action == _TRAIN:
            action = _SAVE
        run = trial.run_number
        if action == _TRAIN:
            self._call[trial.trial_id] = "train"
            self._out.append(Train(trial, run))
        elif action == _STOP:
            self._stop(trial, _STOP)
        elif action == _PAUSE and not self._can_checkpoint:
            self._failure[trial.trial_id] = (
                f"{type(self.scheduler).__name__} paused trial {trial}, but its trainable "
                "cannot checkpoint, so it could never resume. Implement _save/_restore "
                "(save_checkpoint/load_checkpoint; for a function, take checkpoint_dir and use "
                "tune.checkpoint_dir), or use a scheduler that does not pause.",
                False,
            )
            self._call[trial.trial_id] = "stop"
            self._out.append(Stop(trial, run, graceful=False))
        else:
            self._after_save[trial.trial_id] = {
                _SAVE: _TRAIN,
                _SAVE_STOP: _STOP,
                _PAUSE: _PAUSE,
            }[action]
            self._call[trial.trial_id] = "save"
            self._out.append(Save(trial, run, commit=commit))

    def _stop(self, trial: Trial, why: str) -> None:
        self._ending[trial.trial_id] = why
        self._call[trial.trial_id] = "stop"
        self._out.append(Stop(trial, trial.run_number, graceful=True))

    def _on_saved(self, event: E.CheckpointSaved) -> None:
        trial = self._live(event, "save")
        if trial is None:
            return
        book = self.checkpoints_of(trial)
        book.requested[event.iteration] = self.retention.score(trial.last_result)
        self._commit(trial, event.committed)
        if self._call.get(trial.trial_id) != "save":
            return  # it saved for its own exploit (a replay), which now restarts it
        then = self._after_save.pop(trial.trial_id, _TRAIN)
        if then == _TRAIN and self._requests.get(trial.trial_id) == _PAUSE and not self._stopping:
            # Paused while it saved (ray#28511 left such a trial RUNNING): this checkpoint is
            # the pause's; the graceful stop commits it.
            del self._requests[trial.trial_id]
            then = _PAUSE
        if then == _TRAIN:
            self._continue(trial, _TRAIN)
            return
        if then == _PAUSE and (self._requests.get(trial.trial_id) == _STOP or self._stopping):
            then = _STOP  # stopped while it saved for a pause: it ends, it does not wait
        self._stop(trial, then)

    def _commit(
        self, trial: Trial, committed: Iterable[tuple[str, int]], stale: bool = False
    ) -> None:
        """Record committed checkpoints. ``stale``: they hold a state the trial has given up
        for an exploit (uploads that were in flight then): deleted, never restored."""
        book = self.checkpoints_of(trial)
        fresh = False
        for url, iteration in committed:
            if not stale:
                fresh = True
                trial.checkpoint = url
                trial.checkpoint_iteration = iteration
                self._out.append(
                    Notify(Note.CHECKPOINT, trial, {"checkpoint": url, "iteration": iteration})
                )
            if stale:
                self._delete(url)  # an upload of the state the trial gave up
                continue
            doomed = book.commit(self.retention, url, iteration)
            if doomed is not None:
                self._delete(doomed)
        if fresh:
            self._unpin(trial)
            self._donor_committed(trial)

    def _on_stopped(self, event: E.TrialStopped) -> None:
        trial = self._live(event, "stop")
        if trial is None:
            return
        stale = trial.trial_id in self._gave_up
        self._gave_up.discard(trial.trial_id)
        self._commit(trial, event.committed, stale=stale)
        self._stopped(trial)

    def _stopped(self, trial: Trial) -> None:
        """The trial's trainable ended on its worker: settle what it ended for."""
        trial_id = trial.trial_id
        why = self._ending.pop(trial_id, _STOP)
        failure = self._failure.pop(trial_id, None)
        if failure is None and why == _EXPLOIT and not self._stopping:
            self._restart(trial)
            return
        self._leave_running(trial)
        if failure is not None:
            self._drop_exploit(trial)
            self._settle_failure(trial, *failure)
        elif why == _PAUSE and not (self._stopping and self._ending_waiting):
            trial.status = TrialStatus.PAUSED
            trial.restore_path = trial.checkpoint
            self._paused.append(trial)
            self._out.append(Notify(Note.TRIAL_PAUSE, trial))
            if trial_id in self._exploits:
                self._resolve_exploit(trial)
        else:
            self._finish(trial, removed=False)

    def _finish(self, trial: Trial, removed: bool) -> None:
        """A trial ends for good without failing: TERMINATED (or ERROR when a scheduler
        stopped it with ``error=True``)."""
        trial_id = trial.trial_id
        forced = trial_id in self._forced_errors
        message = self._forced_errors.pop(trial_id, None)
        self._num_finished += 1
        self._state_changed = True
        self._drop_exploit(trial)
        self._unpin(trial, keep=trial.checkpoint == self._pinned_by.get(trial_id))
        self._checkpoints.pop(trial_id, None)  # nothing more to retain: memory stays flat
        if forced:
            trial.status = TrialStatus.ERROR
            trial.error_msg = (
                message or f"stopped with error=True by {type(self.scheduler).__name__}"
            )
            _user_hook(self.search_alg, "on_trial_complete", trial_id, None, True)
            self._out.append(
                Notify(Note.TRIAL_ERROR, trial, {"message": trial.error_msg, "retried": False})
            )
            return
        trial.status = TrialStatus.TERMINATED
        if removed:
            _user_hook(self.scheduler, "on_trial_remove", self.runner, trial)
        else:
            _user_hook(self.scheduler, "on_trial_complete", self.runner, trial, trial.last_result)
        _user_hook(self.search_alg, "on_trial_complete", trial_id, trial.last_result)
        self._out.append(Notify(Note.TRIAL_COMPLETE, trial))

    def _leave_running(self, trial: Trial) -> None:
        self._gave_up.discard(trial.trial_id)
        if trial.trial_id in self._awaiting:
            self._donor_left(trial)
        self._call.pop(trial.trial_id, None)
        self._requests.pop(trial.trial_id, None)
        self._after_save.pop(trial.trial_id, None)
        self._checkpointed_last.discard(trial.trial_id)
        self.ledger.release(trial.trial_id)
        self._num_running -= 1
        self._dirty = True

    def _on_call_failed(self, event: E.CallFailed) -> None:
        trial = self._live(event, event.call)
        if trial is None:
            return
        if event.worker_lost:
            self._quarantine[event.worker or ""] = self._now + QUARANTINE_S
            self._lost(trial, event.worker or "?", event.message)
        else:
            self._code_failed(trial, event.message)

    def _code_failed(self, trial: Trial, message: str) -> None:
        """The trial's code raised: stop its trainable (best effort), then fail it."""
        self._failure.setdefault(trial.trial_id, (message, False))
        self._call[trial.trial_id] = "stop"
        self._out.append(Stop(trial, trial.run_number, graceful=False))

    def _lost(self, trial: Trial, worker: str, detail: str) -> None:
        """The worker holding the trial's actor is gone."""
        call = self._call.get(trial.trial_id)
        self._out.append(Abandon(trial, trial.run_number))
        self._drop_exploit(trial)
        self._leave_running(trial)
        self._ending.pop(trial.trial_id, None)
        self._failure.pop(trial.trial_id, None)
        message = f"the worker {worker} holding the trial's actor was lost" + (
            f" ({detail})" if detail else ""
        )
        if call == "start":
            # It never ran there; starting it elsewhere is not a retry.
            trial.status = TrialStatus.PENDING
            self._enqueue(trial, front=True)
            return
        self._settle_failure(trial, message, lost=True)

    def _settle_failure(self, trial: Trial, message: str, lost: bool) -> None:
        """Retry or fail a trial whose trainable is gone, first adopting the newest committed
        checkpoint from storage when one the run asked for may be missing: uploads commit in
        the background, so storage may hold a newer one than the run has heard of."""
        requested = self.checkpoints_of(trial).requested
        if requested and max(requested) > trial.checkpoint_iteration:
            self._num_recovering += 1
            self._call[trial.trial_id] = "find"
            self._failure[trial.trial_id] = (message, lost)
            self._out.append(FindCheckpoint(trial, trial.run_number, frozenset(requested)))
        else:
            self._fail(trial, message, lost=lost)

    def _on_found(self, event: E.CheckpointFound) -> None:
        trial = self._live(event, "find")
        if trial is None:
            return
        del self._call[trial.trial_id]
        self._num_recovering -= 1
        if event.checkpoint is not None and event.checkpoint[1] > trial.checkpoint_iteration:
            self._commit(trial, [event.checkpoint])
        message, lost = self._failure.pop(trial.trial_id)
        self._fail(trial, message, lost=lost)

    def _fail(self, trial: Trial, message: str, lost: bool = False) -> None:
        """A trial failed (its code raised, or its worker was lost): retry or ERROR."""
        trial.num_failures += 1
        retried = self.failure_policy.may_retry(trial) and not self._stopping
        if lost:
            limit = self.failure_policy.max_failures
            if retried:
                then = "it restarts from its newest checkpoint (from scratch if it has none)"
            elif limit == 0:
                then = (
                    "pass max_failures=N (or -1 for no limit) to tune.run() to restart such "
                    "trials from their newest checkpoint on another worker"
                )
            else:
                then = f"it already failed {trial.num_failures} time(s) (max_failures={limit})"
            message = f"{message}. The trial's actor died with its worker; {then}."
        trial.error_msg = message
        self._state_changed = True
        self._out.append(Notify(Note.TRIAL_ERROR, trial, {"message": message, "retried": retried}))
        if retried:
            trial.status = TrialStatus.PENDING
            trial.restore_path = trial.checkpoint
            self._enqueue(trial)
            return
        trial.status = TrialStatus.ERROR
        self._num_finished += 1
        self._drop_exploit(trial)
        self._unpin(trial, keep=trial.checkpoint == self._pinned_by.get(trial.trial_id))
        self._checkpoints.pop(trial.trial_id, None)
        _user_hook(self.scheduler, "on_trial_error", self.runner, trial)
        _user_hook(self.search_alg, "on_trial_complete", trial.trial_id, None, True)
        if self.failure_policy.fail_fast:
            self._stop_all()

    def _abandon_stuck(self) -> None:
        """Running trials that did not answer within the grace after the run began to stop
        end TERMINATED; their actors are given up (the step goes on in its worker's thread
        until the worker ends, which dasktune's embedded cluster does at the run's end)."""
        stuck = [self._by_id[t] for t, call in self._call.items() if call != "find"]
        for trial in stuck:
            self._out.append(Abandon(trial, trial.run_number))
            self._leave_running(trial)
            self._ending.pop(trial.trial_id, None)
            self._failure.pop(trial.trial_id, None)
            self._out.append(
                Notify(
                    Note.WAITING,
                    info={
                        "text": f"trial {trial} did not answer within {STOP_GRACE_S:g} s of "
                        "the run stopping (a step stuck in its code?); its actor was given "
                        "up and the trial ends TERMINATED"
                    },
                )
            )
            self._finish(trial, removed=True)

    def _on_stop_requested(self, event: E.StopRequested) -> None:
        self._stop_all()

    def _stop_all(self, end_waiting: bool = False) -> None:
        """Start nothing more; running trials stop at their next reply. ``end_waiting``
        (the time budget, as in Ray): waiting trials end TERMINATED too."""
        if not self._stopping:
            self._stopping = True
            self._stopping_since = self._now
            # Exploits end with the run: held receivers wait in their queues again, idle ones
            # (waiting for a donor's reply) stop now, as they have no reply of their own coming.
            for tid in list(self._exploits):
                trial = self._by_id[tid]
                idle = self._call.get(tid) == "clone"
                self._cancel_exploit(trial, "the run stops")
                if idle:
                    self._stop(trial, _STOP)
        if not end_waiting:
            return
        self._ending_waiting = True
        waiting = [t for q in self._pending.values() for t in q] + self._paused
        self._pending.clear()
        self._paused = []
        self._num_pending = 0
        for trial in waiting:
            trial.status = TrialStatus.PENDING  # for _finish's bookkeeping
            self._finish(trial, removed=True)


def _user_hook(obj: Any, hook: str, *args: Any) -> Any:
    """Call a scheduler's or search algorithm's hook; an exception fails the run naming the
    hook (these hooks are about the run, not one trial's result: see ``_on_result``)."""
    try:
        return getattr(obj, hook)(*args)
    except TuneError:
        raise
    except Exception as exc:
        if type(obj).__module__.startswith("dasktune."):
            raise  # dasktune's own schedulers and searchers raise errors that name the fix
        kind = "scheduler" if isinstance(obj, TrialScheduler) else "search algorithm"
        raise TuneError(
            f"{type(obj).__name__}.{hook}() raised {type(exc).__name__}: {exc}; fix it, or "
            f"run without this {kind}."
        ) from exc


_HANDLERS: dict[type, Callable[[Controller, Any], None]] = {
    E.Tick: Controller._on_tick,
    E.WorkersChanged: Controller._on_workers,
    E.TrialStarted: Controller._on_started,
    E.ResultsArrived: Controller._on_results,
    E.CheckpointSaved: Controller._on_saved,
    E.TrialStopped: Controller._on_stopped,
    E.CallFailed: Controller._on_call_failed,
    E.CheckpointFound: Controller._on_found,
    E.StopRequested: Controller._on_stop_requested,
}
