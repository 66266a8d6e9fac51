"""The result logs and error files of every trial, as a listener on the controller's notes.

A logged row leaves the driver process in the event-loop turn that logs it (rows of one turn
share one write per file), so a killed driver loses no logged result; rows reach remote storage
on a timer (local spool files meanwhile), in a thread, one flush at a time, so a storage outage
stalls the logs but not the trials.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

from .instructions import Note, Notify
from .listeners import Listener
from .progress import ProgressReporter
from .storage import ExperimentStorage, TrialLog
from .trial import Trial

# Seconds between flushes of result logs to storage.
LOCAL_FLUSH_INTERVAL_S = 1.0
REMOTE_FLUSH_INTERVAL_S = 5.0
# How long the last flush of a log at the end of a run may take before the run gives up on it.
FINAL_WRITE_TIMEOUT_S = 60.0
# A result whose JSON row is larger than this is warned about, once per trial. Ray warns about
# anything it pickles and ships above the same size (ray_constants.FUNCTION_SIZE_WARN_THRESHOLD).
LARGE_RESULT_BYTES = 10**7


class ResultLogListener(Listener):
    """Writes ``result.json``/``progress.csv`` per trial and appends failures to ``error.txt``."""

    def __init__(self, storage: ExperimentStorage, progress: ProgressReporter) -> None:
        self.storage = storage
        self._progress = progress
        self._remote = not storage.location.is_local
        self._logs: dict[str, TrialLog] = {}
        self._warned_large: set[str] = set()
        self._unsynced: set[TrialLog] = set()
        self._flush_every = REMOTE_FLUSH_INTERVAL_S if self._remote else LOCAL_FLUSH_INTERVAL_S
        self._next_flush = 0.0
        self._flushing: asyncio.Future[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        # error.txt is read, extended and rewritten: one append at a time.
        self._error_lock = asyncio.Lock()

    async def _io(self, fn: Any, *args: Any) -> Any:
        # Remote storage calls block on the network: keep them off the loop that carries every
        # trial's results.
        if self._remote:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def before_start(self, trial: Trial) -> None:
        """Create the trial's dir (``params.json``) and open its logs, once per start."""
        if trial.trial_id in self._logs:
            return
        location = await self._io(self.storage.create_trial_dir, trial.dirname, trial.config)
        trial.logdir = location.url
        self._logs[trial.trial_id] = await self._io(TrialLog, location)

    def on_note(self, note: Notify, trials: list[Trial], iteration: int) -> None:
        """Log results; record failures; close the logs of trials that ended or paused."""
        trial = note.trial
        if trial is None:
            return
        if note.kind == Note.RESULT:
            log = self._logs.get(trial.trial_id)
            if log is not None:
                size = log.append(note.info["result"])
                if size > LARGE_RESULT_BYTES and trial.trial_id not in self._warned_large:
                    self._warned_large.add(trial.trial_id)
                    warnings.warn(large_result_warning(trial, size), stacklevel=1)
                if not self._unsynced:
                    asyncio.get_running_loop().call_soon(self._hand_to_os)
                self._unsynced.add(log)
        elif note.kind == Note.TRIAL_ERROR:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            text = f"Failure # {trial.num_failures} (occurred at {stamp})\n{note.info['message']}"
            self._later(self._append_error(trial.dirname, text))
            if not note.info.get("retried"):
                self._close_later(trial)
        elif note.kind in (Note.TRIAL_COMPLETE, Note.TRIAL_PAUSE):
            self._close_later(trial)

    async def _append_error(self, dirname: str, text: str) -> None:
        async with self._error_lock:
            await self._io(self.storage.append_error, dirname, text)

    def _hand_to_os(self) -> None:
        logs, self._unsynced = self._unsynced, set()
        for log in logs:
            log.hand_to_os()

    def _close_later(self, trial: Trial) -> None:
        log = self._logs.pop(trial.trial_id, None)
        if log is not None:
            self._unsynced.discard(log)
            self._later(self._io(log.close))

    def _later(self, work: Any) -> None:
        future = asyncio.ensure_future(work)
        self._background.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        self._background.discard(future)
        if not future.cancelled() and future.exception() is not None:
            self._progress.on_waiting(f"could not write a trial's files: {future.exception()!r}")

    def on_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """Flush the logs on their timer."""
        if now < self._next_flush:
            return
        self._next_flush = now + self._flush_every
        if not self._remote:
            self._flush()
        elif self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(asyncio.to_thread(self._flush))

    def _flush(self) -> None:
        for log in list(self._logs.values()):
            try:
                log.flush()
            except Exception as exc:  # noqa: BLE001 - the rows stay spooled for the next flush
                self._progress.on_waiting(f"could not flush result logs to storage: {exc!r}")

    async def on_run_end(self, trials: list[Trial]) -> None:
        """Finish the writes in flight, then close every log still open."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=FINAL_WRITE_TIMEOUT_S)
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


def large_result_warning(trial: Trial, size: int) -> str:
    """What a run says (once per trial) when a trial reports a result of ``size`` bytes."""
    return (
        f"trial {trial} reported a result of {size / 1e6:.1f} MB (as JSON); every result "
        "travels from the worker to the driver and is written whole to result.json and "
        "progress.csv, so results this large slow the run and fill the disk. Report summary "
        "numbers, and write large data (arrays, models) to the trial's own directory "
        "(tune.track.trial_dir() or self.logdir) or into a checkpoint instead. Said once per "
        "trial."
    )
