"""The driver: carries out the controller's instructions and feeds their outcomes back.

It takes no decision of its own. Each call to a trial's host runs as one asyncio task; when it
returns, its outcome becomes an event for :meth:`Controller.handle` and the instructions that
come back are carried out at once, so a result is handled the moment it arrives and the work
per result does not grow with the number of trials. A housekeeping loop ticks the controller
about once a second (and whenever a trial ends) and asks the cluster which workers exist.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from . import events as E
from . import instructions as I
from . import result as R
from .backend.protocol import TrialBackend, TrialCodeError, WorkerLost
from .controller import Controller
from .error import StorageTimeoutError
from .experiment_lock import REFRESH_INTERVAL_S, ExperimentLock, ExperimentLockLost
from .listeners import Listener
from .storage import ExperimentStorage
from .storage_calls import StorageCalls

# Seconds between asking the cluster which workers exist (half that while it has none).
WORKER_POLL_INTERVAL_S = 1.0
# How long the scheduler plugin's last report at the end of a run may take.
FINAL_REPORT_TIMEOUT_S = 60.0

# After Ctrl-C: how long running trainables get to stop (a step stuck in user code never does).
INTERRUPT_STOP_S = 3.0

STATE_FILE = R.EXPERIMENT_STATE_FILE
STATE_WRITE = f"writing {STATE_FILE}"
DELETE = "deleting "

StateBuilder = Callable[[], dict[str, Any]]


class Clock:
    """The driver's time: real monotonic seconds (the simulated backend brings its own)."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        return time.monotonic()

    async def wait(self, event: asyncio.Event, timeout: float) -> None:
        """Until ``event`` is set or ``timeout`` seconds passed."""
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


class Driver:
    """Runs an experiment: controller decisions, backend calls, listener notes."""

    def __init__(
        self,
        controller: Controller,
        backend: TrialBackend,
        storage: ExperimentStorage | None,
        listeners: Listener,
        build_state: StateBuilder,
        clock: Clock | None = None,
        lock: ExperimentLock | None = None,
        storage_calls: StorageCalls | None = None,
    ) -> None:
        self.controller = controller
        self.backend = backend
        self.storage = storage
        if storage_calls is None and storage is not None:
            storage_calls = StorageCalls(storage.url)
        self.storage_calls = storage_calls
        self.listeners = listeners
        self._build_state = build_state
        self.clock = clock or Clock()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._side_tasks: set[asyncio.Future[Any]] = set()
        self._fatal: BaseException | None = None
        self._wake = asyncio.Event()
        self._iteration = 0
        self._state_writing: asyncio.Future[None] | None = None
        # Experiment-dir files of the scheduler (WriteFile): one write per name in flight, the
        # newest text waiting behind it.
        self._file_writing: dict[str, asyncio.Future[None]] = {}
        self._file_wanted: dict[str, str] = {}
        self._state_wanted = False
        self._protection: asyncio.Future[str | None] | None = None
        self._protection_checked = False
        self._usage_wanted: I.ReportUsage | None = None
        self._usage_sending = False
        self._interrupted = False
        # The experiment's lock: its heartbeat rides on the state timer (never per result).
        self.lock = lock
        self._lock_refreshing: asyncio.Future[None] | None = None
        self._lock_refreshed = self.clock.now()

    # -- the run -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until the controller has nothing left (or a fatal error), then clean up."""
        # Registering the plugin makes the scheduler import dasktune (tens of ms on a fresh
        # scheduler): trials start meanwhile; usage is reported once it is in.
        self._protection = asyncio.ensure_future(self.backend.install_protection())
        self._protection.add_done_callback(lambda _: self._wake.set())
        next_poll = 0.0
        try:
            while True:
                if self._fatal is not None:
                    raise self._fatal
                now = self.clock.now()
                if now >= next_poll:
                    capacities = await self.backend.worker_capacities()
                    self._apply(E.WorkersChanged(capacities, now))
                    poll = WORKER_POLL_INTERVAL_S if capacities else WORKER_POLL_INTERVAL_S / 2
                    next_poll = now + poll
                self._turn(now)
                self._send_usage()  # a report held back until the scheduler plugin was in
                if self._fatal is not None:
                    raise self._fatal
                if self.controller.is_finished:
                    break
                await self.clock.wait(self._wake, max(0.0, next_poll - self.clock.now()))
                self._wake.clear()
        except asyncio.CancelledError:
            self._interrupted = True
            raise
        finally:
            await self._shutdown()

    def _turn(self, now: float) -> None:
        """One housekeeping turn: listeners' timers, then the controller's."""
        trials = self.controller.trials
        if self.storage_calls is not None:
            self.storage_calls.check()
        self.listeners.on_tick(now, trials, self._iteration)
        self._apply(E.Tick(now))
        self.listeners.after_tick(now, trials, self._iteration)

    def _apply(self, *events: E.Event) -> None:
        """Hand events to the controller and carry out what it asks."""
        self._iteration += len(events)
        for instruction in self.controller.handle(*events):
            self._carry_out(instruction)

    def _carry_out(self, ins: I.Instruction) -> None:
        if isinstance(ins, I.Notify):
            self.listeners.on_note(ins, self.controller.trials, self._iteration)
        elif isinstance(ins, I.Train):
            self._call(ins.trial, ins.run, "train", lambda: self._train(ins))
        elif isinstance(ins, I.Save):
            self._call(ins.trial, ins.run, "save", lambda: self._save(ins))
        elif isinstance(ins, I.StartTrial):
            self._call(ins.trial, ins.run, "start", lambda: self._start(ins))
        elif isinstance(ins, I.Stop):
            self._call(ins.trial, ins.run, "stop", lambda: self._stop(ins))
        elif isinstance(ins, I.Abandon):
            task = self._tasks.pop(ins.trial.trial_id, None)
            if task is not None:
                task.cancel()
            self.backend.abandon(ins.trial)
        elif isinstance(ins, I.FindCheckpoint):
            self._call(ins.trial, ins.run, "find", lambda: self._find(ins))
        elif isinstance(ins, I.DeleteCheckpoint):
            self._side(
                self._in_background(f"{DELETE}{ins.url}", self.backend.delete_checkpoint, ins.url)
            )
        elif isinstance(ins, I.WriteFile):
            self._write_file(ins.name, ins.text)
        elif isinstance(ins, I.WriteState):
            self._write_state()
            self._refresh_lock()
        elif isinstance(ins, I.ReportUsage):
            self._usage_wanted = ins
            self._send_usage()
        else:  # pragma: no cover - a new instruction kind without an executor
            raise TypeError(f"the driver cannot carry out {ins!r}")

    # -- calls to a trial's host -------------------------------------------------------------
    def _call(
        self, trial: Any, run: int, name: str, work: Callable[[], Awaitable[E.Event]]
    ) -> None:
        """Run one host call (``name``) as a task; its outcome becomes the next event.

        ``work`` makes the call's coroutine inside the task, so a task cancelled before it ran
        leaves no coroutine behind un-awaited."""
        trial_id = trial.trial_id

        async def call() -> None:
            try:
                event = await work()
            except WorkerLost as exc:
                event = E.CallFailed(
                    trial_id, run, name, exc.detail, worker_lost=True, worker=exc.worker
                )
            except TrialCodeError as exc:
                event = E.CallFailed(trial_id, run, name, exc.traceback)
            except StorageTimeoutError as exc:  # e.g. opening the logs of a resumed trial
                event = E.CallFailed(trial_id, run, name, str(exc))
            except asyncio.CancelledError:
                return  # abandoned (its worker left) or the run is shutting down
            except BaseException as exc:  # noqa: BLE001 - a bug of ours: fail loudly, never hang
                self._fail_run(exc)
                return
            if self._tasks.get(trial_id) is task:
                del self._tasks[trial_id]
            running = self.controller.num_running
            try:
                self._apply(event)
            except BaseException as exc:  # noqa: BLE001 - e.g. a stop criterion error
                self._fail_run(exc)
            if self.controller.num_running != running:
                # A trial ended or paused: housekeeping may be due (state write, the end). Not
                # per result: a housekeeping turn costs more than a result.
                self._wake.set()

        task = asyncio.create_task(call())
        self._tasks[trial_id] = task

    async def _start(self, ins: I.StartTrial) -> E.Event:
        await self.listeners.before_start(ins.trial)
        how = await self.backend.start(ins.trial, ins.run, ins.placement, ins.restore)
        return E.TrialStarted(ins.trial.trial_id, ins.run, how)

    async def _train(self, ins: I.Train) -> E.Event:
        batch = await self.backend.train(ins.trial)
        return E.ResultsArrived(
            ins.trial.trial_id, ins.run, batch.results, batch.error, batch.finished
        )

    async def _save(self, ins: I.Save) -> E.Event:
        committed, iteration = await self.backend.save(ins.trial, commit=ins.commit)
        return E.CheckpointSaved(ins.trial.trial_id, ins.run, iteration, committed)

    async def _stop(self, ins: I.Stop) -> E.Event:
        if ins.graceful:
            committed = await self.backend.finish(ins.trial)
            return E.TrialStopped(ins.trial.trial_id, ins.run, committed)
        committed, healthy = await self.backend.stop(ins.trial)
        return E.TrialStopped(ins.trial.trial_id, ins.run, committed, host_healthy=healthy)

    async def _find(self, ins: I.FindCheckpoint) -> E.Event:
        try:
            found = await self.backend.find_checkpoint(ins.trial, ins.iterations)
        except Exception as exc:  # noqa: BLE001 - recovery goes on from what the run knew
            warnings.warn(f"could not list the checkpoints of {ins.trial}: {exc!r}", stacklevel=1)
            found = None
        return E.CheckpointFound(ins.trial.trial_id, ins.run, found)

    def _fail_run(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
        self._wake.set()

    # -- I/O that needs no reply ---------------------------------------------------------------
    def _in_background(self, what: str, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        """A storage call off the loop, watched for an outage (see ``StorageCalls``)."""
        if self.storage_calls is None:
            return asyncio.to_thread(fn, *args)
        return self.storage_calls.start(what, fn, *args)

    def _side(self, work: Awaitable[Any]) -> None:
        future = asyncio.ensure_future(work)
        self._side_tasks.add(future)
        future.add_done_callback(self._side_done)

    def _side_done(self, future: asyncio.Future[Any]) -> None:
        self._side_tasks.discard(future)
        if not future.cancelled() and future.exception() is not None:
            warnings.warn(
                f"dasktune: a background write failed: {future.exception()!r}", stacklevel=1
            )

    def _write_state(self) -> None:
        """Write a snapshot of the state, taken now; one write at a time, the newest wins."""
        if self.storage is None:
            return
        if self._state_writing is not None and not self._state_writing.done():
            self._state_wanted = True
            return
        state = self._build_state()
        self._state_writing = asyncio.ensure_future(
            self._in_background(STATE_WRITE, self.storage.write_state, state)
        )
        self._state_writing.add_done_callback(self._state_written)

    def _write_file(self, name: str, text: str) -> None:
        """Write an experiment-dir file in the background; for one name, the newest wins."""
        if self.storage is None:
            return
        if name in self._file_writing:
            self._file_wanted[name] = text
            return
        location = self.storage.location
        future = asyncio.ensure_future(
            self._in_background(f"writing {name}", location.write_text, name, text)
        )
        self._file_writing[name] = future

        def written(done: asyncio.Future[None]) -> None:
            del self._file_writing[name]
            if not done.cancelled() and done.exception() is not None:
                warnings.warn(f"could not write {name}: {done.exception()!r}", stacklevel=1)
            if name in self._file_wanted:
                self._write_file(name, self._file_wanted.pop(name))

        future.add_done_callback(written)

    def _state_written(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            warnings.warn(
                f"could not write the experiment state: {future.exception()!r}", stacklevel=1
            )
        if self._state_wanted:
            self._state_wanted = False
            self._write_state()

    def _refresh_lock(self) -> None:
        """Renew the lock's heartbeat in a thread, one renewal at a time; a lock another run
        took over ends this run (two writers would mix the experiment)."""
        if self.lock is None or self._lock_refreshing is not None:
            return
        now = self.clock.now()
        if now - self._lock_refreshed < REFRESH_INTERVAL_S:
            return
        self._lock_refreshed = now
        self._lock_refreshing = asyncio.ensure_future(asyncio.to_thread(self.lock.refresh))
        self._lock_refreshing.add_done_callback(self._lock_refresh_done)

    def _lock_refresh_done(self, future: asyncio.Future[None]) -> None:
        self._lock_refreshing = None
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, ExperimentLockLost):
            self._fail_run(exc)
        elif exc is not None:
            warnings.warn(
                f"could not renew the experiment's lock ({exc!r}); if this lasts longer than "
                "dasktune.lock-timeout, a run with resume=True may take the experiment over.",
                stacklevel=1,
            )

    def _protection_ready(self) -> bool:
        """Whether the scheduler plugin's registration has ended; warns once if it failed."""
        protection = self._protection
        if protection is None or not protection.done() or protection.cancelled():
            return False
        if not self._protection_checked:
            self._protection_checked = True
            problem = protection.result()
            if problem:
                warnings.warn(
                    "could not install dasktune's scheduler plugin that makes adaptive scaling "
                    "start workers for pending trials and keeps it from closing workers with "
                    f"running trials ({problem}); install dasktune where the scheduler runs, or "
                    "do not use cluster.adapt() with this run.",
                    stacklevel=1,
                )
        return True

    def _send_usage(self) -> None:
        """Report the newest usage to the scheduler plugin, one report at a time."""
        if self._usage_sending or self._usage_wanted is None or not self._protection_ready():
            return
        usage, self._usage_wanted = self._usage_wanted, None
        self._usage_sending = True

        async def send() -> None:
            try:
                problem = await self.backend.report_usage(usage.workers, usage.demand)
            finally:
                self._usage_sending = False
            if problem:
                warnings.warn(
                    "dasktune's scheduler plugin refused this run's report, so adaptive scaling "
                    f"no longer follows its trials ({problem}); use the same dasktune version "
                    "where the scheduler runs.",
                    stacklevel=1,
                )
            self._send_usage()

        self._side(send())

    # -- the end -------------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        """Cancel the calls in flight, stop what still runs, then close the logs and write the
        state together, within one storage deadline."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.backend.close(INTERRUPT_STOP_S if self._interrupted else None)
        finally:
            results = await asyncio.gather(
                self.listeners.on_run_end(self.controller.trials),
                self._final_writes(),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def _final_writes(self) -> None:
        timeout = self.storage_calls.timeout if self.storage_calls is not None else None
        deadline = time.monotonic() + timeout if timeout is not None else None

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        if self._lock_refreshing is not None:
            # Done before the run releases the lock, so no renewal lands after the release.
            await asyncio.wait({self._lock_refreshing}, timeout=left())

        while self._file_writing:  # scheduler files (PBT's policies), newest text last
            pending = set(self._file_writing.values())
            await asyncio.wait(pending, timeout=left())
            if any(not f.done() for f in pending):
                break
        unwritten: list[str] = [f"{name}" for name in self._file_writing]
        failed: BaseException | None = None
        if self._state_writing is not None:
            await asyncio.wait({self._state_writing}, timeout=left())
        if self.storage is not None:
            if self._state_writing is not None and not self._state_writing.done():
                # An older snapshot is still on its way: a newer one must not race it.
                unwritten.append(f"{STATE_FILE} (an earlier write has not returned)")
            else:
                final = asyncio.ensure_future(
                    self._in_background(STATE_WRITE, self.storage.write_state, self._build_state())
                )
                await asyncio.wait({final}, timeout=left())
                if not final.done():
                    unwritten.append(f"{STATE_FILE} (the final snapshot)")
                else:
                    failed = final.exception()  # a failed write fails the run, once all ended
        if self._side_tasks:
            await asyncio.wait(set(self._side_tasks), timeout=left())
        if self.storage_calls is not None:
            deletes = [w for w in self.storage_calls.unfinished() if w.startswith(DELETE)]
            if deletes:
                unwritten.append(f"the deletion of {len(deletes)} old checkpoint(s)")
        if unwritten and self.storage_calls is not None:
            warnings.warn(
                f"dasktune: storage at {self.storage_calls.url} did not answer within "
                f"{timeout:g} s at the end of the run, so these were not written: "
                f"{'; '.join(unwritten)}. The run's trials are in the returned analysis; "
                "check the storage, or raise dask config 'dasktune.storage-timeout'.",
                stacklevel=1,
            )
        if self._protection is not None:
            await asyncio.wait({self._protection}, timeout=FINAL_REPORT_TIMEOUT_S)
            if self._protection_ready():
                # The run is forgotten: its workers may go, and it wants no more.
                await self.backend.report_usage(frozenset(), 0)
        if failed is not None:
            raise failed
