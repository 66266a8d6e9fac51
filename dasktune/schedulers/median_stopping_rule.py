"""The median stopping rule of Google Vizier, as Ray Tune's ``MedianStoppingRule``.

From ``grace_period`` on, a trial whose best score so far is worse than the median of the
other trials' running means at the same time (their mean score over results from
``grace_period`` to that time, counting only trials that have got that far) is stopped. With
fewer than ``min_samples_required`` such trials and other trials waiting, the trial is paused
to yield its slot (at most once per ``min_time_slice``), so trainables must be able to
checkpoint.

Golovin et al., "Google Vizier: A Service for Black-Box Optimization",
https://research.google.com/pubs/pub46180.html
"""

from __future__ import annotations

import bisect
import math
import statistics
from typing import TYPE_CHECKING, Any

from ..trial import TrialStatus
from .metric_mode import MissingKeys, check_mode, from_reward_attr, read, require_metric_mode
from .trial_scheduler import FIFOScheduler

if TYPE_CHECKING:
    from ..trial import Trial
    from ..trial_runner import TrialRunner


class _Curve:
    """One trial's recorded ``(time, score)`` pairs, with prefix sums so the running mean over
    a time window costs O(log n) while times grow (they do, but for a retry that reports
    iterations again; then it falls back to a scan, as Ray always does)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.scores: list[float] = []
        self._sums = [0.0]
        self._ordered = True
        self.best = math.nan
        self.last: tuple[float, Any] | None = None  # the newest (time, metric as reported)

    def add(self, t: float, value: float, reported: Any) -> None:
        if self.times and t < self.times[-1]:
            self._ordered = False
        self.times.append(t)
        self.scores.append(value)
        self._sums.append(self._sums[-1] + value)
        if not math.isnan(value) and (math.isnan(self.best) or value > self.best):
            self.best = value
        self.last = (t, reported)

    def mean(self, start: float, end: float) -> float | None:
        """The mean score of the results with ``start <= time <= end``; None if there are none."""
        if self._ordered:
            low = bisect.bisect_left(self.times, start)
            high = bisect.bisect_right(self.times, end)
            if high <= low:
                return None
            return (self._sums[high] - self._sums[low]) / (high - low)
        window = [v for t, v in zip(self.times, self.scores, strict=True) if start <= t <= end]
        return sum(window) / len(window) if window else None


class MedianStoppingRule(FIFOScheduler):
    """Stops trials that do worse than the median of the others (Ray's ``MedianStoppingRule``),
    with Ray's arguments and defaults.

    Args:
        time_attr: The result key that measures progress; it must grow monotonically.
        metric: The result key that measures how good a trial is (else ``tune.run(metric=)``).
        mode: ``"min"`` or ``"max"`` (else ``tune.run(mode=)``).
        grace_period: No trial is judged before this much ``time_attr``; running means count
            results from here on.
        min_samples_required: How many other trials must have reached a time to judge there.
        min_time_slice: With too few samples and trials waiting, a trial yields its slot
            (PAUSE) at most once per this much ``time_attr``.
        hard_stop: Stop trials that do worse; if False pause them instead, to run on (with no
            more judging) once nothing waits ahead of them.
        reward_attr: Deprecated (Ray 0.8): the same as ``metric=reward_attr, mode="max"``.
    """

    def __init__(
        self,
        time_attr: str = "time_total_s",
        metric: str | None = None,
        mode: str | None = None,
        grace_period: float = 60.0,
        min_samples_required: int = 3,
        min_time_slice: float = 0,
        hard_stop: bool = True,
        *,
        reward_attr: str | None = None,
    ) -> None:
        metric, mode = from_reward_attr(type(self).__name__, reward_attr, metric, mode)
        check_mode(type(self).__name__, mode)
        self._time_attr = time_attr
        self._metric = metric
        self._mode = mode
        self._grace_period = grace_period
        self._min_samples_required = min_samples_required
        self._min_time_slice = min_time_slice
        self._hard_stop = hard_stop
        self._curves: dict[str, _Curve] = {}
        self._stopped_trials: set[str] = set()
        self._last_pause: dict[str, float] = {}
        self._missing_keys = MissingKeys()

    def _sign(self) -> float:
        return require_metric_mode(type(self).__name__, self._metric, self._mode)

    def on_trial_add(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """Check that a metric and mode are set: a run without them fails at its first trial."""
        self._sign()

    def on_trial_result(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> str:
        """STOP (PAUSE without ``hard_stop``) a trial worse than the median; PAUSE one that
        cannot be judged yet while others wait; else CONTINUE."""
        read_ = read(self, self._time_attr, self._metric, result, trial)
        if read_ is None:
            return self.CONTINUE
        if trial.trial_id in self._stopped_trials:
            return self.CONTINUE  # paused for doing worse (hard_stop=False): it runs on
        t, value, reported = read_
        curve = self._curves.setdefault(trial.trial_id, _Curve())
        curve.add(t, value, reported)
        if t < self._grace_period:
            return self.CONTINUE
        means = []
        for trial_id, other in self._curves.items():
            if trial_id != trial.trial_id and other.times[-1] >= t:
                mean = other.mean(self._grace_period, t)
                # A trial with no result in the window (its time jumped past it), or a NaN
                # mean, is no sample (Ray's NaN median would stop every trial).
                if mean is not None and not math.isnan(mean):
                    means.append(mean)
        if len(means) < self._min_samples_required:
            return self._on_insufficient_samples(trial_runner, trial, t)
        # Strictly worse than the median (scores are maximised whatever the mode).
        if curve.best < statistics.median(means):
            self._stopped_trials.add(trial.trial_id)
            return self.STOP if self._hard_stop else self.PAUSE
        return self.CONTINUE

    def _on_insufficient_samples(self, trial_runner: TrialRunner, trial: Trial, t: float) -> str:
        if t - self._last_pause.get(trial.trial_id, -math.inf) <= self._min_time_slice:
            return self.CONTINUE
        waiting = (TrialStatus.PENDING, TrialStatus.PAUSED)
        if any(other.status in waiting for other in trial_runner.get_trials()):
            self._last_pause[trial.trial_id] = t
            return self.PAUSE
        return self.CONTINUE

    def on_trial_complete(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> None:
        """Record the final result, unless it is the one just judged (Ray records that one
        twice, counting it double in the trial's running mean)."""
        try:
            read_ = read(self, self._time_attr, self._metric, result, trial)
        except TypeError:
            return  # the trial has ended; a value that is not a number just counts nowhere
        if read_ is None:
            return
        t, value, reported = read_
        curve = self._curves.setdefault(trial.trial_id, _Curve())
        if curve.last != (t, reported):
            curve.add(t, value, reported)

    def debug_string(self) -> str:
        """Ray's status line."""
        return f"Using MedianStoppingRule: num_stopped={len(self._stopped_trials)}."
