"""Result batching: a trial's host runs several ``train()`` calls per round trip to the driver.

By default (lock-step) every result reaches the driver before the trial's next step starts, as
in Ray Tune: if the worker process dies, every result its trainable returned before the fatal
step is already logged. A round trip costs about a millisecond, though, which dominates
trainables whose steps take microseconds to tens of milliseconds.

Batching is opt-in (dask config ``dasktune.result-batch-time``, e.g. ``"100ms"``; 0, the
default, keeps lock-step) because it trades that guarantee for throughput: the results a batch
holds when its worker dies (at most the batch time's worth) never reach the driver; a retried
trial re-runs them from its checkpoint. Ray Tune's result buffering
(``TUNE_RESULT_BUFFER_LENGTH``) also trains on speculatively and can run a trial past the
result that should have stopped it, which is why Ray leaves it off by default.

dasktune batches only when every decision the driver takes per result can be taken exactly on
the worker: the scheduler is FIFO (it never stops or pauses a trial), the stop rule is absent or
a ``stop={...}`` dict, and checkpoints follow ``checkpoint_freq``/``checkpoint_at_end`` or the
result's own ``should_checkpoint``. The host ends a batch at the first result on which the
driver would stop or checkpoint, so a trial never trains one step further than it would in
lock-step; a batch also ends after the batch time or ``MAX_RESULTS_PER_BATCH`` results.

The same policy with one result per batch is how lock-step runs end a trial in the call that
delivers its last result (the host sees the stop rule and stops the trainable at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import result as R
from .stoppers import criterion_reached

# Default for dask config ``dasktune.result-batch-time``: lock-step, one result per call.
DEFAULT_BATCH_TIME = 0
# Bounds the size of one reply whatever the step time.
MAX_RESULTS_PER_BATCH = 1000


@dataclass(frozen=True)
class BatchPolicy:
    """When a host must hand its results to the driver: the driver-side rules, made portable."""

    max_seconds: float
    max_results: int = MAX_RESULTS_PER_BATCH
    stop_criteria: Mapping[str, float] = field(default_factory=dict)
    checkpoint_freq: int = 0
    checkpoint_at_end: bool = False

    def stops(self, result: Mapping[str, Any]) -> bool | None:
        """Whether the driver stops the trial on this result; None when only the driver can
        tell (a stop key the result lacks, which the driver reports as an error)."""
        if result.get(R.DONE) or result.get(R.RESULT_DUPLICATE):
            return True
        for key, value in self.stop_criteria.items():
            reached = criterion_reached(result, key, value)
            if reached is None:
                return None
            if reached:
                return True
        return False

    def checkpoints(self, result: Mapping[str, Any], stopping: bool) -> bool:
        """Whether the driver asks for a checkpoint after this result."""
        if result.get(R.SHOULD_CHECKPOINT):
            return True
        if result.get(R.RESULT_DUPLICATE):
            # The driver may skip this one (the repeated result was checkpointed already); the
            # host then leaves the ending to the driver's finish call, which is only slower.
            return self.checkpoint_at_end
        freq = self.checkpoint_freq
        if freq and int(result.get(R.TRAINING_ITERATION, 0) or 0) % freq == 0:
            return True
        return stopping and self.checkpoint_at_end

    def ends_batch(self, result: Mapping[str, Any]) -> bool:
        """Whether the driver must see this result before the trial trains again."""
        stopping = self.stops(result)
        return stopping is not False or self.checkpoints(result, stopping=False)

    def finishes(self, result: Mapping[str, Any]) -> bool:
        """Whether the trial ends on this result with nothing left for the driver to do first
        (no checkpoint to take), so the host may stop the trainable in the same call."""
        return self.stops(result) is True and not self.checkpoints(result, stopping=True)


@dataclass
class Batch:
    """What one ``train_batch`` call returns: the results in order, the traceback of the step
    that raised after them (if one did), and, when the host already ended the trial, the
    checkpoints its last uploads committed."""

    results: list[dict[str, Any]]
    error: str | None = None
    finished: list[tuple[str, int]] | None = None
