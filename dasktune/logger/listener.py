"""Runs the ``Logger`` classes of ``loggers=`` per trial, on the driver.

JSON and CSV are written by the run's result log (``dasktune.result_logs``); this listener runs
every other logger class (TensorBoard and the user's). A logger writes to a local directory: the
trial's own with local storage. With remote storage it writes to a local staging directory
whose files are uploaded to the trial's directory on the remote flush timer, when the trial
ends or pauses, and at the end of the run: each upload in a thread under the storage deadline,
one at a time per trial, so the event loop never waits on storage.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import warnings
from typing import Any

from ..callback import Callback
from ..error import TuneError
from ..instructions import Note, Notify
from ..listeners import Listener
from ..result_logs import LOCAL_FLUSH_INTERVAL_S, REMOTE_FLUSH_INTERVAL_S
from ..storage import ExperimentStorage, StorageLocation
from ..storage_calls import SETTING, StorageCalls
from ..trial import Trial
from .base import Logger
from .tbx_logger import wait_for_writes


class _Open:
    """One trial's loggers and where their files go."""

    def __init__(self, loggers: list[Logger], logdir: str, target: StorageLocation | None):
        self.loggers = loggers
        self.logdir = logdir
        # The trial's directory in remote storage; None when the loggers write there directly.
        self.target = target
        self.lock = asyncio.Lock()
        # Results logged since the last upload began: a quiet trial's files are not sent again.
        self.changed = False


class LoggerListener(Listener):
    """Creates each trial's loggers when it starts, feeds them its results, closes them when it
    ends or pauses."""

    def __init__(
        self,
        logger_classes: list[type[Logger]],
        storage: ExperimentStorage,
        storage_calls: StorageCalls | None = None,
    ) -> None:
        self.logger_classes = list(logger_classes)
        self.storage = storage
        self._calls = storage_calls or StorageCalls(storage.url)
        self._remote = not storage.location.is_local
        self._open: dict[str, _Open] = {}
        self._flush_every = REMOTE_FLUSH_INTERVAL_S if self._remote else LOCAL_FLUSH_INTERVAL_S
        self._next_flush = 0.0
        # Uploads in flight: what each is.
        self._background: dict[asyncio.Future[Any], str] = {}

    def _user_call(self, logger: Any, hook: str, *args: Any) -> Any:
        # A logger is user code: its failure fails the run with its name, never silently.
        try:
            return logger(*args) if hook == "__init__" else getattr(logger, hook)(*args)
        except Exception as exc:
            name = logger.__name__ if isinstance(logger, type) else type(logger).__name__
            raise TuneError(
                f"logger {name}.{hook}() raised {type(exc).__name__}: {exc}; fix the logger or "
                "remove it from loggers=."
            ) from exc

    async def before_start(self, trial: Trial) -> None:
        """Open the trial's loggers (kept across a retry, as its result log is)."""
        if not self.logger_classes or trial.trial_id in self._open:
            return
        location = self.storage.trial_location(trial.dirname)
        if self._remote:
            logdir = tempfile.mkdtemp(prefix=f"dasktune_logs_{trial.dirname}_")
            target: StorageLocation | None = location
        else:
            logdir, target = location.path(), None
            os.makedirs(logdir, exist_ok=True)
        loggers = [
            self._user_call(cls, "__init__", trial.config, logdir, trial)
            for cls in self.logger_classes
        ]
        self._open[trial.trial_id] = _Open(loggers, logdir, target)

    def on_note(self, note: Notify, trials: list[Trial], iteration: int) -> None:
        """Results to every logger of the trial; close them when it ends or pauses."""
        trial = note.trial
        if trial is None:
            return
        if note.kind == Note.RESULT:
            opened = self._open.get(trial.trial_id)
            if opened is not None:
                opened.changed = True
                for logger in opened.loggers:
                    self._user_call(logger, "on_result", note.info["result"])
        elif note.kind in (Note.TRIAL_COMPLETE, Note.TRIAL_PAUSE, Note.TRIAL_EXPLOIT) or (
            note.kind == Note.TRIAL_ERROR and not note.info.get("retried")
        ):
            # An exploit changed the config: its next start opens loggers with the new one
            # (Ray recreates the trial's logger then too).
            self._close(trial)

    def _close(self, trial: Trial) -> None:
        opened = self._open.pop(trial.trial_id, None)
        if opened is None:
            return
        for logger in opened.loggers:
            self._user_call(logger, "close")
        if opened.target is not None:
            self._upload(opened, f"the logger files of {trial}", final=True)

    def _upload(self, opened: _Open, what: str, final: bool = False) -> None:
        async def upload() -> None:
            async with opened.lock:  # an older upload never lands after a newer one
                await self._calls.start(
                    f"uploading {what}", _put_dir, opened.logdir, opened.target, final
                )

        future = asyncio.ensure_future(upload())
        self._background[future] = what
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        self._background.pop(future, None)
        if not future.cancelled() and future.exception() is not None:
            warnings.warn(
                f"dasktune: could not upload logger files: {future.exception()!r}", stacklevel=1
            )

    def on_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """Flush the loggers on their timer (and upload their files, with remote storage)."""
        if now < self._next_flush or not self._open:
            return
        self._next_flush = now + self._flush_every
        for trial_id, opened in self._open.items():
            for logger in opened.loggers:
                self._user_call(logger, "flush")
            if opened.target is not None and opened.changed and not opened.lock.locked():
                opened.changed = False
                self._upload(opened, f"the logger files of trial {trial_id}")

    async def on_run_end(self, trials: list[Trial]) -> None:
        """Close every logger still open; wait for the uploads within one storage deadline."""
        deadline = time.monotonic() + self._calls.timeout
        first: BaseException | None = None
        for trial in [t for t in trials if t.trial_id in self._open]:
            try:
                self._close(trial)
            except TuneError as exc:  # the other trials' loggers must still close
                first = first or exc
        await asyncio.to_thread(wait_for_writes)  # the run's event files are whole on return
        if self._background:
            await asyncio.wait(set(self._background), timeout=max(0.0, deadline - time.monotonic()))
        if self._background:
            warnings.warn(
                f"dasktune: storage at {self.storage.url} did not answer within "
                f"{self._calls.timeout:g} s at the end of the run, so these were not uploaded: "
                f"{'; '.join(self._background.values())}. Check the storage, or raise dask "
                f"config '{SETTING}'.",
                stacklevel=1,
            )
        if first is not None:
            raise first


def _put_dir(logdir: str, target: StorageLocation, final: bool) -> None:
    """Upload every file under ``logdir`` to ``target``; after the ``final`` upload the staging
    directory is removed (kept if the upload failed, so nothing is lost)."""
    wait_for_writes()  # TensorBoard events are written in a thread of their own
    for root, _, names in os.walk(logdir):
        if names:
            # The trial's dir may not exist yet (its result log creates it on its first flush);
            # on object stores this is a no-op.
            rel_dir = os.path.relpath(root, logdir).replace(os.sep, "/")
            target.makedirs(*([] if rel_dir == "." else [rel_dir]))
        for name in names:
            local = os.path.join(root, name)
            rel = os.path.relpath(local, logdir).replace(os.sep, "/")
            target.fs.put_file(local, target.path(rel))
    if final:
        shutil.rmtree(logdir, ignore_errors=True)


def check_loggers(loggers: Any) -> list[type[Logger]]:
    """``loggers=`` as a list of :class:`Logger` classes, or an error naming the fix."""
    if isinstance(loggers, type) or not isinstance(loggers, (list, tuple)):
        raise TypeError(
            f"loggers= must be a list of Logger classes, got {loggers!r}; pass e.g. "
            "loggers=[tune.logger.JsonLogger, MyLogger] (it replaces the defaults)."
        )
    for cls in loggers:
        if not (isinstance(cls, type) and issubclass(cls, Logger)):
            hint = (
                " LoggerCallback instances go in callbacks=." if isinstance(cls, Callback) else ""
            )
            raise TypeError(
                f"loggers= holds {cls!r}, which is not a subclass of "
                f"dasktune.logger.Logger; pass the class itself (not an instance).{hint}"
            )
    return list(loggers)
