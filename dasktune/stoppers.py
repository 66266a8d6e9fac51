"""Stop criteria: ``stop=`` as a dict, a function, or a ``Stopper``."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any


class Stopper:
    """Base class for stop rules (Ray's ``tune.Stopper``).

    ``__call__(trial_id, result)`` says whether that trial stops; ``stop_all()`` whether the
    whole experiment stops.
    """

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Whether the trial with this result should stop."""
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def stop_all(self) -> bool:
        """Whether every trial should stop now."""
        return False


class NoopStopper(Stopper):
    """Never stops anything."""

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Never stop."""
        return False


class FunctionStopper(Stopper):
    """Wraps ``stop=fn`` where ``fn(trial_id, result) -> bool``."""

    def __init__(self, function: Callable[[str, dict[str, Any]], bool]) -> None:
        self._function = function

    @property
    def name(self) -> str:
        """The function's name, for messages."""
        return getattr(self._function, "__qualname__", repr(self._function))

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Stop when the function says so (True, False, or None for False)."""
        answer = self._function(trial_id, result)
        if answer is True or answer is False:
            return answer
        return verdict(answer, f"the stop function {self.name}")


def verdict(value: Any, what: str) -> bool:
    """A stop rule's answer as a bool: True, False, numpy's bools, or None (a function that
    returns nothing when it does not stop). Anything else is a ``TypeError``: "no" or a list
    would otherwise count as True and stop the trial."""
    if value is True or value is False:
        return value
    if value is None:
        return False
    cls = type(value)
    if cls.__module__ == "numpy" and cls.__name__ in ("bool_", "bool"):
        return bool(value)
    raise TypeError(
        f"{what} returned {value!r}, a {cls.__qualname__}; a stop rule must return True or "
        "False (a non-empty string or a non-zero number would count as True and stop the "
        "trial)."
    )


class DictStopper(Stopper):
    """``stop={"key": value}``: a trial stops once ``result[key] >= value`` for any key."""

    def __init__(self, criteria: Mapping[str, Any]) -> None:
        self._criteria = dict(criteria)

    @property
    def criteria(self) -> dict[str, Any]:
        """The stop criteria, ``{result key: threshold}``."""
        return dict(self._criteria)

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Stop when any criterion is reached; a key missing from the result is an error."""
        for key, value in self._criteria.items():
            reached = criterion_reached(result, key, value)
            if reached is None:
                raise KeyError(
                    f"stop criterion {key!r} is not in the trial's result (reported keys: "
                    f"{sorted(result)}). Report {key!r} from the trainable, or change stop=."
                )
            if reached:
                return True
        return False


def criterion_reached(result: Mapping[str, Any], key: str, threshold: Any) -> bool | None:
    """Whether ``result[key] >= threshold``; None when the result lacks ``key``. A value that
    cannot be compared with a number (a string, an array) is a ``TypeError`` naming it."""
    reached = lookup(result, key)
    if reached is MISSING:
        return None
    try:
        return bool(reached >= threshold)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"stop={{{key!r}: {threshold!r}}} stops a trial once result[{key!r}] >= "
            f"{threshold!r}, but the trial reported {key}={reached!r:.100}, a "
            f"{type(reached).__qualname__}, which cannot be compared with a number. Report a "
            f"number under {key!r}, or change stop=."
        ) from exc


# What lookup() returns for a key a result lacks (None is a value a result may hold).
MISSING = object()


def lookup(result: Mapping[str, Any], key: str) -> Any:
    """``result[key]``, where ``a/b`` also reaches ``result["a"]["b"]``; MISSING if absent.
    Stop rules and the schedulers read results this way."""
    if key in result:
        return result[key]
    node: Any = result
    for part in key.split("/"):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def make_stopper(stop: Any) -> Stopper:
    """Turn the ``stop`` argument of ``run`` into a Stopper, checking it early."""
    if stop is None:
        return NoopStopper()
    if isinstance(stop, Stopper):
        return stop
    if isinstance(stop, Mapping):
        for key, value in stop.items():
            if not isinstance(key, str):
                raise TypeError(f"stop keys must be result names (str), got {key!r}")
            if isinstance(value, Mapping):
                raise ValueError(
                    f"stop[{key!r}] is a nested dict; each stop criterion compares one result "
                    f"value. For a nested metric use a slash-joined key, e.g. "
                    f"stop={{'{key}/<name>': value}}, or pass a function "
                    "stop=lambda trial_id, result: ..."
                )
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(
                    f"stop[{key!r}] must be a number (stop when result[{key!r}] >= it), got "
                    f"{value!r}."
                )
        return DictStopper(stop)
    if callable(stop):
        return FunctionStopper(stop)
    raise TypeError(
        f"stop must be a dict, a function (trial_id, result) -> bool, or a tune.Stopper; got "
        f"{type(stop).__name__}."
    )
