"""Which checkpoints each trial keeps (``keep_checkpoints_num``/``checkpoint_score_attr``): a
pure record of the checkpoints a run asked for and committed, and which to delete."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RetentionPolicy:
    """``keep_checkpoints_num`` (None: keep all) ranked by ``checkpoint_score_attr``."""

    keep: int | None = None
    score_attr: str | None = None

    def score(self, result: dict[str, Any]) -> float:
        """Higher is better; ``min-<attr>`` flips the sign. Without an attr, newer is better."""
        if not self.score_attr:
            return float(result.get("training_iteration", 0))
        attr, sign = self.score_attr, 1.0
        if attr.startswith("min-"):
            attr, sign = attr[4:], -1.0
        value = result.get(attr)
        return sign * float(value) if value is not None else float("-inf")


@dataclass
class TrialCheckpoints:
    """One trial's checkpoints: those this run asked for (iteration -> retention score) and the
    committed ones kept so far, as ``(score, iteration, url)``."""

    requested: dict[int, float] = field(default_factory=dict)
    kept: list[tuple[float, int, str]] = field(default_factory=list)

    def commit(self, policy: RetentionPolicy, url: str, iteration: int) -> str | None:
        """Record a committed checkpoint; return the URL of one to delete now, if any.

        The newest checkpoint is what recovery restores from: it is never the one deleted.
        """
        score = self.requested.get(iteration, float("-inf"))
        self.kept[:] = [entry for entry in self.kept if entry[2] != url]
        self.kept.append((score, iteration, url))
        if policy.keep is None or len(self.kept) <= policy.keep:
            return None
        candidates = [entry for entry in self.kept if entry[2] != url]
        worst = min(candidates, key=lambda entry: (entry[0], entry[1]))
        self.kept.remove(worst)
        return worst[2]
