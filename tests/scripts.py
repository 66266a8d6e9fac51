"""Running user code the way users run it: a module-level script, ``python script.py``, in a
subprocess, with no cluster given (dasktune starts its embedded one).

Import as ``from scripts import run_script`` (``tests/`` is on ``sys.path`` under pytest).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def script_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment a user's shell would give: this checkout importable, ``HOME`` (where
    ``~/dasktune_results`` goes) set to the test's own directory."""
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "HOME": str(home), "PYTHONPATH": pythonpath, **extra}


def run_script(
    directory: Path,
    source: str,
    *,
    name: str = "script.py",
    timeout: float = 180,
    stdin_mode: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Save ``source`` (dedented) as ``directory/name`` and run it with ``python name`` (or
    ``python - < name`` with ``stdin_mode``) from ``directory``; return the finished process."""
    path = Path(directory) / name
    path.write_text(textwrap.dedent(source))
    command = [sys.executable, "-"] if stdin_mode else [sys.executable, name]
    with open(path) if stdin_mode else open(os.devnull) as stdin:
        return subprocess.run(
            command,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or script_env(Path(directory)),
            cwd=directory,
        )


def start_script(
    directory: Path, source: str, *, name: str = "script.py", env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Save ``source`` (dedented) as ``directory/name`` and start ``python name`` from
    ``directory`` in a session of its own, as a terminal runs it: ``os.killpg(proc.pid,
    signal.SIGINT)`` is then Ctrl-C, which reaches the script and every process it started.
    Its output goes to ``directory/name`` with ``.log`` for a suffix."""
    path = Path(directory) / name
    path.write_text(textwrap.dedent(source))
    with open(path.with_suffix(".log"), "w") as log:
        return subprocess.Popen(
            [sys.executable, name],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=env or script_env(Path(directory)),
            cwd=directory,
            start_new_session=True,
        )


def state_trials(state_file: Path) -> list[dict[str, Any]]:
    """The trials of an ``experiment_state.json`` as written now ([] before the first write)."""
    try:
        return json.loads(Path(state_file).read_text()).get("trials", [])
    except (OSError, ValueError):
        return []


def kill_when(
    proc: subprocess.Popen[str],
    state_file: Path,
    ready: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 120,
) -> list[dict[str, Any]]:
    """SIGKILL a :func:`start_script` process (its whole session) once ``ready(trials)`` holds
    for the state file's trials, or at ``timeout``, or when it ended by itself; return the
    trials it last saw."""
    deadline = time.time() + timeout
    trials: list[dict[str, Any]] = []
    try:
        while time.time() < deadline and proc.poll() is None:
            trials = state_trials(state_file)
            if ready(trials):
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return trials


def printed_result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON a script printed on its last ``RESULT {...}`` line; fails naming its stderr."""
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])
