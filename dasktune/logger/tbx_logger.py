"""TensorBoard event files through ``tensorboardX``: every numeric metric of a result as a
scalar ``dasktune/<metric>`` at step ``training_iteration`` (Ray: ``ray/tune/<metric>``)."""

from __future__ import annotations

import functools
import importlib.util
import math
import numbers
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..utils.dicts import flatten_dict
from .base import BuiltinLoggerCallback, Logger

# Every tag starts with this (Ray's is "ray/tune/").
TAG_PREFIX = "dasktune/"
# Not metrics: the config has its own file, the step is the x axis, the rest are bookkeeping.
_NOT_SCALARS = frozenset({"config", "training_iteration", "pid", "timestamp", "done"})
# One thread builds and writes every trial's events: the driver's event loop only queues a
# result (building a TensorBoard summary costs about 80 us, a third of a no-op result's driver
# time). tensorboardX's own FileWriter starts a thread per event file (per trial): its plain
# record writer is used instead, from this one thread.
_writer_thread = ThreadPoolExecutor(1, thread_name_prefix="dasktune-tbx")


@functools.cache
def _tensorboardx() -> tuple[Any, type, type, Any]:
    bare = None
    if "tensorboardX" not in sys.modules:
        # tensorboardX/__init__ imports its SummaryWriter, whose module imports torch when torch
        # is installed: seconds (15 s on a busy 2-core box), on the driver's event loop, while
        # trials wait. The event writer and the protos need none of it, so they are imported
        # under a bare package (its __init__ not run), which is then removed: a later
        # ``import tensorboardX`` runs the real __init__, reusing the submodules loaded here.
        spec = importlib.util.find_spec("tensorboardX")
        if spec is not None and spec.submodule_search_locations:
            bare = importlib.util.module_from_spec(spec)
            sys.modules["tensorboardX"] = bare
    try:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.summary import hparams
    except ImportError as exc:  # pragma: no cover - tensorboardX is a dependency of dasktune
        raise ImportError(
            "TBXLogger needs the tensorboardX package: pip install tensorboardX, or leave "
            "TBXLogger out of loggers= (loggers=[JsonLogger, CSVLogger])."
        ) from exc
    finally:
        if bare is not None and sys.modules.get("tensorboardX") is bare:
            del sys.modules["tensorboardX"]
    return EventsWriter, Event, Summary, hparams


class TBXLogger(Logger):
    """Writes ``events.out.tfevents.*`` in the trial's directory, in a background thread."""

    def _init(self) -> None:
        if importlib.util.find_spec("tensorboardX") is None:
            raise ImportError(
                "TBXLogger needs the tensorboardX package: pip install tensorboardX, or leave "
                "TBXLogger out of loggers= (loggers=[JsonLogger, CSVLogger])."
            )
        # Imported by the writer thread, which is the only user: its first import (protobuf,
        # and boto3 when installed: about 0.6 s) then never holds up the driver's event loop.
        _writer_thread.submit(_tensorboardx)
        self._writer: Any = None
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last_result: dict[str, Any] | None = None

    def on_result(self, result: dict[str, Any]) -> None:
        """Queue the result; the writer thread turns it into a summary at the next flush (the
        run's flush timer, about once a second) or close. Waking the thread per result would
        cost more than the summary itself: it competes with the loop for the GIL."""
        with self._lock:
            self._pending.append(result)

    def _write_pending(self) -> None:
        with self._lock:
            results, self._pending = self._pending, []
        if self._writer is None:
            events_writer, self._event, self._summary, self._hparams = _tensorboardx()
            os.makedirs(self.logdir, exist_ok=True)
            self._writer = events_writer(os.path.join(self.logdir, "events"))
        for result in results:
            self._write(result)
        if results:
            self._last_result = results[-1]

    def _write(self, result: dict[str, Any]) -> None:
        """Each numeric metric (nested dicts flattened with ``/``) as a scalar."""
        step = result.get("training_iteration")
        if not isinstance(step, numbers.Integral):
            return  # a result without a step cannot be placed on TensorBoard's x axis
        metrics = {k: v for k, v in result.items() if k not in _NOT_SCALARS}
        values = [
            self._summary.Value(tag=TAG_PREFIX + tag, simple_value=float(value))
            for tag, value in flatten_dict(metrics, delimiter="/").items()
            if _is_scalar(value)
        ]
        if values:
            # One event per result holding every scalar: SummaryWriter.add_scalar makes an event
            # per scalar, about 7 times the CPU per result (measured: 430 vs 65 us).
            summary = self._summary(value=values)
            self._writer.write_event(
                self._event(wall_time=time.time(), step=int(step), summary=summary)
            )

    def _write_hparams(self) -> None:
        """TensorBoard's HParams view, as Ray writes it when a trial ends: the config's plain
        values (nested keys joined with ``/``) against the last result's scalars."""
        last = self._last_result
        if last is None or not isinstance(last.get("training_iteration"), numbers.Integral):
            return
        params = {
            key: (str(value) if isinstance(value, (list, tuple)) else value)
            for key, value in flatten_dict(self.config, delimiter="/").items()
            if isinstance(value, (str, bool, int, float, list, tuple))
        }
        metrics = {
            TAG_PREFIX + tag: float(value)
            for tag, value in flatten_dict(
                {k: v for k, v in last.items() if k not in _NOT_SCALARS}, delimiter="/"
            ).items()
            if _is_scalar(value)
        }
        if not params:
            return
        step = int(last["training_iteration"])
        for summary in self._hparams(params, metrics):
            self._writer.write_event(self._event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        """Have the writer thread write pending events to the file (not waited for here: see
        :func:`wait_for_writes`)."""

        def flush() -> None:
            self._write_pending()
            self._writer.flush()

        _writer_thread.submit(flush)

    def close(self) -> None:
        """Have the writer thread write pending events and close the file."""

        def close() -> None:
            self._write_pending()
            self._write_hparams()
            self._writer.close()

        _writer_thread.submit(close)


def _is_scalar(value: Any) -> bool:
    """A real number that is not a flag or NaN. Exact types first: the ABC check costs about
    a microsecond per metric, a tenth of the whole summary."""
    kind = type(value)
    if kind is float:
        return not math.isnan(value)
    if kind is int:
        return True
    # Ray checks exact types, so flags (bool, an Integral here) are not scalars there.
    return kind is not bool and isinstance(value, numbers.Real) and not math.isnan(value)


def wait_for_writes() -> None:
    """Block until every event queued so far is written (the writer thread takes its work in
    order): before a trial's files are uploaded, and before a run returns."""
    _writer_thread.submit(lambda: None).result()


class TBXLoggerCallback(BuiltinLoggerCallback):
    """Ray 1.x's name for :class:`TBXLogger` in ``callbacks=``."""

    logger_class = TBXLogger
