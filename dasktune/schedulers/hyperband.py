"""Synchronous HyperBand, as Ray Tune's ``HyperBandScheduler``.

Trials fill brackets in order as they are created; a band is ``s_max + 1`` brackets, bracket
``s`` taking ``ceil((s_max + 1) / (s + 1) * eta**s)`` trials that first run to
``max_t / eta**s``. A trial that reaches its bracket's milestone pauses (it checkpoints and
frees its slots) until every trial of the bracket has reached it; then the best ``1/eta`` go
on to the next milestone (``eta`` times further, at most ``max_t``), resumed from their
checkpoints, and the rest stop. At the last milestone the whole bracket stops.

Milestones are ``r0 * eta**i`` capped at ``max_t``, as in Ray since 2.7 (ray-project/ray#39157;
before, they were capped at ``max_t - previous milestone``, so most brackets never reached
``max_t``).

Li et al., "Hyperband: A Novel Bandit-Based Approach to Hyperparameter Optimization",
https://arxiv.org/abs/1603.06560
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..trial import TrialStatus
from .metric_mode import MissingKeys, check_mode, from_reward_attr, read, require_metric_mode
from .trial_scheduler import FIFOScheduler

if TYPE_CHECKING:
    from ..trial import Trial
    from ..trial_runner import TrialRunner


class _Bracket:
    """One bracket: its live trials, their progress and score, and the current milestone."""

    def __init__(self, n0: int, r0: float, max_t: float, eta: float, s: int, stop_last: bool):
        self.n0 = self.n = n0
        self.added = 0
        self.milestone = r0
        self.halves = s
        self.max_t = max_t
        self.eta = eta
        self.stop_last = stop_last
        self.trials: dict[str, Trial] = {}
        self.times: dict[str, float] = {}
        self.scores: dict[str, float] = {}
        self.promoted: set[str] = set()  # paused at a milestone, chosen to go on
        self.progress = 0.0
        self.total_work = 0.0
        n, r, previous = n0, r0, 0.0
        for _ in range(s + 1):
            self.total_work += n * (r - previous)
            previous, n, r = r, math.ceil(n / eta), min(r * eta, max_t)

    def filled(self) -> bool:
        """Whether it has taken its ``n0`` trials (whatever happened to them since)."""
        return self.added >= self.n0

    def add(self, trial: Trial) -> None:
        self.added += 1
        self.trials[trial.trial_id] = trial
        self.times[trial.trial_id] = 0.0
        self.scores[trial.trial_id] = -math.inf

    def drop(self, trial_id: str) -> None:
        self.trials.pop(trial_id, None)
        self.times.pop(trial_id, None)
        self.scores.pop(trial_id, None)
        self.promoted.discard(trial_id)

    def update(self, trial_id: str, t: float, value: float) -> None:
        self.progress += max(t - self.times[trial_id], 0.0)
        self.times[trial_id] = t
        # NaN ranks last, like a trial that never reported the metric.
        self.scores[trial_id] = -math.inf if math.isnan(value) else value

    def goes_on(self, trial_id: str) -> bool:
        """Whether the trial has yet to reach the current milestone (or, without
        stop_last_trials, is past the last halving and runs until its own stop rule)."""
        if not self.stop_last and self.halves == 0:
            return True
        return self.times[trial_id] < self.milestone

    def rung_done(self) -> bool:
        return all(t >= self.milestone for t in self.times.values())

    def finished(self) -> bool:
        return self.stop_last and self.halves == 0 and self.rung_done()

    def halve(self) -> tuple[list[str], list[str]]:
        """The trials that go on to the next milestone, and those that stop."""
        self.halves -= 1
        self.n = math.ceil(self.n / self.eta)
        self.milestone = min(self.milestone * self.eta, self.max_t)
        ranked = sorted(self.trials, key=self.scores.__getitem__, reverse=True)
        return ranked[: self.n], ranked[self.n :]

    def completion(self) -> float:
        if self.finished():
            return 1.0
        return min(self.progress / self.total_work, 1.0) if self.total_work else 1.0

    def __repr__(self) -> str:
        statuses: dict[str, int] = {}
        for trial in self.trials.values():
            statuses[trial.status] = statuses.get(trial.status, 0) + 1
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
        return (
            f"Bracket(Max Size (n)={self.n}, Milestone (r)={self.milestone:g}, "
            f"completed={self.completion():.1%}): {{{counts}}}"
        )


class HyperBandScheduler(FIFOScheduler):
    """Synchronous HyperBand (Ray's ``HyperBandScheduler``), with Ray's arguments and defaults.

    Trials pause at milestones, so the trainable must be able to checkpoint.

    Args:
        time_attr: The result key that measures progress; it must grow monotonically.
        metric: The result key that measures how good a trial is (else ``tune.run(metric=)``).
        mode: ``"min"`` or ``"max"`` (else ``tune.run(mode=)``).
        max_t: The last milestone: trials stop there (with ``stop_last_trials``).
        reduction_factor: ``eta``: milestones are this factor apart, and ``1/eta`` of a
            bracket's trials go on at each.
        stop_last_trials: Stop the survivors at ``max_t``; if False they run on until their
            own stop rule.
        reward_attr: Deprecated (Ray 0.8): the same as ``metric=reward_attr, mode="max"``.
    """

    def __init__(
        self,
        time_attr: str = "training_iteration",
        metric: str | None = None,
        mode: str | None = None,
        max_t: float = 81,
        reduction_factor: float = 3,
        stop_last_trials: bool = True,
        *,
        reward_attr: str | None = None,
    ) -> None:
        name = type(self).__name__
        metric, mode = from_reward_attr(name, reward_attr, metric, mode)
        check_mode(name, mode)
        if not max_t > 0:
            raise ValueError(f"{name}(max_t={max_t!r}): max_t must be positive.")
        if not reduction_factor > 1:
            raise ValueError(
                f"{name}(reduction_factor={reduction_factor!r}): it must be greater than 1."
            )
        self._time_attr = time_attr
        self._metric = metric
        self._mode = mode
        self._max_t = max_t
        self._eta = reduction_factor
        self._stop_last_trials = stop_last_trials
        self._s_max_1 = int(round(math.log(max_t) / math.log(reduction_factor))) + 1
        self._bands: list[list[_Bracket | None]] = [[]]
        self._current: _Bracket | None = None
        self._trial_info: dict[str, _Bracket] = {}
        # Trials halving stopped: stopped from choose_trial_to_run (once PAUSED).
        self._doomed: dict[str, Trial] = {}
        self._num_stopped = 0
        self._missing_keys = MissingKeys()

    def _sign(self) -> float:
        return require_metric_mode(type(self).__name__, self._metric, self._mode)

    def _next_bracket(self) -> _Bracket:
        while True:
            band = self._bands[-1]
            if len(band) >= self._s_max_1:
                band = []
                self._bands.append(band)
            s = len(band)
            r0 = int(self._max_t * self._eta ** (-s))
            if r0 == 0:  # too small a bracket for max_t: Ray skips it too
                band.append(None)
                continue
            n0 = math.ceil(self._s_max_1 / (s + 1) * self._eta**s)
            bracket = _Bracket(n0, r0, self._max_t, self._eta, s, self._stop_last_trials)
            band.append(bracket)
            return bracket

    def on_trial_add(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """Put the trial in the current bracket, or the next when it is full."""
        self._sign()  # a run with no metric or mode fails at its first trial, as in Ray
        if trial.trial_id in self._trial_info or trial.is_finished:
            return
        if self._current is None or self._current.filled():
            self._current = self._next_bracket()
        self._current.add(trial)
        self._trial_info[trial.trial_id] = self._current

    def on_trial_result(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> str:
        """CONTINUE short of the milestone; at it PAUSE until the bracket's rung is complete,
        then CONTINUE or STOP as the halving decides."""
        bracket = self._trial_info.get(trial.trial_id)
        read_ = read(self, self._time_attr, self._metric, result, trial)
        if bracket is None or read_ is None:
            return self.CONTINUE
        bracket.promoted.discard(trial.trial_id)
        bracket.update(trial.trial_id, read_[0], read_[1])
        if bracket.goes_on(trial.trial_id):
            return self.CONTINUE
        return self._process(bracket, trial.trial_id)

    def _process(self, bracket: _Bracket, current: str | None, exhausted: bool = False) -> str:
        """PAUSE the current trial unless the rung is complete (every trial of the bracket at
        the milestone, and the bracket filled or no more trials to come); then halve it."""
        if not bracket.rung_done() or not (bracket.filled() or exhausted):
            return self.PAUSE
        if bracket.finished():
            for trial_id in list(bracket.trials):
                if trial_id != current:
                    self._end(bracket, trial_id)
            if current is not None:
                bracket.drop(current)
                self._trial_info.pop(current, None)
            return self.STOP
        action = self.PAUSE
        if bracket.halves == 0:  # without stop_last_trials: everyone runs on
            good, bad = list(bracket.trials), []
        else:
            good, bad = bracket.halve()
        for trial_id in bad:
            self._num_stopped += 1
            if trial_id == current:
                bracket.drop(trial_id)
                self._trial_info.pop(trial_id, None)
                action = self.STOP
            else:
                self._end(bracket, trial_id)
        for trial_id in good:
            if trial_id == current:
                action = self.CONTINUE
            else:
                bracket.promoted.add(trial_id)
        return action

    def _end(self, bracket: _Bracket, trial_id: str) -> None:
        """Stop a trial waiting at the milestone: forgotten now, stopped from the next
        ``choose_trial_to_run``. Not at once: a trial still saving its pause would drop the
        stop, and this runs inside the controller's hooks, also while it ends every waiting
        trial (time budget), where stopping another one would pull it from under it."""
        trial = bracket.trials[trial_id]
        bracket.drop(trial_id)
        self._trial_info.pop(trial_id, None)
        self._doomed[trial_id] = trial

    def _forget(self, trial: Trial) -> None:
        bracket = self._trial_info.pop(trial.trial_id, None)
        if bracket is None:
            return
        bracket.drop(trial.trial_id)
        # The trial the others were waiting for may be this one.
        if bracket.trials:
            self._process(bracket, None)

    def on_trial_complete(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> None:
        """A trial ended (its stop rule, or stopped here): the rung may now be complete."""
        self._forget(trial)

    def on_trial_remove(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """A trial was stopped from outside: the rung may now be complete."""
        self._forget(trial)

    def on_trial_error(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """A trial failed for good: the rung may now be complete."""
        self._forget(trial)

    def choose_trial_to_run(self, trial_runner: TrialRunner) -> Trial | None:
        """A PENDING trial, or a PAUSED one promoted to the next milestone, from the least
        complete bracket of the oldest band first (Ray's order)."""
        current = self._current
        if (
            current is not None
            and not current.filled()
            and current.trials
            and current.rung_done()
            and not any(
                t.status == TrialStatus.PENDING for t in reversed(trial_runner.get_trials())
            )
        ):
            # Trials are made as they can start, and the controller makes one right before
            # asking here whenever the search has more: none PENDING means none will come, so
            # the last bracket is halved with the trials it has.
            self._process(current, None, exhausted=True)
        for trial_id, trial in list(self._doomed.items()):
            if trial.status != TrialStatus.RUNNING:
                # PAUSED now; or PENDING, when the run was resumed before its pause was saved.
                del self._doomed[trial_id]
                if not trial.is_finished:
                    trial_runner.trial_executor.stop_trial(trial)
        for band in self._bands:
            live = [b for b in band if b is not None and b.trials]
            for bracket in sorted(live, key=_Bracket.completion):
                for trial_id, trial in bracket.trials.items():
                    runnable = trial.status == TrialStatus.PENDING or (
                        trial.status == TrialStatus.PAUSED and trial_id in bracket.promoted
                    )
                    if runnable and trial_runner.has_resources(trial.resources):
                        return trial
        return None

    def debug_string(self) -> str:
        """Ray's status lines: each band's brackets."""
        brackets = sum(1 for band in self._bands for b in band if b is not None)
        out = f"Using HyperBand: num_stopped={self._num_stopped} total_brackets={brackets}"
        for i, band in enumerate(self._bands):
            out += f"\nRound #{i}:"
            for bracket in band:
                if bracket is not None:
                    out += f"\n  {bracket}"
        return out
