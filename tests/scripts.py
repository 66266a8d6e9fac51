"""Running user code the way users run it: a module-level script, ``python script.py``, in a
subprocess, with no cluster given (dasktune starts its embedded one).

Import as ``from scripts import run_script`` (``tests/`` is on ``sys.path`` under pytest).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
