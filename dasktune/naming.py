"""Names that become directories: the experiment's (``name=`` below ``local_dir``) and each
trial's (below the experiment).

Each is one path component inside its parent, so nothing a run writes lands outside the
experiment, and no two trials share a directory (a shared one would interleave their
``result.json`` rows, and the analysis would see one trial).
"""

from __future__ import annotations

import os
import posixpath
import re
import warnings
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .trial import Trial

# Longest trial directory name (before a suffix that makes it unique is counted in).
MAX_DIRNAME = 130
_UNSAFE = re.compile(r"[^\w.=,+\-\[\]]")
_SEPARATORS = {"/", os.sep, os.altsep or "/"}


def check_storage_dir(argument: str, value: Any) -> None:
    """``local_dir``/``upload_dir`` must be a path or URL; anything else would become a
    directory named after its repr (``local_dir=5`` made ``./5``)."""
    if value is None or isinstance(value, (str, os.PathLike)):
        if isinstance(value, os.PathLike) and not isinstance(os.fspath(value), str):
            raise TypeError(
                f"{argument} must be a str path or URL, got the bytes path {value!r}; "
                f"pass {argument}={os.fsdecode(value)!r}."
            )
        return
    raise TypeError(
        f"{argument} must be a path or URL (str or os.PathLike), got {type(value).__name__} "
        f"{value!r}; pass e.g. {argument}='~/dasktune_results' or {argument}='s3://bucket/prefix'."
    )


def check_experiment_name(name: Any, root_url: str) -> None:
    """``name`` must be one directory name inside ``root_url`` (the resolved ``local_dir``/
    ``upload_dir``): ``"../x"`` or an absolute path would write outside it.

    Ray joins the two as paths; dasktune refuses a name that is not a single component and
    says which ``local_dir``/``name`` pair gives the place that was meant.
    """
    if name is None:
        return
    if not isinstance(name, str):
        raise TypeError(
            f"name must be a str (one directory name below local_dir), got "
            f"{type(name).__name__} {name!r}; pass e.g. name='my_experiment'."
        )
    if name and name not in (".", "..") and not any(s in name for s in _SEPARATORS):
        return
    head, leaf = posixpath.split(name.replace(os.sep, "/").rstrip("/"))
    fix = "pass a plain name such as name='my_experiment'"
    if leaf and leaf not in (".", ".."):
        if "://" not in root_url:
            parent = os.path.normpath(os.path.join(root_url, head))
            fix = f"to put it in {parent}, pass local_dir={parent!r}, name={leaf!r}"
        elif not head.startswith("/"):
            parent = posixpath.join(root_url, head)
            fix = f"to put it in {parent}, pass upload_dir={parent!r}, name={leaf!r}"
    raise ValueError(
        f"name={name!r} is not a single directory name inside local_dir ({root_url}): the "
        f"experiment would be written outside it. A name holds no '/' and is not '.' or '..'; "
        f"{fix}."
    )


def default_experiment_name(trainable_name: str) -> str:
    """``<trainable>_<date>_<time>``, with the trainable's name made safe as a directory name
    (a registered name may hold '/')."""
    return f"{_UNSAFE.sub('_', trainable_name)}_{datetime.now():%Y-%m-%d_%H-%M-%S}"


class TrialDirnames:
    """Hands out trial directory names: sanitized, inside the experiment, never twice.

    A name already taken (by an earlier trial of this run, a resumed trial, a directory already
    in the experiment, or one of the experiment's own files) gets the trial's id appended, as
    Ray appends a suffix to a trial directory that exists. Names compare case-insensitively, so
    two trials never share a directory on a case-insensitive disk either.
    """

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken: set[str] = set()
        self._warned = False
        for name in taken:
            self._taken.add(name.casefold())

    def claim(
        self,
        trial: Trial,
        name_creator: Callable[[Trial], str] | None,
        dirname_creator: Callable[[Trial], str] | None,
    ) -> str:
        """The directory name of a new trial (made from the creators, or the default name)."""
        base = _sanitized(trial, name_creator, dirname_creator)
        name = base[:MAX_DIRNAME]
        if name.casefold() in self._taken:
            suffix = f"_{trial.trial_id}"
            name = base[: MAX_DIRNAME - len(suffix)] + suffix
            number = 2
            while name.casefold() in self._taken:  # a creator that mimics our suffixes
                suffix = f"_{trial.trial_id}_{number}"
                name = base[: MAX_DIRNAME - len(suffix)] + suffix
                number += 1
            self._warn_duplicate(base, name, name_creator, dirname_creator)
        self._taken.add(name.casefold())
        return name

    def _warn_duplicate(
        self,
        base: str,
        name: str,
        name_creator: Callable[[Trial], str] | None,
        dirname_creator: Callable[[Trial], str] | None,
    ) -> None:
        if self._warned or (name_creator is None and dirname_creator is None):
            return  # default names repeat only after a lost trial: nothing the user can fix
        self._warned = True
        which = "trial_dirname_creator" if dirname_creator is not None else "trial_name_creator"
        warnings.warn(
            f"{which} gave the directory name {base!r} to more than one trial; each trial gets "
            f"a directory of its own, so later ones get their trial id appended ({name!r}). "
            f"Make {which} return a name unique per trial (e.g. include trial.trial_id) to "
            "choose the names yourself.",
            stacklevel=2,
        )


def created_name(which: str, creator: Callable[[Trial], str], trial: Trial) -> str:
    """What ``creator`` (``trial_name_creator`` or ``trial_dirname_creator``, named by
    ``which``) returns for ``trial``, checked to be a str."""
    raw = creator(trial)
    if not isinstance(raw, str):
        raise TypeError(
            f"{which} must return a str, got {type(raw).__name__} {raw!r} for trial "
            f"{trial.trial_id}; return a name such as f'trial_{{trial.trial_id}}'."
        )
    return raw


def _sanitized(
    trial: Trial,
    name_creator: Callable[[Trial], str] | None,
    dirname_creator: Callable[[Trial], str] | None,
) -> str:
    if dirname_creator is not None:
        which = "trial_dirname_creator"
        raw = created_name(which, dirname_creator, trial)
    elif name_creator is not None:
        which = "trial_name_creator"
        # The trial factory called it once already, for the trial's name: not again.
        named = trial.custom_trial_name
        raw = named if named is not None else created_name(which, name_creator, trial)
    else:
        which = ""
        raw = f"{trial.trainable_name}_{trial.index:05d}"
        tag = trial.experiment_tag.split("_", 1)[1] if "_" in trial.experiment_tag else ""
        if tag:
            raw = f"{raw}_{tag}"
    # A separator becomes "_" (as in Ray), so a path such as "/tmp/x" stays inside the
    # experiment; "." and ".." cannot be made into a name of their own, so they are refused.
    clean = _UNSAFE.sub("_", raw)
    if clean in ("", ".", ".."):
        raise ValueError(
            f"{which or 'the default trial name'} returned {raw!r} for trial {trial.trial_id}, "
            "which is not a directory name inside the experiment; return a non-empty name "
            "other than '.' or '..', e.g. f'trial_{trial.trial_id}'."
        )
    return clean
