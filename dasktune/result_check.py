"""Checks on a result before it leaves its worker, so a bad one fails its own trial.

A result travels from the trainable to the driver (pickled), is logged there (``result.json``,
``progress.csv``) and read by the stop rules and the scheduler. A value that cannot make that
trip used to fail on the driver, in the log write, and the exception stopped every trial of
the run. Checked here, in the trial's own thread, the same problem is that trial's error, with
its name, the key and the fix, while the other trials go on.

The check costs a JSON encoding of the reported metrics and a pickling with out-of-band buffers
(numpy arrays are not copied): a few microseconds per result, on the worker, not the driver.
"""

from __future__ import annotations

import operator
import pickle
from typing import Any

from . import result as R
from .pickle_check import type_name, unpicklable_path
from .search.variants import format_path
from .storage import json_problem, to_json

# Result fields the driver reads as flags: a non-empty string (done="no") would count as True.
_FLAGS = (R.DONE, R.SHOULD_CHECKPOINT)
# Fields dasktune adds up or negates as it completes a result.
_NUMBERS = (R.TIME_THIS_ITER_S, R.TIMESTEPS_THIS_ITER, R.EPISODES_THIS_ITER, "mean_loss")


def check_result(result: dict[str, Any], source: str) -> dict[str, Any]:
    """Check and normalise (in place) what a trainable reported; return it.

    ``source`` names the trial and the code that reported, e.g. ``"trial T_0: T._train()"``.
    ``done``/``should_checkpoint`` must be booleans (numpy's become Python's),
    ``training_iteration`` an int; the result must be writable as JSON and picklable. Raises
    ``TypeError`` naming the key and the fix otherwise.
    """
    for flag in _FLAGS:
        if flag in result:
            result[flag] = _as_bool(result[flag], flag, source)
    for name in _NUMBERS:
        value = result.get(name)
        # Anything float() takes without parsing text passes (numpy and torch scalars too).
        if value is not None and not hasattr(type(value), "__float__"):
            raise TypeError(
                f"{source} reported {name}={value!r:.100}, a {type_name(value)}; it must be a "
                f"number (dasktune adds it up or negates it). Report a number under {name!r}, "
                "or leave it out."
            )
    iteration = result.get(R.TRAINING_ITERATION)
    if iteration is not None and type(iteration) is not int:
        try:
            # numpy and torch integers become ints; floats and strings do not.
            as_int = None if isinstance(iteration, bool) else operator.index(iteration)
        except TypeError:
            as_int = None
        if as_int is None:
            raise TypeError(
                f"{source} reported training_iteration={iteration!r}, a "
                f"{type_name(iteration)}; it must be an int (checkpoints and stop rules count "
                "with it). Report an int, or leave training_iteration out and dasktune counts "
                "iterations itself."
            )
        result[R.TRAINING_ITERATION] = as_int
    try:
        to_json(result)
    except Exception as exc:  # noqa: BLE001 - name the key whatever the encoder's complaint
        _raise_unloggable(result, source, exc)
    try:
        # Out-of-band buffers: a numpy array is not copied just to be checked.
        pickle.dumps(result, protocol=5, buffer_callback=_out_of_band)
    except Exception:  # noqa: BLE001 - Dask falls back to cloudpickle: so does the check
        _check_cloudpickle(result, source)
    return result


def _out_of_band(buffer: Any) -> None:
    return None


def _as_bool(value: Any, flag: str, source: str) -> bool:
    if value is True or value is False:
        return value
    cls = type(value)
    if cls.__module__ == "numpy" and cls.__name__ in ("bool_", "bool"):
        return bool(value)
    raise TypeError(
        f"{source} reported {flag}={value!r}, a {type_name(value)}; {flag} must be True or "
        "False (a non-empty string or a non-zero number would count as True). Report "
        f"{flag}=True or {flag}=False, or leave {flag} out."
    )


def _raise_unloggable(result: dict[str, Any], source: str, error: BaseException) -> None:
    found = json_problem(result)
    path, why = found if found is not None else ((), f"{type(error).__name__}: {error}")
    where = format_path(path, root="result")
    key = path[-1] if path else None
    if isinstance(key, tuple):
        fix = f"Use a string key instead, e.g. {'/'.join(map(str, key))!r}."
    elif "key" in why:
        fix = f"Use a string key instead, e.g. {str(key)!r}."
    elif "cycle" in why:
        fix = "Report a copy without the cycle (only the values to log)."
    else:
        fix = "Report plain numbers, strings, lists and dicts instead."
    raise TypeError(
        f"{source} reported a result that cannot be written to the trial's logs "
        f"(result.json, progress.csv): {where} {why}. {fix}"
    ) from error


def _check_cloudpickle(result: dict[str, Any], source: str) -> None:
    import cloudpickle  # only when plain pickle failed (a lambda, a local class)

    found = unpicklable_path(result, cloudpickle.dumps)
    if found is None:
        return
    path, value, error = found
    raise TypeError(
        f"{source} reported a result that cannot be sent from its worker to the driver: "
        f"{format_path(path, root='result')} is a {type_name(value)}, which cannot be pickled "
        f"({type(error).__name__}: {error}). Report plain numbers, strings, lists and dicts "
        "(numpy values work too), e.g. a number computed from it or its str()."
    ) from error
