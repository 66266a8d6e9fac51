"""What the schedulers that compare trials share: checking ``metric``/``mode`` and reading a
trial's metric from a result as a number to maximise."""

from __future__ import annotations

import math
import warnings
from typing import Any

MODES = ("min", "max")


def check_mode(scheduler: str, mode: str | None) -> None:
    """Refuse a ``mode`` that is neither ``"min"`` nor ``"max"``."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"{scheduler}(mode={mode!r}): mode must be 'min' or 'max'.")


def from_reward_attr(
    scheduler: str, reward_attr: str | None, metric: str | None, mode: str | None
) -> tuple[str | None, str | None]:
    """``metric``/``mode`` given Ray 0.8's deprecated ``reward_attr`` (``metric=reward_attr,
    mode="max"``, with a warning); refuses a contradicting ``metric`` or ``mode``."""
    if reward_attr is None:
        return metric, mode
    if (metric is not None and metric != reward_attr) or mode not in (None, "max"):
        raise ValueError(
            f"{scheduler}(reward_attr={reward_attr!r}) contradicts metric={metric!r}, "
            f"mode={mode!r}; reward_attr is deprecated: pass only metric= and mode=."
        )
    warnings.warn(
        f"{scheduler}(reward_attr=...) is deprecated (as in Ray); it means "
        f"metric={reward_attr!r}, mode='max': pass those instead.",
        DeprecationWarning,
        stacklevel=3,
    )
    return reward_attr, "max"


def require_metric_mode(scheduler: str, metric: str | None, mode: str | None) -> float:
    """The sign that turns the metric into a score to maximise (+1 for max, -1 for min);
    raises when ``metric`` or ``mode`` was set nowhere (Ray raises when the first trial is
    added, as here)."""
    missing = [name for name, value in (("metric", metric), ("mode", mode)) if not value]
    if missing:
        what = " and ".join(missing)
        raise ValueError(
            f"{scheduler} has no {what} (metric={metric!r}, mode={mode!r}): it compares "
            "trials by a reported metric, so it needs both. Pass metric='...' and "
            f"mode='min' or 'max' to {scheduler}(...) or to tune.run(...)."
        )
    return 1.0 if mode == "max" else -1.0


def score(scheduler: str, metric: str, sign: float, result: dict[str, Any]) -> float:
    """``result[metric]`` as a float to maximise; NaN stays NaN (it never decides anything).
    A value that is not a number fails the trial that reported it, naming the value."""
    value = result[metric]
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{scheduler} compares trials by {metric!r}, but this result has "
            f"{metric}={value!r} ({type(value).__name__}), not a number. Report a number "
            "(or leave the key out of results that have none)."
        ) from None
    return number if math.isnan(number) else sign * number
