"""Ray 1.x's ``Repeater``: every suggestion runs ``repeat`` times (e.g. with different seeds),
and the inner searcher learns the group's mean."""

from __future__ import annotations

import base64
import copy
import math
from collections.abc import Mapping
from typing import Any

import cloudpickle

from .searcher import Searcher, Suggestion, WrappingSearcher

TRIAL_INDEX = "__trial_index__"


class _Group:
    """The trials that run one suggestion; a score per trial once it ended (NaN: no score)."""

    def __init__(self, primary_id: str, config: dict[str, Any], size: int) -> None:
        self.primary_id = primary_id
        self.config = config
        self.size = size
        self.members: list[str] = [primary_id]
        self.scores: dict[str, float] = {}

    def full(self) -> bool:
        return len(self.members) >= self.size

    def done(self) -> bool:
        return len(self.scores) >= self.size


class Repeater(WrappingSearcher):
    """Runs each of ``searcher``'s suggestions ``repeat`` times; when the whole group ended,
    the inner searcher gets ``on_trial_complete`` once, with the NaN-ignoring mean of the group's
    metric (an errored trial counts as NaN; a group with no score at all is reported as an
    error). With ``set_index`` each config gets ``"__trial_index__"`` (0 .. repeat-1).

    ``num_samples`` counts trials, so make it a multiple of ``repeat``.
    """

    def __init__(self, searcher: Searcher, repeat: int = 1, set_index: bool = True) -> None:
        self._check_inner("Repeater", searcher)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"repeat must be an int >= 1, got {repeat!r}")
        self.searcher = searcher
        self.repeat = repeat
        self.set_index = set_index
        self._current: _Group | None = None
        self._groups: dict[str, _Group] = {}  # trial id -> its group
        super().__init__(searcher.metric, searcher.mode)

    def suggest(self, trial_id: str) -> Suggestion:
        """The current group's config again, or a new suggestion once the group is full."""
        if self._current is None or self._current.full():
            suggestion = self.searcher.suggest(trial_id)
            if not isinstance(suggestion, Mapping):
                return suggestion  # None or FINISHED
            self._current = _Group(trial_id, copy.deepcopy(dict(suggestion)), self.repeat)
            index = 0
        else:
            index = len(self._current.members)
            self._current.members.append(trial_id)
        self._groups[trial_id] = self._current
        config = copy.deepcopy(self._current.config)
        if self.set_index:
            config[TRIAL_INDEX] = index
        return config

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Records the trial's score; reports the group's mean when it is complete."""
        group = self._groups.pop(trial_id, None)
        if group is None:
            return
        score = math.nan
        if not error and result is not None and self.metric is not None:
            value = result.get(self.metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                score = float(value)
        group.scores[trial_id] = score
        if not group.done():
            return
        finite = [s for s in group.scores.values() if not math.isnan(s)]
        if not finite:
            self.searcher.on_trial_complete(group.primary_id, None, error=True)
            return
        mean = sum(finite) / len(finite)
        self.searcher.on_trial_complete(group.primary_id, {self.metric: mean})

    def get_state(self) -> dict[str, Any]:
        """The groups (pickled) and the inner searcher's own state."""
        own = {k: v for k, v in self.__dict__.items() if k != "searcher"}
        return {
            "groups": base64.b64encode(cloudpickle.dumps(own)).decode(),
            "inner": self.searcher.get_state(),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`get_state`'s output."""
        self.__dict__.update(cloudpickle.loads(base64.b64decode(state["groups"])))
        self.searcher.set_state(state["inner"])
