"""The result logs (``result.json``, ``progress.csv``: the JSON and CSV loggers), ``params.json``
/``params.pkl`` and error files of every trial, as a listener on the controller's notes.

A logged row leaves the driver process in the event-loop turn that logs it (rows of one turn
share one write per file), so a killed driver loses no logged result; rows reach remote storage
on a timer (local spool files meanwhile), in a thread, one flush at a time, so a storage outage
stalls the logs but not the trials. At the end of the run the last writes get one storage
deadline (dask config ``dasktune.storage-timeout``); what did not make it is named, and spool
files whose rows were not uploaded are kept.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

from . import result as R
from .error import StorageTimeoutError
from .instructions import Note, Notify
from .listeners import Listener
from .progress import RunPrinter
from .storage import ExperimentStorage, TrialLog
from .storage_calls import SETTING, StorageCalls
from .trial import Trial

# Seconds between flushes of result logs to storage.
LOCAL_FLUSH_INTERVAL_S = 1.0
REMOTE_FLUSH_INTERVAL_S = 5.0
# A result whose JSON row is larger than this is warned about, once per trial. Ray warns about
# anything it pickles and ships above the same size (ray_constants.FUNCTION_SIZE_WARN_THRESHOLD).
LARGE_RESULT_BYTES = 10**7


class ResultLogListener(Listener):
    """Writes ``result.json``/``progress.csv`` per trial and appends failures to ``error.txt``.

    ``existing`` names the trials of a resumed run, whose logs in storage may already hold
    rows; every other trial's logs are new, and open without a storage call.
    """

    def __init__(
        self,
        storage: ExperimentStorage,
        progress: RunPrinter,
        storage_calls: StorageCalls | None = None,
        existing: frozenset[str] = frozenset(),
        files: frozenset[str] = frozenset({R.RESULT_FILE, R.PROGRESS_FILE}),
    ) -> None:
        self.storage = storage
        self._progress = progress
        self._calls = storage_calls or StorageCalls(storage.url)
        self._remote = not storage.location.is_local
        self._existing = existing
        # The logs kept, as loggers= chose them (JsonLogger: result.json, CSVLogger: progress.csv).
        self._files = files
        self._opened: set[str] = set()
        # Closes in flight per trial: a trial that starts again reads its logs after them.
        self._closing: dict[str, asyncio.Future[Any]] = {}
        self._logs: dict[str, TrialLog] = {}
        self._warned_large: set[str] = set()
        self._unsynced: set[TrialLog] = set()
        self._flush_every = REMOTE_FLUSH_INTERVAL_S if self._remote else LOCAL_FLUSH_INTERVAL_S
        self._next_flush = 0.0
        self._flushing: asyncio.Future[None] | None = None
        # Writes in flight: what each is, and the log it closes (if it closes one).
        self._background: dict[asyncio.Future[Any], tuple[str, TrialLog | None]] = {}
        # error.txt is read, extended and rewritten: one append at a time.
        self._error_lock = asyncio.Lock()

    async def _io(self, what: str, fn: Any, *args: Any, reaches_storage: bool = True) -> Any:
        # Remote storage calls block on the network: keep them off the loop that carries every
        # trial's results (an outage then stalls this write, not the run).
        if self._remote:
            return await self._calls.start(what, fn, *args, reaches_storage=reaches_storage)
        return fn(*args)

    async def before_start(self, trial: Trial) -> None:
        """Create the trial's dir (``params.json``) and open its logs, once per start."""
        if trial.trial_id in self._logs:
            return
        if not self._remote:
            self._open_local(trial)
            return
        if trial.trial_id in self._existing or trial.trial_id in self._opened:
            # Its logs in storage may hold rows: they are fetched first, under the deadline.
            location = self.storage.trial_location(trial.dirname)
            closing = self._closing.get(trial.trial_id)
            if closing is not None:
                await asyncio.wait({closing}, timeout=self._calls.timeout)
                if not closing.done():
                    raise StorageTimeoutError(
                        location.url, f"closing the logs of {trial}", self._calls.timeout
                    )
            log = await self._calls.call(f"opening the logs of {trial}", self._open_existing, trial)
        else:
            location = self.storage.trial_location(trial.dirname)
            log = TrialLog(location, params=trial.config, files=self._files)
        trial.logdir = location.url
        self._opened.add(trial.trial_id)
        self._logs[trial.trial_id] = log

    def _open_local(self, trial: Trial) -> None:
        # Local files: quick, and done as the trial starts, so callbacks' on_trial_start and
        # LoggerCallback.log_trial_start find trial.logdir in place (as in Ray).
        location = self.storage.create_trial_dir(trial.dirname, trial.config)
        trial.logdir = location.url
        self._opened.add(trial.trial_id)
        self._logs[trial.trial_id] = TrialLog(location, files=self._files)

    def _open_existing(self, trial: Trial) -> TrialLog:
        return TrialLog(
            self.storage.create_trial_dir(trial.dirname, trial.config), files=self._files
        )

    def on_note(self, note: Notify, trials: list[Trial], iteration: int) -> None:
        """Log results; record failures; close the logs of trials that ended or paused."""
        trial = note.trial
        if trial is None:
            return
        if note.kind in (Note.TRIAL_START, Note.TRIAL_RESTORE):
            if not self._remote and trial.trial_id not in self._logs:
                try:
                    self._open_local(trial)
                except OSError:
                    pass  # before_start tries again, and fails the trial's start, not the run
            elif self._remote:
                # Remote dirs are made by the first flush; the URL is known now.
                trial.logdir = self.storage.trial_location(trial.dirname).url
        elif note.kind == Note.RESULT:
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
            self._later(self._append_error(trial.dirname, text), f"error.txt of {trial}")
            if not note.info.get("retried"):
                self._close_later(trial)
        elif note.kind in (Note.TRIAL_COMPLETE, Note.TRIAL_PAUSE):
            self._close_later(trial)
        elif note.kind == Note.TRIAL_EXPLOIT:
            # The trial's config changed: params.json/params.pkl follow (Ray rewrites them too).
            config = dict(note.info["config"])
            log = self._logs.get(trial.trial_id)
            if log is None or not log.replace_params(config):
                write = self._io(
                    f"writing the params of {trial}",
                    self.storage.write_params,
                    trial.dirname,
                    config,
                )
                self._later(write, f"params.json of {trial}")

    async def _append_error(self, dirname: str, text: str) -> None:
        async with self._error_lock:
            await self._io(
                f"appending to {dirname}/error.txt", self.storage.append_error, dirname, text
            )

    def _hand_to_os(self) -> None:
        logs, self._unsynced = self._unsynced, set()
        for log in logs:
            log.hand_to_os()

    def _close_later(self, trial: Trial) -> None:
        log = self._logs.pop(trial.trial_id, None)
        if log is not None:
            self._unsynced.discard(log)
            what = f"the result logs of {trial}"
            closing = self._io(f"closing {what}", log.close, reaches_storage=False)
            future = self._later(closing, what, log)
            trial_id = trial.trial_id
            self._closing[trial_id] = future

            def closed(done: asyncio.Future[Any]) -> None:
                if self._closing.get(trial_id) is done:
                    del self._closing[trial_id]

            future.add_done_callback(closed)

    def _later(self, work: Any, what: str, log: TrialLog | None = None) -> asyncio.Future[Any]:
        future = asyncio.ensure_future(work)
        self._background[future] = (what, log)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: asyncio.Future[Any]) -> None:
        self._background.pop(future, None)
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
            self._flushing = self._calls.start(
                "flushing result logs", self._flush, reaches_storage=False
            )

    def _flush(self) -> None:
        for log in list(self._logs.values()):
            try:
                log.flush()
            except Exception as exc:  # noqa: BLE001 - the rows stay spooled for the next flush
                self._progress.on_waiting(f"could not flush result logs to storage: {exc!r}")

    async def on_run_end(self, trials: list[Trial]) -> None:
        """Close every log still open and finish the writes in flight, all within one storage
        deadline; then name what could not be written."""
        deadline = time.monotonic() + self._calls.timeout
        for trial_id in list(self._logs):
            log = self._logs.pop(trial_id)
            self._unsynced.discard(log)
            what = f"the result logs of trial {trial_id}"
            self._later(self._io(f"closing {what}", log.close, reaches_storage=False), what, log)
        pending = set(self._background)
        if self._flushing is not None and not self._flushing.done():
            pending.add(self._flushing)  # the closes queue behind it anyway
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        late = list(self._background.values())
        if not late:
            return
        spools = [path for _, log in late if log is not None for path in log.spool_paths()]
        kept = f" Rows not uploaded are kept in {', '.join(spools)}." if spools else ""
        warnings.warn(
            f"dasktune: storage at {self.storage.url} did not answer within "
            f"{self._calls.timeout:g} s at the end of the run, so these were not written: "
            f"{'; '.join(what for what, _ in late)}.{kept} Check the storage, or raise dask "
            f"config '{SETTING}'.",
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
