"""Asynchronous successive halving (ASHA), as Ray Tune's ``AsyncHyperBandScheduler``.

Each trial belongs to a bracket; a bracket has rungs at ``grace_period * reduction_factor**k``
(``k`` from the bracket's index while the rung is at most ``max_t``). The first result of a
trial at or past a rung it has not reached before decides there: the trial stops when its score
is below the ``1 - 1/reduction_factor`` quantile of the scores recorded at that rung so far
(so the first trial at a rung always continues), and its score is recorded. Trials never wait
for each other (no PAUSE), which is what makes it asynchronous.

Li et al., "A System for Massively Parallel Hyperparameter Tuning", https://arxiv.org/abs/1810.05934
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING, Any

from .metric_mode import MissingKeys, check_mode, from_reward_attr, read, require_metric_mode
from .trial_scheduler import FIFOScheduler, TrialScheduler

if TYPE_CHECKING:
    from ..trial import Trial
    from ..trial_runner import TrialRunner


def _quantile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted values, interpolated linearly between the two nearest
    ranks (numpy's default method, which Ray's ``np.nanpercentile`` uses)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class _Rung:
    """One milestone of a bracket and the scores recorded there, kept sorted so the cutoff
    costs O(1) and a record O(log n) comparisons (Ray sorts every recorded score per
    decision)."""

    def __init__(self, milestone: float) -> None:
        self.milestone = milestone
        self.recorded: dict[str, float] = {}
        self._ordered: list[float] = []  # NaN scores are recorded but never rank

    def cutoff(self, quantile: float) -> float | None:
        """The score a trial must reach not to be stopped here; None before any score."""
        return _quantile(self._ordered, quantile) if self._ordered else None

    def record(self, trial_id: str, value: float) -> None:
        self.recorded[trial_id] = value
        if not math.isnan(value):
            bisect.insort(self._ordered, value)


class _Bracket:
    """The rungs of one bracket, highest first, so the walk finds the highest rung a result
    has reached."""

    def __init__(
        self,
        grace_period: float,
        max_t: float,
        reduction_factor: float,
        s: int,
        stop_last_trials: bool,
    ) -> None:
        self.rf = reduction_factor
        self.stop_last_trials = stop_last_trials
        milestones = []
        k = s
        # Ray counts rungs as int(log(max_t / grace) / log(rf)) - s + 1, which loses the top
        # rung to rounding when max_t is an exact power (log(1000) / log(10) < 3); counting
        # with a relative tolerance keeps it.
        while grace_period * reduction_factor**k <= max_t * (1 + 1e-9):
            milestones.append(grace_period * reduction_factor**k)
            k += 1
        self.rungs = [_Rung(m) for m in reversed(milestones)]

    def on_result(self, trial_id: str, t: float, value: float) -> str:
        """Decide at the highest rung ``t`` has reached that the trial has no score at yet."""
        for rung in self.rungs:
            reached = t >= rung.milestone
            if reached and trial_id in rung.recorded and not self.stop_last_trials:
                # Decided here already; the rungs below are lower still.
                break
            if not reached or trial_id in rung.recorded:
                continue
            cutoff = rung.cutoff(1 - 1 / self.rf)
            rung.record(trial_id, value)
            if cutoff is not None and value < cutoff:
                return TrialScheduler.STOP
            break
        return TrialScheduler.CONTINUE

    def debug_str(self) -> str:
        """The cutoff at each rung."""
        rungs = " | ".join(
            f"Iter {rung.milestone:.3f}: {rung.cutoff(1 - 1 / self.rf)}" for rung in self.rungs
        )
        return f"Bracket: {rungs}"


class AsyncHyperBandScheduler(FIFOScheduler):
    """Asynchronous successive halving (Ray's ``AsyncHyperBandScheduler``, alias
    ``ASHAScheduler``), with Ray's arguments and defaults.

    Args:
        time_attr: The result key that measures progress; it must grow monotonically.
        metric: The result key that measures how good a trial is (else ``tune.run(metric=)``).
        mode: ``"min"`` or ``"max"`` (else ``tune.run(mode=)``).
        max_t: Trials stop once ``time_attr`` reaches this (with ``stop_last_trials``).
        grace_period: The first rung: no trial is stopped before this much ``time_attr``.
        reduction_factor: Rungs are this factor apart, and about ``1/reduction_factor`` of
            the trials reaching a rung go past it.
        brackets: The number of brackets; bracket ``s`` starts its rungs at
            ``grace_period * reduction_factor**s``. A trial's bracket is drawn at random,
            weighted by ``e**(number of rungs)`` as in Ray (numpy's global generator, so
            ``np.random.seed`` makes it repeatable).
        stop_last_trials: Stop trials at ``max_t``; if False they run until their own stop
            criteria, with no more rungs above ``max_t``.
        reward_attr: Deprecated (Ray 0.8): the same as ``metric=reward_attr, mode="max"``.
    """

    def __init__(
        self,
        time_attr: str = "training_iteration",
        metric: str | None = None,
        mode: str | None = None,
        max_t: float = 100,
        grace_period: float = 1,
        reduction_factor: float = 4,
        brackets: int = 1,
        stop_last_trials: bool = True,
        *,
        reward_attr: str | None = None,
    ) -> None:
        name = type(self).__name__
        metric, mode = from_reward_attr(name, reward_attr, metric, mode)
        check_mode(name, mode)
        if not max_t > 0:
            raise ValueError(f"{name}(max_t={max_t!r}): max_t must be positive.")
        if not grace_period > 0:
            raise ValueError(f"{name}(grace_period={grace_period!r}): it must be positive.")
        if grace_period > max_t:
            raise ValueError(
                f"{name}(grace_period={grace_period!r}, max_t={max_t!r}): grace_period must "
                "be at most max_t."
            )
        if not reduction_factor > 1:
            raise ValueError(
                f"{name}(reduction_factor={reduction_factor!r}): it must be greater than 1."
            )
        if not (isinstance(brackets, int) and brackets > 0):
            raise ValueError(f"{name}(brackets={brackets!r}): it must be a positive int.")
        self._time_attr = time_attr
        self._metric = metric
        self._mode = mode
        self._max_t = max_t
        self._reduction_factor = reduction_factor
        self._stop_last_trials = stop_last_trials
        self._brackets = [
            _Bracket(grace_period, max_t, reduction_factor, s, stop_last_trials)
            for s in range(brackets)
        ]
        self._trial_info: dict[str, _Bracket] = {}
        self._num_stopped = 0
        self._missing_keys = MissingKeys()

    def _sign(self) -> float:
        return require_metric_mode(type(self).__name__, self._metric, self._mode)

    def _pick_bracket(self) -> _Bracket:
        if len(self._brackets) == 1:
            return self._brackets[0]
        import numpy as np  # only for several brackets: Ray draws with numpy's generator

        sizes = np.array([len(b.rungs) for b in self._brackets])
        weights = np.exp(sizes - sizes.max())
        return self._brackets[int(np.random.choice(len(sizes), p=weights / weights.sum()))]

    def on_trial_add(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """Draw the trial's bracket (a trial added again on resume keeps its own)."""
        self._sign()  # a run with no metric or mode fails at its first trial, as in Ray
        if trial.trial_id not in self._trial_info:
            self._trial_info[trial.trial_id] = self._pick_bracket()

    def on_trial_result(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> str:
        """STOP at ``max_t`` or below a rung's cutoff, else CONTINUE."""
        read_ = read(self, self._time_attr, self._metric, result, trial)
        if read_ is None:
            return self.CONTINUE
        t, value, _ = read_
        if t >= self._max_t and self._stop_last_trials:
            action = self.STOP
        else:
            bracket = self._trial_info.get(trial.trial_id)
            if bracket is None:  # added before this scheduler was (a resumed run's new one)
                bracket = self._trial_info[trial.trial_id] = self._pick_bracket()
            action = bracket.on_result(trial.trial_id, t, value)
        if action == self.STOP:
            self._num_stopped += 1
        return action

    def on_trial_complete(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> None:
        """Record the final result at the rung it reached (a stop rule may end a trial past a
        rung before the next result there), then forget the trial."""
        bracket = self._trial_info.pop(trial.trial_id, None)
        if bracket is None:
            return
        try:
            read_ = read(self, self._time_attr, self._metric, result, trial)
        except TypeError:
            return  # the trial has ended; a value that is not a number just ranks nowhere
        if read_ is not None:
            bracket.on_result(trial.trial_id, read_[0], read_[1])

    def on_trial_remove(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """Forget a trial stopped from outside."""
        self._trial_info.pop(trial.trial_id, None)

    def on_trial_error(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """Forget a trial that failed; its recorded scores stay, as in Ray."""
        self._trial_info.pop(trial.trial_id, None)

    def debug_string(self) -> str:
        """Ray's status lines: trials stopped, and each bracket's cutoffs."""
        lines = [f"Using AsyncHyperBand: num_stopped={self._num_stopped}"]
        lines += [bracket.debug_str() for bracket in self._brackets]
        return "\n".join(lines)


ASHAScheduler = AsyncHyperBandScheduler
