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
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import result as R
from . import session, trial_info
from .result_check import check_result
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
        """Report one result (keyword arguments are the metrics) and wait for the next turn.

        A result the run could not use (``done="no"``, a tuple key, a lock) raises here, at the
        report, in the function's own thread: its traceback shows the reporting line.
        """
        if self._stopped:
            raise TrialStopped()
        self._hand_over(("result", check_result(metrics, self._trainable._result_source())))
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

    A function that returns a dict reports it as its final result (``done=True``); one that
    returns anything else ends the trial on its last report (a closing ``__duplicate__`` result
    that is not logged again, as in Ray). One that raises ends it with an error carrying the
    function's traceback. A report made after the function finished a ``tune.checkpoint_dir``
    block carries ``should_checkpoint=True``, so the driver saves that checkpoint.
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
        self._config_for_function = config
        self._scratch = tempfile.mkdtemp(prefix="dasktune_fn_")
        # Newest checkpoint dir the function wrote, and the dir it starts from after a restore.
        self._latest_checkpoint: str | None = None
        self._start_from: str | None = None
        # Whether the function finished a checkpoint since its last report.
        self._fresh_checkpoint = False
        # The newest completed result: a closing __duplicate__ result repeats it.
        self._last_result: dict[str, Any] = {}
        self._warned_lagging_save = False
        # The totals the function's newest checkpoint is at (zeros: it has none).
        self._checkpoint_progress: dict[str, Any] = {
            "iteration": 0,
            "timesteps_total": None,
            "time_total": 0.0,
            "episodes_total": None,
        }

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
                output = fn(*args, checkpoint_dir=self._start_from)
            else:
                output = fn(*args)
            if isinstance(output, dict):
                output = check_result(dict(output), self._result_source())
        except TrialStopped:
            return
        except BaseException:
            self._reporter._hand_over(("error", traceback.format_exc()))
            return
        finally:
            session.unbind(self._reporter)
        # Only a dict is a result; other return values (a list from a lambda) mean nothing here.
        self._reporter._hand_over(("returned", output if isinstance(output, dict) else None))

    def _result_source(self) -> str:
        return f"trial {self.trial_name}: the function {self._function_name()}"

    def _checked(self, result: dict[str, Any]) -> dict[str, Any]:
        return result  # checked in the function's thread, at the report

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
        if kind == "error":
            raise FunctionError(
                f"the function {self._function_name()} raised in its thread:\n{payload}"
            )
        if kind == "result":
            result = dict(payload)
        elif payload is not None:
            # The function returned a dict: its final result, so it is logged as done.
            result = {**payload, R.DONE: True}
        else:
            result = {R.DONE: True, R.RESULT_DUPLICATE: True}
        if self._fresh_checkpoint:
            # The driver saves on should_checkpoint, so each checkpoint is flagged once.
            self._fresh_checkpoint = False
            result[R.SHOULD_CHECKPOINT] = True
        return result

    def _complete_result(self, result: dict[str, Any], start: float) -> dict[str, Any]:
        if result.get(R.RESULT_DUPLICATE):
            # The last result again, closed; it is not logged and is no iteration of its own,
            # so a checkpoint_at_end on it is checkpoint_<n> of the last logged result. A
            # checkpoint the function finished after its last report holds a step more than
            # that result, though: it is saved as checkpoint_<n+1> (Ray counts every closing
            # result as an iteration), so it never overwrites checkpoint_<n>.
            if result.get(R.SHOULD_CHECKPOINT):
                self._iteration += 1
                self._checkpoint_progress = super()._saved_progress()
            closing = {k: v for k, v in self._last_result.items() if k != R.SHOULD_CHECKPOINT}
            closing.update(result)
            return closing
        completed = super()._complete_result(result, start)
        self._last_result = completed
        if completed.get(R.SHOULD_CHECKPOINT):
            # The function's newest checkpoint holds its state as of this report.
            self._checkpoint_progress = super()._saved_progress()
        return completed

    def _saved_progress(self) -> dict[str, Any]:
        """The totals of the function's newest checkpoint, not of its newest report: a save
        taken between the function's own checkpoints (a pause, an exploit, checkpoint_freq)
        holds that checkpoint's state, so a restore counts on from there and the iterations
        after it run again. A function with no checkpoint yet starts over from iteration 0.
        (Ray stamps the newest report's iteration, so a resumed function runs with counters
        ahead of its state, or from scratch with counters mid-run: ray#27170.)"""
        progress = self._checkpoint_progress
        if progress["iteration"] != self._iteration and not self._warned_lagging_save:
            self._warned_lagging_save = True
            warnings.warn(
                f"dasktune: trial {self.trial_name} was saved at iteration {self._iteration}, "
                f"but its function's newest checkpoint is from iteration {progress['iteration']}: "
                f"restored, it continues from iteration {progress['iteration']} and runs the "
                "iterations after it again. Write a checkpoint with tune.checkpoint_dir() at "
                "each report (or at least each perturbation_interval/milestone) for exact "
                "pauses.",
                stacklevel=2,
            )
        return dict(progress)

    def restore(self, checkpoint_path: str) -> None:
        """Restore, then count the restored checkpoint as the function's newest."""
        super().restore(checkpoint_path)
        self._checkpoint_progress = super()._saved_progress()

    @contextmanager
    def make_checkpoint_dir(self, step: int | None) -> Iterator[str]:
        """A fresh dir for the function to write a checkpoint into (``tune.checkpoint_dir``);
        when the block ends without error it becomes the newest checkpoint, and the function's
        next report asks the driver to save it (``should_checkpoint``).

        The committed copy is named after the ``training_iteration`` of that report, which is
        also where a restore continues from; ``step`` only names the scratch dir.
        """
        if not self._takes_checkpoint_dir:
            raise TypeError(
                f"the function {self._function_name()} uses tune.checkpoint_dir() but has no "
                "checkpoint_dir parameter, so it could never continue from its checkpoints; "
                "define it as def f(config, checkpoint_dir=None) and read the checkpoint from "
                "checkpoint_dir when it is given."
            )
        name = f"checkpoint_{self.iteration if step is None else step}"
        path = tempfile.mkdtemp(prefix=f"{name}_", dir=self._scratch)
        yield path
        previous, self._latest_checkpoint = self._latest_checkpoint, path
        self._fresh_checkpoint = True
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
        # A checkpoint the function wrote before this restore is not the state it resumes.
        if self._latest_checkpoint is not None:
            shutil.rmtree(self._latest_checkpoint, ignore_errors=True)
            self._latest_checkpoint = None
        self._fresh_checkpoint = False
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
