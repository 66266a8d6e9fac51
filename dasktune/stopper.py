"""Ray Tune's stoppers, at Ray's module path (``ray.tune.stopper``).

``stop=`` takes any of them. ``Stopper.__call__(trial_id, result)`` stops one trial;
``stop_all()`` stops the run. dasktune asks ``stop_all()`` after every result *and* on its
housekeeping timer (about once a second), so a ``TimeoutStopper`` ends a run whose trials are
stuck and report nothing (Ray asks only after results).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict, deque
from typing import Any

from .stoppers import FunctionStopper, NoopStopper, Stopper

__all__ = [
    "CombinedStopper",
    "ExperimentPlateauStopper",
    "FunctionStopper",
    "MaximumIterationStopper",
    "NoopStopper",
    "Stopper",
    "TimeoutStopper",
    "TrialPlateauStopper",
]


def _check_mode(mode: str | None) -> None:
    if mode not in (None, "min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")


class CombinedStopper(Stopper):
    """Stops a trial (or the run) when any of its stoppers would."""

    def __init__(self, *stoppers: Stopper) -> None:
        for stopper in stoppers:
            if not isinstance(stopper, Stopper):
                raise TypeError(f"CombinedStopper takes tune.Stopper objects, got {stopper!r}")
        self._stoppers = stoppers

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Every stopper hears the result (they may keep history); any may stop the trial."""
        decisions = [stopper(trial_id, result) for stopper in self._stoppers]
        return any(decisions)

    def stop_all(self) -> bool:
        """Whether any stopper ends the run."""
        return any(stopper.stop_all() for stopper in self._stoppers)


class MaximumIterationStopper(Stopper):
    """Stops each trial at ``training_iteration >= max_iter``."""

    def __init__(self, max_iter: int) -> None:
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
        self._max_iter = max_iter

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Whether the trial reached ``max_iter``."""
        return int(result.get("training_iteration", 0) or 0) >= self._max_iter


class TimeoutStopper(Stopper):
    """Ends the whole run ``timeout`` seconds (or a ``datetime.timedelta``) after it was made."""

    def __init__(self, timeout: Any) -> None:
        seconds = timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self._timeout = float(seconds)
        self._start = time.monotonic()

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Never stops a single trial."""
        return False

    def stop_all(self) -> bool:
        """Whether the time is up."""
        return time.monotonic() - self._start >= self._timeout


class TrialPlateauStopper(Stopper):
    """Stops a trial once ``metric`` has plateaued: the standard deviation of its last
    ``num_results`` values is below ``std``, after ``grace_period`` results, and (with
    ``metric_threshold``) only when the metric is better than the threshold under ``mode``."""

    def __init__(
        self,
        metric: str,
        std: float = 0.01,
        num_results: int = 4,
        grace_period: int = 4,
        metric_threshold: float | None = None,
        mode: str | None = None,
    ) -> None:
        _check_mode(mode)
        if metric_threshold is not None and mode is None:
            raise ValueError("TrialPlateauStopper(metric_threshold=...) needs mode='min' or 'max'")
        if num_results < 1 or grace_period < 0:
            raise ValueError("num_results must be >= 1 and grace_period >= 0")
        self._metric, self._std = metric, std
        self._num_results, self._grace = num_results, grace_period
        self._threshold, self._mode = metric_threshold, mode
        self._seen: defaultdict[str, int] = defaultdict(int)
        self._window: defaultdict[str, deque[float]] = defaultdict(
            lambda: deque(maxlen=self._num_results)
        )

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Whether this trial's metric has plateaued."""
        if self._metric not in result:
            raise KeyError(
                f"TrialPlateauStopper metric {self._metric!r} is not in the trial's result "
                f"(reported keys: {sorted(result)}); report it, or change the stopper's metric."
            )
        value = float(result[self._metric])
        self._seen[trial_id] += 1
        window = self._window[trial_id]
        window.append(value)
        if self._seen[trial_id] < self._grace or len(window) < self._num_results:
            return False
        if self._threshold is not None:
            better = value < self._threshold if self._mode == "min" else value > self._threshold
            if not better:
                return False
        return statistics.pstdev(window) < self._std


class ExperimentPlateauStopper(Stopper):
    """Ends the run once the ``top`` best values of ``metric`` over all results have a standard
    deviation below ``std`` for ``patience`` results in a row."""

    def __init__(
        self, metric: str, std: float = 0.001, top: int = 10, mode: str = "min", patience: int = 0
    ) -> None:
        _check_mode(mode)
        if top < 2:
            raise ValueError(f"top must be >= 2 (a deviation needs two values), got {top}")
        self._metric, self._std, self._top = metric, std, top
        self._mode, self._patience = mode, patience
        self._best: list[float] = []
        self._plateaued = 0

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Record the result; never stops a single trial."""
        if self._metric not in result:
            return False
        self._best.append(float(result[self._metric]))
        self._best.sort(reverse=self._mode == "max")
        del self._best[self._top :]
        if len(self._best) == self._top and statistics.pstdev(self._best) <= self._std:
            self._plateaued += 1
        else:
            self._plateaued = 0
        return False

    def stop_all(self) -> bool:
        """Whether the top results have plateaued for longer than ``patience``."""
        return self._plateaued > self._patience
