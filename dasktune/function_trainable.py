"""The function API: a user function runs in its own thread inside a ``FunctionRunner``."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import queue
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import result as R
from . import session, trial_info
from .trainable import Trainable

# How long stop() waits for the function thread to leave its blocked report.
_JOIN_TIMEOUT_S = 5.0
# File in a function checkpoint saying whether the function had written state into it.
_FUNCTION_MARKER = ".dasktune_function_checkpoint"


class TrialStopped(BaseException):
    """Raised inside the function's thread at a report once its trial was stopped.

    A BaseException so that a user's ``except Exception`` does not swallow it and keep training.
    """


class FunctionError(Exception):
    """The user's function raised; the message carries the traceback from its own thread."""


class StatusReporter:
    """Passed as ``reporter`` to ``def f(config, reporter)``; ``reporter(**metrics)`` reports.

    Each call hands one result to the driver and then blocks until the driver asks for the next
    one, so a stop criterion stops the function at the report where it was met.
    """

    def __init__(self, trainable: FunctionRunner) -> None:
        self._results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
        self._resume = threading.Semaphore(0)
        self._stopped = False
        self._trainable = trainable
        # Set while an event loop awaits the next report (FunctionRunner.train_async).
        self._notify: Callable[[], None] | None = None

    def __call__(self, **metrics: Any) -> None:
        """Report one result (keyword arguments are the metrics) and wait for the next turn."""
        if self._stopped:
            raise TrialStopped()
        self._hand_over(("result", metrics))
        self._resume.acquire()
        if self._stopped:
            raise TrialStopped()

    def _hand_over(self, item: tuple[str, Any]) -> None:
        self._results.put(item)
        notify = self._notify
        if notify is not None:
            try:
                notify()
            except RuntimeError:  # the waiting loop closed (worker shutting down)
                pass

    @property
    def logdir(self) -> str:
        """Directory for this trial's own files."""
        return self._trainable.logdir

    @property
    def trial_name(self) -> str:
        """Name of the trial this reporter reports for."""
        return self._trainable.trial_name

    @property
    def trial_id(self) -> str:
        """Id of the trial this reporter reports for."""
        return self._trainable.trial_id


class FunctionRunner(Trainable):
    """Runs a user function as a Trainable: each ``_train`` returns the function's next report.

    A function that returns ends the trial (its last result marked done); one that raises ends
    it with an error carrying the function's traceback.
    """

    _function: Callable[..., Any] | None = None
    _passes_reporter = False
    _takes_checkpoint_dir = False

    @classmethod
    def can_checkpoint(cls) -> bool:
        """A function can checkpoint when it takes ``checkpoint_dir`` (and uses
        ``tune.checkpoint_dir``)."""
        return cls._takes_checkpoint_dir

    def _setup(self, config: dict[str, Any]) -> None:
        self._reporter = StatusReporter(self)
        self._thread: threading.Thread | None = None
        self._last_metrics: dict[str, Any] = {}
        self._config_for_function = config
        self._scratch = tempfile.mkdtemp(prefix="dasktune_fn_")
        # Newest checkpoint dir the function wrote, and the dir it starts from after a restore.
        self._latest_checkpoint: str | None = None
        self._start_from: str | None = None

    def _run_function(self) -> None:
        trial_info.set_current(self._trial_info)
        session.bind(self._reporter)
        try:
            fn = type(self)._function
            assert fn is not None
            args: list[Any] = [self._config_for_function]
            if self._passes_reporter:
                args.append(self._reporter)
            if self._takes_checkpoint_dir:
                fn(*args, checkpoint_dir=self._start_from)
            else:
                fn(*args)
        except TrialStopped:
            return
        except BaseException:
            self._reporter._hand_over(("error", traceback.format_exc()))
            return
        finally:
            session.unbind(self._reporter)
        self._reporter._hand_over(("returned", None))

    def _train(self) -> dict[str, Any]:
        self._continue_function()
        return self._take_report(self._reporter._results.get())

    async def train_async(self) -> dict[str, Any]:
        """``train()`` awaited on an event loop: the function's thread hands its next report
        straight to the loop, so no other thread waits for it (one thread hop less per
        result, for hosts that run trials from an event loop)."""
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()
        reporter = self._reporter
        reporter._notify = lambda: loop.call_soon_threadsafe(arrived.set)
        start = time.time()
        try:
            self._continue_function()
            while True:
                try:
                    item = reporter._results.get_nowait()
                    break
                except queue.Empty:
                    await arrived.wait()
                    arrived.clear()
        finally:
            reporter._notify = None
        return self._complete_result(dict(self._take_report(item)), start)

    def _continue_function(self) -> None:
        if self._thread is None:
            # Started with a copy of this thread's context (Dask's current worker among it).
            context = contextvars.copy_context()
            self._thread = threading.Thread(
                target=context.run,
                args=(self._run_function,),
                name=f"dasktune-fn-{self.trial_id}",
                daemon=True,
            )
            self._thread.start()
        else:
            self._reporter._resume.release()

    def _take_report(self, item: tuple[str, Any]) -> dict[str, Any]:
        kind, payload = item
        if kind == "result":
            self._last_metrics = dict(payload)
            return payload
        if kind == "error":
            raise FunctionError(
                f"the function {self._function_name()} raised in its thread:\n{payload}"
            )
        return {**self._last_metrics, R.DONE: True, R.RESULT_DUPLICATE: True}

    @contextmanager
    def make_checkpoint_dir(self, step: int | None) -> Iterator[str]:
        """A fresh dir for the function to write a checkpoint into; it becomes the newest
        checkpoint when the block ends without error (``tune.checkpoint_dir``)."""
        name = f"checkpoint_{self.iteration if step is None else step}"
        path = tempfile.mkdtemp(prefix=f"{name}_", dir=self._scratch)
        yield path
        previous, self._latest_checkpoint = self._latest_checkpoint, path
        if previous is not None and previous != self._start_from:
            shutil.rmtree(previous, ignore_errors=True)

    def _save(self, tmp_checkpoint_dir: str) -> str:
        if not self._takes_checkpoint_dir:
            raise NotImplementedError(
                f"the function {self._function_name()} cannot checkpoint: give it a "
                "checkpoint_dir=None argument and write checkpoints inside "
                "`with tune.checkpoint_dir(step) as d:`."
            )
        source = self._latest_checkpoint or self._start_from
        if source is not None:
            shutil.copytree(source, tmp_checkpoint_dir, dirs_exist_ok=True)
        # An empty checkpoint (the function has not written one yet) restores to a fresh start.
        with open(os.path.join(tmp_checkpoint_dir, _FUNCTION_MARKER), "w") as f:
            f.write("1" if source is not None else "0")
        return tmp_checkpoint_dir

    def _restore(self, checkpoint: str | dict[str, Any]) -> None:
        if not isinstance(checkpoint, str):
            raise TypeError("a function trainable restores from a checkpoint directory")
        directory = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
        if self._thread is not None:
            # Restoring a running function (e.g. a scheduler exploit) restarts its thread.
            self._stop_thread()
            self._reporter = StatusReporter(self)
            self._thread = None
        with open(os.path.join(directory, _FUNCTION_MARKER)) as f:
            has_state = f.read().strip() == "1"
        self._start_from = None
        if has_state:
            target = tempfile.mkdtemp(prefix="restored_", dir=self._scratch)
            shutil.copytree(directory, target, dirs_exist_ok=True)
            os.unlink(os.path.join(target, _FUNCTION_MARKER))
            for name in os.listdir(target):
                if name.endswith(".tune_metadata"):
                    os.unlink(os.path.join(target, name))  # ours, not the function's
            self._start_from = target

    def _function_name(self) -> str:
        fn = type(self)._function
        return getattr(fn, "__qualname__", repr(fn))

    def _stop(self) -> None:
        self._stop_thread()
        self.cleanup()

    def _stop_thread(self) -> None:
        self._reporter._stopped = True
        self._reporter._resume.release()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(_JOIN_TIMEOUT_S)

    def cleanup(self) -> None:
        """Remove the function's scratch checkpoints."""
        shutil.rmtree(self._scratch, ignore_errors=True)


def _passes_reporter(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "checkpoint_dir"
    ]
    return "reporter" in {p.name for p in params} or len(positional) >= 2


def _takes_checkpoint_dir(fn: Callable[..., Any]) -> bool:
    try:
        return "checkpoint_dir" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def wrap_function(fn: Callable[..., Any], name: str | None = None) -> type[FunctionRunner]:
    """Make a Trainable class that runs ``fn(config)`` or ``fn(config, reporter)``."""
    if not callable(fn):
        raise TypeError(f"expected a function to wrap, got {type(fn).__name__}")
    attrs = {
        "_function": staticmethod(fn),
        "_passes_reporter": _passes_reporter(fn),
        "_takes_checkpoint_dir": _takes_checkpoint_dir(fn),
        "__doc__": getattr(fn, "__doc__", None),
    }
    return type(name or trainable_name_of(fn), (FunctionRunner,), attrs)


def trainable_name_of(fn: Any) -> str:
    """The name a function or class runs under (``lambda`` for lambdas)."""
    name = getattr(fn, "__name__", type(fn).__name__)
    return "lambda" if name == "<lambda>" else name
