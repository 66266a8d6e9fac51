"""The examples run as the README says: plain `python examples/<name>.py`, no cluster to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("guesser.py", "best config:  {'guess':"),
        ("function_api.py", "best config: {'lr':"),
        ("sgd_classifier.py", "best config: {'alpha':"),
    ],
)
def test_example_runs_on_an_embedded_local_cluster(script, expected, tmp_path):
    # HOME decides where ~/dasktune_results goes: keep the run's files in the test's dir.
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert expected in done.stdout
    assert (tmp_path / "dasktune_results").is_dir()
