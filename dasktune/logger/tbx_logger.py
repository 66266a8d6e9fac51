"""TensorBoard event files through ``tensorboardX``: every numeric metric of a result as a
scalar ``dasktune/<metric>`` at step ``training_iteration`` (Ray: ``ray/tune/<metric>``)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..utils.dicts import flatten_dict
from .base import BuiltinLoggerCallback, Logger

# Every tag starts with this (Ray's is "ray/tune/").
TAG_PREFIX = "dasktune/"
# Not metrics: the config has its own file, the step is the x axis, the rest are bookkeeping.
_NOT_SCALARS = frozenset({"config", "training_iteration", "pid", "timestamp", "done"})
# Seconds between the event writer's own flushes to disk.
FLUSH_SECS = 30


def _tensorboardx() -> tuple[type, type]:
    try:
        from tensorboardX import FileWriter
        from tensorboardX.proto.summary_pb2 import Summary
    except ImportError as exc:  # pragma: no cover - tensorboardX is a dependency of dasktune
        raise ImportError(
            "TBXLogger needs the tensorboardX package: pip install tensorboardX, or leave "
            "TBXLogger out of loggers= (loggers=[JsonLogger, CSVLogger])."
        ) from exc
    return FileWriter, Summary


class TBXLogger(Logger):
    """Writes ``events.out.tfevents.*`` in the trial's directory."""

    def _init(self) -> None:
        file_writer, self._summary = _tensorboardx()
        self._writer = file_writer(self.logdir, flush_secs=FLUSH_SECS)

    def on_result(self, result: dict[str, Any]) -> None:
        """Each numeric metric (nested dicts flattened with ``/``) as a scalar."""
        step = result.get("training_iteration")
        if not isinstance(step, numbers.Integral):
            return  # a result without a step cannot be placed on TensorBoard's x axis
        metrics = {k: v for k, v in result.items() if k not in _NOT_SCALARS}
        values = [
            self._summary.Value(tag=TAG_PREFIX + tag, simple_value=float(value))
            for tag, value in flatten_dict(metrics, delimiter="/").items()
            # Ray checks exact types, so flags (bool, an Integral here) are not scalars there.
            if isinstance(value, numbers.Real)
            and not isinstance(value, bool)
            and not math.isnan(value)
        ]
        if values:
            # One event per result holding every scalar: SummaryWriter.add_scalar makes an event
            # per scalar, about 7 times the driver's CPU per result (measured: 430 vs 65 us).
            self._writer.add_summary(self._summary(value=values), global_step=int(step))

    def flush(self) -> None:
        """Write pending events to the file."""
        self._writer.flush()

    def close(self) -> None:
        """Write pending events and close the file."""
        self._writer.close()


class TBXLoggerCallback(BuiltinLoggerCallback):
    """Ray 1.x's name for :class:`TBXLogger` in ``callbacks=``."""

    logger_class = TBXLogger
