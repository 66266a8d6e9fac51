"""Checks on configs before any worker starts, naming the key path of what is wrong.

Every trial's config is deep-copied from the search space, pickled (sent to its worker, kept in
the experiment state) and written as JSON (``params.json``, and in every result). A value that
cannot take one of these steps (a lock, a socket, an open file, a module, a tuple key) used to
fail later with the bare error of the step, after the cluster had started, or killed the run
in the middle. The search space is checked once before anything starts; each trial's config,
which may hold values ``sample_from`` made, when the trial is made (the first one before the
cluster starts, since trials are made as they can start).
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import cloudpickle

from .pickle_check import Attempt, type_name, unpicklable_path
from .search.variants import format_path
from .storage import json_problem, to_json

_FIX = (
    "Pass plain values (numbers, strings, lists, dicts, numpy arrays), and build such objects "
    "inside the trainable (in setup(), or in the function) from a plain value such as a path "
    "or a name."
)


def check_config_space(config: Any) -> None:
    """Raise ``TypeError`` naming the key path when the search space ``config`` holds a value
    that cannot be copied, pickled or written as JSON (checked before any trial is made)."""
    if not isinstance(config, dict):
        return  # the search algorithm says what is wrong with it
    _check_pickle(config, "config=", copy.deepcopy, "copied (every trial gets its own copy)")
    _check_pickle(
        config,
        "config=",
        cloudpickle.dumps,
        "pickled (each trial's config is sent to its worker and saved in the experiment state)",
    )
    _check_json(config, "config=")


def pickled_config(config: dict[str, Any], trial: str) -> str:
    """``config`` of ``trial`` pickled for the experiment state (base64), once it is known to
    be writable as ``params.json``; ``TypeError`` naming the key path otherwise."""
    _check_json(config, f"the config of trial {trial}")
    try:
        return base64.b64encode(cloudpickle.dumps(config)).decode()
    except Exception:  # noqa: BLE001 - name the key, whatever pickle's complaint
        _check_pickle(
            config,
            f"the config of trial {trial}",
            cloudpickle.dumps,
            "pickled (it is sent to the trial's worker and saved in the experiment state)",
        )
        raise


def _check_pickle(config: dict[str, Any], whose: str, attempt: Attempt, step: str) -> None:
    found = unpicklable_path(config, attempt)
    if found is None:
        return
    path, value, error = found
    raise TypeError(
        f"{whose}: {format_path(path)} is a {type_name(value)}, which cannot be {step}: "
        f"{type(error).__name__}: {error}. {_FIX}"
    ) from error


def _check_json(config: dict[str, Any], whose: str) -> None:
    try:
        to_json(config, sort_keys=True)
    except Exception as exc:  # noqa: BLE001 - name the key, whatever the encoder's complaint
        found = json_problem(config, sort_keys=True)
        path, why = found if found is not None else ((), f"{type(exc).__name__}: {exc}")
        raise TypeError(
            f"{whose}: {format_path(path)} {why}, so the config cannot be written to "
            "params.json (nor logged with each result). Use string keys (e.g. 'a/b' for a "
            "tuple ('a', 'b')), and plain values."
        ) from exc
