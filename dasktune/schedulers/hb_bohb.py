"""HyperBand for BOHB (Ray's ``HyperBandForBOHB``): synchronous HyperBand changed to feed
:class:`~dasktune.search.bohb.TuneBOHB`.

What differs from :class:`~dasktune.schedulers.HyperBandScheduler`, as in Ray:

1. Brackets are made largest first: a band starts with the bracket of the most trials and
   the smallest first milestone (``s = s_max``), ending with the one that runs its few trials
   to ``max_t`` at once. BOHB's model first sees many cheap results.
2. Every result carries ``hyperband_info`` (a dict); a result at a milestone carries
   ``hyperband_info["budget"]``, the milestone, which is what TuneBOHB learns from.
3. The searcher hears when its trials pause and resume (``on_pause``/``on_unpause``), so its
   ``max_concurrent`` counts only running trials and new trials come while a bracket's first
   ones wait at a milestone.
4. When nothing runs and nothing waits to start, a bracket whose trials all wait at the
   milestone is halved with the trials it has, instead of waiting to be filled.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..trial import TrialStatus
from .hyperband import HyperBandScheduler, _Bracket
from .metric_mode import read

if TYPE_CHECKING:
    from ..trial import Trial
    from ..trial_runner import TrialRunner


class HyperBandForBOHB(HyperBandScheduler):
    """Synchronous HyperBand for BOHB (Ray's ``HyperBandForBOHB``), with
    :class:`HyperBandScheduler`'s arguments. Pair it with
    :class:`~dasktune.search.bohb.TuneBOHB` (``search_alg=``): it needs a searcher that takes
    ``on_pause``/``on_unpause``, and TuneBOHB learns only from the budgets it marks."""

    def _next_bracket(self) -> _Bracket:
        """The next bracket of the band, largest (``s = s_max``) first."""
        while True:
            band = self._bands[-1]
            if len(band) >= self._s_max_1:
                band = []
                self._bands.append(band)
            s = self._s_max_1 - len(band) - 1
            r0 = int(self._max_t * self._eta ** (-s))
            if r0 == 0:  # too small a bracket for max_t: Ray skips it too
                band.append(None)
                continue
            n0 = math.ceil(self._s_max_1 / (s + 1) * self._eta**s)
            bracket = _Bracket(n0, r0, self._max_t, self._eta, s, self._stop_last_trials)
            band.append(bracket)
            return bracket

    def on_trial_add(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """Check the searcher pairing (at the first trial), then place the trial."""
        _paired_searcher(trial_runner)
        super().on_trial_add(trial_runner, trial)

    def on_trial_result(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> str:
        """As HyperBand's, marking the result's ``hyperband_info`` (with the ``budget`` at a
        milestone) and telling the searcher when the trial pauses."""
        result["hyperband_info"] = {}
        bracket = self._trial_info.get(trial.trial_id)
        read_ = read(self, self._time_attr, self._metric, result, trial)
        if bracket is None or read_ is None:
            return self.CONTINUE
        bracket.promoted.discard(trial.trial_id)
        bracket.update(trial.trial_id, read_[0], read_[1])
        if bracket.goes_on(trial.trial_id):
            return self.CONTINUE
        result["hyperband_info"]["budget"] = bracket.milestone
        action = self._process(bracket, trial.trial_id)
        if action == self.PAUSE:
            searcher, searcher_id = _searcher_of(trial_runner, trial)
            if searcher_id is not None:
                searcher.on_pause(searcher_id)
        return action

    def choose_trial_to_run(self, trial_runner: TrialRunner) -> Trial | None:
        """As HyperBand's; when nothing runs or waits to start, brackets whose trials all wait
        at the milestone are halved first. The searcher hears of a paused trial resumed."""
        trial = super().choose_trial_to_run(trial_runner)
        if trial is None and not any(
            t.status in (TrialStatus.RUNNING, TrialStatus.PENDING)
            for t in trial_runner.get_trials()
        ):
            for band in self._bands:
                for bracket in band:
                    if (
                        bracket is not None
                        and bracket.trials
                        and not bracket.promoted
                        and bracket.rung_done()
                    ):
                        self._process(bracket, None, exhausted=True)
            trial = super().choose_trial_to_run(trial_runner)
        if trial is not None and trial.status == TrialStatus.PAUSED:
            searcher, searcher_id = _searcher_of(trial_runner, trial)
            if searcher_id is not None:
                searcher.on_unpause(searcher_id)
        return trial

    def debug_string(self) -> str:
        """Ray's status lines, under BOHB's name."""
        return super().debug_string().replace("Using HyperBand", "Using HyperBandForBOHB", 1)


def _paired_searcher(trial_runner: TrialRunner) -> Any:
    """The searcher (inside the run's search algorithm and any wrappers) that takes
    ``on_pause``/``on_unpause``; raises, naming the fix, when there is none."""
    search_alg = getattr(trial_runner, "search_alg", None)
    searcher = getattr(search_alg, "searcher", None)
    while searcher is not None:
        if callable(getattr(searcher, "on_pause", None)) and callable(
            getattr(searcher, "on_unpause", None)
        ):
            return searcher
        searcher = getattr(searcher, "searcher", None)  # ConcurrencyLimiter, Repeater...
    raise ValueError(
        f"HyperBandForBOHB works with the TuneBOHB searcher, but the search algorithm is "
        f"{type(search_alg).__name__}: pass search_alg=TuneBOHB(...) "
        "(from dasktune.search.bohb), or use HyperBandScheduler with other searchers."
    )


def _searcher_of(trial_runner: TrialRunner, trial: Trial) -> tuple[Any, str | None]:
    """The paired searcher and the id it knows ``trial`` by (None: not one of its trials)."""
    searcher = _paired_searcher(trial_runner)
    lookup = getattr(trial_runner.search_alg, "searcher_id", None)
    searcher_id = lookup(trial.trial_id) if callable(lookup) else trial.trial_id
    return searcher, searcher_id
