"""The streaming driver loop: one asyncio task per running trial, on the client's event loop.

Each task keeps exactly one ``train`` call in flight for its trial and handles the result the
moment it arrives (log it, ask the controller, checkpoint, go on or stop), so the driver's work
per result is constant whatever the number of trials. A housekeeping loop starts pending trials
when slots free up, follows workers joining and leaving, flushes logs and writes the experiment
state on a timer.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dask
from dask.utils import parse_timedelta

from .backend.dask_backend import DaskBackend, HostHandle, TrialCodeError, WorkerLost
from .checkpoints import committed_checkpoints, delete_checkpoint
from .controller import Controller, StopCriterionError
from .demand import workers_needed
from .error import TuneError
from .experiment_state import build_state
from .ledger import Placement, ResourceLedger
from .progress import ProgressReporter
from .result_batching import DEFAULT_BATCH_TIME, Batch
from .storage import ExperimentStorage, StorageLocation, TrialLog, format_exception
from .trial import Trial
from .trial_info import TrialInfo

# Seconds between flushes of result logs to storage, and between experiment-state writes.
LOCAL_FLUSH_INTERVAL_S = 1.0
REMOTE_FLUSH_INTERVAL_S = 5.0
STATE_INTERVAL_S = 10.0
# How long the last state write at the end of a run may take before the run gives up on it.
FINAL_WRITE_TIMEOUT_S = 60.0
# Soonest the state is rewritten after a trial ended (so resume sees it ended); it grows with
# the number of trials (the file is rewritten whole) so its cost per result stays bounded.
STATE_AFTER_CHANGE_S = 1.0
STATE_AFTER_CHANGE_PER_TRIAL_S = 0.0005
# Default limit on one checkpoint save (dask config ``dasktune.checkpoint-timeout``): a save
# stuck on storage fails the trial instead of hanging it.
DEFAULT_CHECKPOINT_TIMEOUT = "10 minutes"
# Seconds between asking the scheduler which workers exist.
WORKER_POLL_INTERVAL_S = 1.0
# How long a trainable's stop()/cleanup may take when the run shuts down.
STOP_TIMEOUT_S = 10.0
# A worker whose actor could not be reached gets no new trials for this long, unless the
# scheduler drops it first (then it is forgotten) — it is most likely dying.
QUARANTINE_S = 5.0


@dataclass
class RetentionPolicy:
    """Which checkpoints a trial keeps (``keep_checkpoints_num``/``checkpoint_score_attr``)."""

    keep: int | None = None
    score_attr: str | None = None

    def score(self, result: dict[str, Any]) -> float:
        """Higher is better; ``min-<attr>`` flips the sign. Without an attr, newer is better."""
        if not self.score_attr:
            return float(result.get("training_iteration", 0))
        attr, sign = self.score_attr, 1.0
        if attr.startswith("min-"):
            attr, sign = attr[4:], -1.0
        value = result.get(attr)
        return sign * float(value) if value is not None else float("-inf")


@dataclass
class TrialCheckpoints:
    """One trial's checkpoints: those this run asked for (iteration -> retention score) and the
    committed ones kept so far, as ``(score, iteration, url)``."""

    requested: dict[int, float] = field(default_factory=dict)
    kept: list[tuple[float, int, str]] = field(default_factory=list)


def _checkpoint_timeout_error(what: str, timeout: float) -> TrialCodeError:
    return TrialCodeError(
        f"{what} took longer than {timeout:g} s (storage unreachable or too slow?); check the "
        "storage, or raise dask config 'dasktune.checkpoint-timeout' for very large checkpoints."
    )


@dataclass
class _Timers:
    """When the housekeeping jobs are next due (``time.monotonic()`` seconds)."""

    flush_every: float
    state_after_change: float
    next_poll: float = 0.0
    next_flush: float = 0.0
    next_state: float = 0.0
    last_state: float = 0.0


@dataclass
class DriverConfig:
    """Everything about a run the driver needs besides controller, backend and storage."""

    cls_key: str
    cls_bytes: bytes
    experiment_id: str
    storage_options: dict[str, Any]
    reuse_actors: bool = False
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    worker_wait_timeout_s: float | None = None
    state_meta: dict[str, Any] = field(default_factory=dict)


class Driver:
    """Runs an experiment: the glue between controller, backend, storage and progress."""

    def __init__(
        self,
        controller: Controller,
        backend: DaskBackend,
        storage: ExperimentStorage,
        progress: ProgressReporter,
        config: DriverConfig,
        infeasible_check: Callable[[ResourceLedger], str | None],
    ) -> None:
        self.controller = controller
        self.backend = backend
        self.storage = storage
        self.progress = progress
        self.config = config
        self.ledger = ResourceLedger()
        self._infeasible_check = infeasible_check
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._hosts: dict[str, HostHandle] = {}
        self._logs: dict[str, TrialLog] = {}
        self._checkpoints: dict[str, TrialCheckpoints] = {}
        self._fatal: BaseException | None = None
        self._wake: asyncio.Event | None = None
        self._state_changed = False
        self._quarantine: dict[str, float] = {}
        self._warned_no_reset = False
        # What the scheduler plugin last heard from this run: busy workers, workers wanted.
        self._reported: tuple[frozenset[str], int] = (frozenset(), 0)
        # Each kind of worker capacity seen in this run (kept after the workers leave): what
        # pending trials are converted into workers with.
        self._worker_shapes: dict[tuple[tuple[str, float], ...], dict[str, float]] = {}
        self._flushing: asyncio.Future[None] | None = None
        self._state_writing: asyncio.Future[None] | None = None
        self._remote = not storage.location.is_local
        self._protection: asyncio.Future[str | None] | None = None
        # Logs with rows still in this process's buffers; handed to the OS once per loop turn.
        self._unsynced_logs: set[TrialLog] = set()
        self._protection_checked = False
        self._batch_policy = controller.batch_policy(
            parse_timedelta(dask.config.get("dasktune.result-batch-time", DEFAULT_BATCH_TIME))
        )

    # -- the run -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Run every trial to its end (or until a fatal error), then clean up."""
        self._wake = asyncio.Event()
        # Registering the plugin makes the scheduler import dasktune (tens of ms on a fresh
        # scheduler): trials start meanwhile, and busy workers and demand are reported once it
        # is in.
        self._protection = asyncio.ensure_future(self.backend.install_protection())
        self._protection.add_done_callback(lambda _: self._wake.set())
        try:
            await self._wait_for_workers()
            timers = _Timers(
                flush_every=REMOTE_FLUSH_INTERVAL_S if self._remote else LOCAL_FLUSH_INTERVAL_S,
                state_after_change=max(
                    STATE_AFTER_CHANGE_S,
                    len(self.controller.trials) * STATE_AFTER_CHANGE_PER_TRIAL_S,
                ),
            )
            while True:
                if self._fatal is not None:
                    raise self._fatal
                self._launch()
                await self._report_usage()
                if self.controller.is_finished:
                    break
                try:
                    await asyncio.wait_for(self._wake.wait(), WORKER_POLL_INTERVAL_S)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()
                await self._housekeeping(timers)
        finally:
            await self._shutdown()
        self.progress.maybe_status(self.controller.counts, force=True)

    async def _housekeeping(self, timers: _Timers) -> None:
        """What the run does on a timer rather than per result."""
        now = time.monotonic()
        if now >= timers.next_poll:
            await self._sync_workers()
            if not self.ledger.workers and self.controller.num_pending:
                await self._wait_for_workers()  # every worker left: wait (visibly) again
            timers.next_poll = now + WORKER_POLL_INTERVAL_S
        if now >= timers.next_flush:
            self._start_flush()
            timers.next_flush = now + timers.flush_every
        changed_due = self._state_changed and now - timers.last_state >= timers.state_after_change
        if (now >= timers.next_state or changed_due) and self._state_write_idle():
            self._state_changed = False
            self._state_writing = asyncio.ensure_future(self._write_state_logged())
            timers.last_state, timers.next_state = now, now + STATE_INTERVAL_S
        self.progress.maybe_status(self.controller.counts)

    async def _io(self, fn: Callable[..., Any], *args: Any) -> Any:
        # Remote storage calls block on the network: keep them off the event loop that carries
        # every trial's results.
        if self._remote:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def _wait_for_workers(self) -> None:
        started = time.monotonic()
        announced = False
        while True:
            await self._sync_workers()
            if self.ledger.workers:
                return
            # An adaptive cluster with no workers starts one only once it hears of the demand.
            await self._report_usage()
            waited = time.monotonic() - started
            timeout = self.config.worker_wait_timeout_s
            if timeout is not None and waited >= timeout:
                raise TuneError(
                    f"the cluster had no workers for {timeout:g} s; start workers (or scale the "
                    "cluster up), or raise worker_wait_timeout_s= in tune.run()."
                )
            if not announced:
                self.progress.on_waiting(
                    "the cluster has no workers; waiting for some to join "
                    f"(timeout: {'none' if timeout is None else f'{timeout:g} s'})"
                )
                announced = True
            if self._protection is not None and not self._protection.done():
                # Report the demand as soon as the plugin is in, not up to half a second later.
                await asyncio.wait({self._protection}, timeout=0.5)
            else:
                await asyncio.sleep(0.5)

    async def _sync_workers(self) -> None:
        capacities = await self.backend.worker_capacities()
        known = set(self.ledger.workers)
        for addr, capacity in capacities.items():
            self.ledger.set_worker(addr, capacity)
        for addr in known - set(capacities):
            self._forget_worker(addr)
        joined = capacities.keys() - known
        for addr in joined:
            capacity = capacities[addr]
            self._worker_shapes.setdefault(tuple(sorted(capacity.items())), capacity)
        if joined:
            message = self._infeasible_check(self.ledger)
            if message:
                raise TuneError(message)

    def _forget_worker(self, addr: str) -> None:
        """A worker left: free its slots and fail over the trials placed on it."""
        for trial_id in self.ledger.remove_worker(addr):
            task = self._tasks.get(trial_id)
            if task is not None and task is not asyncio.current_task():
                task.cancel(msg=f"worker-lost:{addr}")
        self.backend.forget_worker(addr)

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

    async def _report_usage(self) -> None:
        """Tell the scheduler plugin the workers this run's trials occupy and how many more its
        pending trials need (see ``backend/protection.py``), when either changed.

        Called once per housekeeping turn, after pending trials were placed: what is still
        pending found no room on the known workers. O(placements + shapes), never per result.
        """
        if not self._protection_ready():
            return
        busy = self.ledger.busy_workers()
        demand = workers_needed(self.controller.startable_pending(), self._worker_shapes.values())
        if (busy, demand) != self._reported:
            self._reported = (busy, demand)
            problem = await self.backend.report_usage(self.config.experiment_id, busy, demand)
            if problem:
                warnings.warn(
                    "dasktune's scheduler plugin refused this run's report, so adaptive scaling "
                    f"no longer follows its trials ({problem}); use the same dasktune version "
                    "where the scheduler runs.",
                    stacklevel=1,
                )

    def _launch(self) -> None:
        for trial, placement in self.controller.start_trials(self._place):
            self.progress.on_trial_event(trial, f"started on {placement.worker}")
            self._tasks[trial.trial_id] = asyncio.create_task(self._run_trial(trial, placement))

    def _place(self, trial: Trial) -> Placement | None:
        if self._quarantine:
            now = time.monotonic()
            self._quarantine = {w: t for w, t in self._quarantine.items() if t > now}
        return self.ledger.place(trial.trial_id, trial.resources, exclude=self._quarantine.keys())

    # -- one trial -----------------------------------------------------------------------------
    async def _run_trial(self, trial: Trial, placement: Placement) -> None:
        """Run one trial on its placement until it stops or fails, then settle its fate.

        Its slots and host are released before the controller hears of a failure, because
        a retried trial may be placed again at once.
        """
        host: HostHandle | None = None
        healthy = True
        started = False
        failure: Exception | None = None
        try:
            log = self._logs.get(trial.trial_id)
            if log is None:
                log = await self._io(self._open_log, trial)
            host = await self.backend.get_host(placement.worker, self.config.cls_key)
            self._hosts[trial.trial_id] = host
            await self._start_trainable(trial, host, placement)
            started = True
            committed = await self._train_until_done(trial, host, log)
            if committed is None:
                committed = await self._finish_trainable(trial, host)
            self._on_committed(trial, committed)
            if not self.config.reuse_actors:
                host.loaded_class = None
        except asyncio.CancelledError as exc:
            healthy = False
            reason = str(exc.args[0]) if exc.args else ""
            if not reason.startswith("worker-lost:"):
                # The run is shutting down: the trainable's _stop still runs.
                if host is not None:
                    await self._try_stop(host, trial)
                self._release(trial, host, healthy)
                raise
            failure = WorkerLost(reason.split(":", 1)[1], "it left the cluster")
        except WorkerLost as exc:
            healthy = False
            failure = exc
        except TrialCodeError as exc:
            if host is not None:
                healthy = await self._try_stop(host, trial)
            failure = exc
        except StopCriterionError as exc:
            if host is not None:
                healthy = await self._try_stop(host, trial)
            self._fatal = exc
        except Exception as exc:  # a bug of ours: fail the run loudly, do not hang
            healthy = False
            self._fatal = exc
        self._release(trial, host, healthy)
        try:
            if self._fatal is not None:
                return
            if isinstance(failure, WorkerLost):
                await self._on_worker_lost(trial, failure, started)
            elif failure is not None:
                await self._on_failure(trial, failure)
            else:
                self.controller.on_trial_stopped(trial)
                self.progress.on_trial_event(trial, f"finished after {trial.num_results} result(s)")
            if trial.is_finished:
                self._state_changed = True
                await self._close_log(trial)
        finally:
            if self._tasks.get(trial.trial_id) is asyncio.current_task():
                del self._tasks[trial.trial_id]
            if self._wake is not None:
                self._wake.set()

    def _release(self, trial: Trial, host: HostHandle | None, healthy: bool) -> None:
        self.ledger.release(trial.trial_id)
        if host is not None:
            if self._hosts.get(trial.trial_id) is host:
                del self._hosts[trial.trial_id]
            if healthy:
                self.backend.give_back(host)
            else:
                self.backend.discard(host)

    async def _start_trainable(self, trial: Trial, host: HostHandle, placement: Placement) -> None:
        cls_key = self.config.cls_key
        cls_bytes = None if cls_key in host.classes else self.config.cls_bytes
        info = TrialInfo(
            trial_id=trial.trial_id,
            trial_name=str(trial),
            experiment_id=self.config.experiment_id,
            logdir=trial.logdir if not self._remote else None,
            placement=placement.as_public_dict(),
        )
        restore = None
        if trial.restore_path:
            restore = (trial.restore_path, self.config.storage_options)
        reuse = self.config.reuse_actors and host.loaded_class == cls_key
        how = await self.backend.call(
            host,
            "start",
            cls_key,
            cls_bytes,
            trial.config,
            info,
            restore,
            reuse,
            self._batch_policy,
            self.config.reuse_actors,
        )
        host.classes.add(cls_key)
        host.loaded_class = cls_key
        if reuse and how != "reset" and not self._warned_no_reset:
            self._warned_no_reset = True
            warnings.warn(
                f"reuse_actors=True, but {trial.trainable_name}.reset_config() returned False, "
                "so each trial gets a fresh trainable. Implement reset_config(new_config) "
                "returning True to reuse trainables.",
                stacklevel=1,
            )

    async def _train_until_done(
        self, trial: Trial, host: HostHandle, log: TrialLog
    ) -> list[tuple[str, int]] | None:
        """Train until a stop; return the checkpoints committed as the host ended the trial
        itself (see ``TrialHost.train_batch``), or None when the trainable still runs there."""
        controller = self.controller
        while True:
            batch: Batch = await self.backend.call(host, "train_batch")
            for result in batch.results:
                decision = controller.on_result(trial, result)
                if decision.log:
                    log.append(result)
                    self._hand_to_os_soon(log)
                    self.progress.on_result(trial, result)
                if decision.checkpoint:
                    await self._checkpoint(trial, host)
                if decision.stop:
                    if batch.error is not None:  # ending the trial on the worker failed
                        raise TrialCodeError(batch.error)
                    return batch.finished
            if batch.error is not None:
                raise TrialCodeError(batch.error)
            if controller.stopping_all:
                return None

    def _hand_to_os_soon(self, log: TrialLog) -> None:
        """Write the log's new rows out of this process at the end of this loop turn, so a
        killed driver loses no logged result; rows logged in the same turn share the write."""
        if not self._unsynced_logs:
            asyncio.get_running_loop().call_soon(self._hand_logs_to_os)
        self._unsynced_logs.add(log)

    def _hand_logs_to_os(self) -> None:
        logs, self._unsynced_logs = self._unsynced_logs, set()
        for log in logs:
            log.hand_to_os()

    def _checkpoint_timeout(self) -> float:
        return parse_timedelta(
            dask.config.get("dasktune.checkpoint-timeout", DEFAULT_CHECKPOINT_TIMEOUT)
        )

    async def _checkpoint(self, trial: Trial, host: HostHandle) -> None:
        """Take a checkpoint: saved locally now, uploaded and committed in the background."""
        timeout = self._checkpoint_timeout()
        save = self.backend.call(
            host,
            "save",
            self.storage.trial_location(trial.dirname).url,
            self.config.storage_options,
        )
        try:
            committed, iteration = await asyncio.wait_for(save, timeout)
        except asyncio.TimeoutError:
            raise _checkpoint_timeout_error(f"saving a checkpoint of {trial}", timeout) from None
        self._requested(trial)[iteration] = self.config.retention.score(trial.last_result)
        self._on_committed(trial, committed)

    def _requested(self, trial: Trial) -> dict[int, float]:
        """Checkpoints this run asked the trial to take: iteration -> retention score."""
        return self._checkpoints.setdefault(trial.trial_id, TrialCheckpoints()).requested

    def _on_committed(self, trial: Trial, committed: list[tuple[str, int]]) -> None:
        for url, iteration in committed:
            self.controller.on_checkpoint(trial, url, iteration)
            self._retain(trial, url, iteration)

    async def _flush_checkpoints(self, trial: Trial, host: HostHandle) -> None:
        """Wait until the trial's background uploads are committed."""
        flush = self.backend.call(host, "flush_checkpoints")
        timeout = self._checkpoint_timeout()
        try:
            committed = await asyncio.wait_for(flush, timeout)
        except asyncio.TimeoutError:
            raise _checkpoint_timeout_error(
                f"committing the checkpoints of {trial}", timeout
            ) from None
        self._on_committed(trial, committed)

    async def _adopt_committed_checkpoint(self, trial: Trial) -> None:
        """After the trial's host died: take the newest checkpoint it committed in storage
        (uploads finish in the background, so the driver may not have heard of it)."""
        requested = self._requested(trial)
        if not requested:
            return
        found = await asyncio.to_thread(
            committed_checkpoints,
            self.storage.trial_location(trial.dirname).url,
            self.config.storage_options,
        )
        ours = [(i, url) for i, url in found if i in requested]
        if ours and ours[-1][0] > trial.checkpoint_iteration:
            iteration, url = ours[-1]
            self._on_committed(trial, [(url, iteration)])

    def _retain(self, trial: Trial, url: str, iteration: int) -> None:
        policy = self.config.retention
        book = self._checkpoints.setdefault(trial.trial_id, TrialCheckpoints())
        score = book.requested.get(iteration, float("-inf"))
        book.kept[:] = [entry for entry in book.kept if entry[2] != url]
        book.kept.append((score, iteration, url))
        if policy.keep is None or len(book.kept) <= policy.keep:
            return
        # The newest checkpoint is what recovery restores from: never delete it.
        candidates = [entry for entry in book.kept if entry[2] != url]
        worst = min(candidates, key=lambda entry: (entry[0], entry[1]))
        book.kept.remove(worst)
        # Deleting is storage I/O the trial need not wait for.
        deletion = asyncio.ensure_future(
            asyncio.to_thread(delete_checkpoint, worst[2], self.config.storage_options)
        )
        deletion.add_done_callback(self._report_deletion)

    def _report_deletion(self, deletion: asyncio.Future[None]) -> None:
        if not deletion.cancelled() and deletion.exception() is not None:
            self.progress.on_waiting(
                f"could not delete an old checkpoint: {deletion.exception()!r}"
            )

    async def _finish_trainable(self, trial: Trial, host: HostHandle) -> list[tuple[str, int]]:
        """End a trial that stopped normally: commit its uploads and stop its trainable, in
        one call."""
        timeout = self._checkpoint_timeout()
        finish = self.backend.call(host, "finish")
        try:
            return await asyncio.wait_for(finish, timeout)
        except asyncio.TimeoutError:
            raise _checkpoint_timeout_error(
                f"committing the checkpoints of {trial} and stopping it", timeout
            ) from None

    async def _try_stop(self, host: HostHandle, trial: Trial) -> bool:
        """Commit what uploads can still finish, then run the trainable's _stop after a failure
        or at shutdown; return whether the host is still usable."""
        try:
            await self._flush_checkpoints(trial, host)
        except (TrialCodeError, WorkerLost):
            pass  # a failed upload is simply not committed
        try:
            await asyncio.wait_for(self.backend.call(host, "stop", False), STOP_TIMEOUT_S)
            host.loaded_class = None
            return True
        except (TrialCodeError, WorkerLost, asyncio.TimeoutError):
            return False

    async def _on_worker_lost(self, trial: Trial, exc: WorkerLost, started: bool) -> None:
        self._quarantine[exc.worker] = time.monotonic() + QUARANTINE_S
        if started:
            await self._adopt_committed_checkpoint(trial)
            await self._on_failure(trial, exc)
        else:
            # The trial never ran there; starting it elsewhere is not a retry.
            self.controller.requeue(trial)

    async def _on_failure(self, trial: Trial, exc: Exception) -> None:
        retried = self.controller.on_trial_error(trial, str(exc))
        if isinstance(exc, WorkerLost):
            limit = self.controller.failure_policy.max_failures
            if retried:
                then = "it restarts from its newest checkpoint (from scratch if it has none)"
            elif limit == 0:
                then = (
                    "pass max_failures=N (or -1 for no limit) to tune.run() to restart such "
                    "trials from their newest checkpoint on another worker"
                )
            else:
                then = f"it already failed {trial.num_failures} time(s) (max_failures={limit})"
            message = f"{exc}. The trial's actor died with its worker; {then}."
        else:
            message = getattr(exc, "traceback", None) or format_exception(exc)
        trial.error_msg = message
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        header = f"Failure # {trial.num_failures} (occurred at {stamp})"
        await self._io(self.storage.append_error, trial.dirname, f"{header}\n{message}")
        if retried:
            where = f"checkpoint {trial.restore_path}" if trial.restore_path else "scratch"
            self.progress.on_trial_event(
                trial,
                f"failed ({trial.num_failures} failure(s)); restarting from {where}",
                important=True,
            )
        else:
            self.progress.on_trial_event(
                trial, f"ERROR: {message.strip().splitlines()[-1]}", important=True
            )

    # -- storage -----------------------------------------------------------------------------
    def _open_log(self, trial: Trial) -> TrialLog:
        location: StorageLocation = self.storage.create_trial_dir(trial.dirname, trial.config)
        trial.logdir = location.url
        log = TrialLog(location)
        self._logs[trial.trial_id] = log
        return log

    async def _close_log(self, trial: Trial) -> None:
        log = self._logs.pop(trial.trial_id, None)
        if log is not None:
            await self._io(log.close)

    def _start_flush(self) -> None:
        """Flush result logs; on remote storage in a thread, never two at once, so a storage
        outage stalls the logs (kept in the local spool) but not the trials."""
        if not self._remote:
            self._flush_logs()
        elif self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(asyncio.to_thread(self._flush_logs))

    def _flush_logs(self) -> None:
        for log in list(self._logs.values()):
            try:
                log.flush()
            except Exception as exc:  # noqa: BLE001 - the rows stay spooled for the next flush
                self.progress.on_waiting(f"could not flush result logs to storage: {exc!r}")

    def _state_write_idle(self) -> bool:
        return self._state_writing is None or self._state_writing.done()

    async def _write_state_logged(self) -> None:
        try:
            await self._write_state()
        except Exception as exc:  # noqa: BLE001 - the next timed write tries again
            self.progress.on_waiting(f"could not write the experiment state: {exc!r}")

    async def _write_state(self) -> None:
        # Built on the loop (a consistent snapshot), written off it.
        state = build_state(
            self.controller.trials, self.config.experiment_id, self.config.state_meta
        )
        await asyncio.to_thread(self.storage.write_state, state)

    async def _shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for trial_id in list(self._logs):
            log = self._logs.pop(trial_id)
            try:
                await asyncio.wait_for(self._io(log.close), FINAL_WRITE_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - closing the other logs matters more
                warnings.warn(
                    f"could not write the last results of trial {trial_id} to storage "
                    f"({exc!r}); rows logged before the last flush are there.",
                    stacklevel=1,
                )
        try:
            await asyncio.wait_for(self._write_state(), FINAL_WRITE_TIMEOUT_S)
            if self._protection is not None:
                await asyncio.wait({self._protection}, timeout=FINAL_WRITE_TIMEOUT_S)
                self._protection_ready()
            # The run is forgotten: its workers may go, and it wants no more.
            await self.backend.report_usage(self.config.experiment_id, frozenset(), 0)
        finally:
            # Trainables kept for reuse_actors still get their _stop.
            await self.backend.close(stop_timeout=STOP_TIMEOUT_S)
