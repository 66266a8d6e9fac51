"""Bad input fails at once with an error that names the problem and the fix, and writes nothing
outside the experiment's directory.

Each row: (run()'s keyword arguments, expected error type, words the message must contain,
seconds it must fail within). Rows run with a scheduler address nobody listens on (reaching a
cluster would hang or fail differently), and with a fresh directory as cwd and HOME.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from trainables import Counter

import dasktune as tune

NOWHERE = "tcp://127.0.0.1:9"

Case = tuple[dict[str, Any], type[BaseException], list[str], float]

# Issue 11: experiment names, storage dirs and trial directory names (names_and_dirs).
NAMES_AND_DIRS_CASES: list[Case] = [
    ({"name": "../x"}, ValueError, ["name='../x'", "outside", "name='x'"], 5),
    ({"name": "/abs/exp"}, ValueError, ["name='/abs/exp'", "local_dir='/abs'", "name='exp'"], 5),
    ({"name": "a/b"}, ValueError, ["name='a/b'", "single directory name"], 5),
    ({"name": ".."}, ValueError, ["name='..'", "plain name"], 5),
    ({"name": ""}, ValueError, ["name=''", "plain name"], 5),
    ({"name": 5}, TypeError, ["name must be a str", "int 5"], 5),
    ({"local_dir": 5}, TypeError, ["local_dir must be a path or URL", "int 5", "local_dir="], 5),
    ({"local_dir": 5, "name": "exp"}, TypeError, ["local_dir must be a path or URL"], 5),
    ({"upload_dir": 5}, TypeError, ["upload_dir must be a path or URL", "int 5"], 5),
    ({"upload_dir": ["s3://b"]}, TypeError, ["upload_dir must be a path or URL", "list"], 5),
    (
        {"trial_dirname_creator": lambda trial: ".."},
        ValueError,
        ["trial_dirname_creator returned '..'", "not a directory name inside the experiment"],
        5,
    ),
    (
        {"trial_name_creator": lambda trial: "."},
        ValueError,
        ["trial_name_creator returned '.'", "return a non-empty name"],
        5,
    ),
    (
        {"trial_dirname_creator": lambda trial: None},
        TypeError,
        ["trial_dirname_creator must return a str", "NoneType None"],
        5,
    ),
]


def _files(top: Path) -> set[Path]:
    return {Path(d) / name for d, dirs, files in os.walk(top) for name in [*dirs, *files]}


def _check_row(kwargs, error, words, seconds, tmp_path, monkeypatch):
    cwd, home, results = tmp_path / "cwd", tmp_path / "home", tmp_path / "results"
    for directory in (cwd, home, results / "inner"):
        directory.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    kwargs = dict(kwargs)
    if "local_dir" not in kwargs and "upload_dir" not in kwargs:
        kwargs["local_dir"] = str(results / "inner")
    before = _files(tmp_path)
    started = time.monotonic()
    with pytest.raises(error) as raised:
        tune.run(Counter, address=NOWHERE, verbose=0, **kwargs)
    elapsed = time.monotonic() - started
    message = str(raised.value)
    for word in words:
        assert word in message, f"{word!r} not in: {message}"
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    # Nothing new anywhere but in one experiment directory below the given local_dir.
    new = _files(tmp_path) - before
    experiments = {p.relative_to(results / "inner").parts[0] for p in new}
    assert all(p.is_relative_to(results / "inner") for p in new), sorted(new)
    assert len(experiments) <= 1, sorted(new)


@pytest.mark.parametrize(
    "kwargs, error, words, seconds",
    NAMES_AND_DIRS_CASES,
    ids=lambda value: repr(value)[:40] if isinstance(value, dict) else None,
)
def test_names_and_dirs(kwargs, error, words, seconds, tmp_path, monkeypatch):
    _check_row(kwargs, error, words, seconds, tmp_path, monkeypatch)
