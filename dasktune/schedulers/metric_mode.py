"""What the schedulers that compare trials share: checking ``metric``/``mode``, reading a
result's time and metric (``a/b`` reaches a nested value, as in stop rules and Ray 1.x's
flattened results), and the metric as a number to maximise."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from ..stoppers import MISSING, lookup

MODES = ("min", "max")


class MissingKeys:
    """Warns once per scheduler when a result lacks its time or metric key: such results are
    not judged (as in Ray), and a misspelt ``metric=`` would otherwise stop nothing, silently."""

    def __init__(self) -> None:
        self.warned = False

    def __call__(self, scheduler: str, keys: tuple[str, ...], trial: Any, result: Mapping) -> None:
        if self.warned:
            return
        self.warned = True
        missing = [k for k in keys if lookup(result, k) is MISSING]
        warnings.warn(
            f"{scheduler}: a result of trial {trial} has no {' or '.join(map(repr, missing))} "
            f"(it reported {sorted(result)[:20]}); results without them are not judged, so if "
            "no result has them this scheduler stops nothing. Check metric= and time_attr= "
            "(a nested value is 'a/b'). Warned once.",
            stacklevel=2,
        )


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


def score(scheduler: str, metric: str, sign: float, value: Any) -> float:
    """The reported ``value`` of ``metric`` as a float to maximise; NaN stays NaN (it never
    decides anything). A value that is not a number fails the trial that reported it, naming
    the value."""
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


def read(
    scheduler: Any, time_attr: str, metric: str | None, result: Mapping[str, Any], trial: Any
) -> tuple[Any, float, Any] | None:
    """``(time, score to maximise, metric as reported)`` of a result, or None when it lacks
    either key (warned about once per scheduler, through its ``_missing_keys``)."""
    name = type(scheduler).__name__
    sign = require_metric_mode(name, metric, scheduler.mode)
    assert metric is not None  # checked just above
    t = lookup(result, time_attr)
    reported = lookup(result, metric)
    if t is MISSING or reported is MISSING:
        scheduler._missing_keys(name, (time_attr, metric), trial, result)
        return None
    return t, score(name, metric, sign, reported), reported
