"""bench/chaos.py: its checker catches what it must, and a tiny run of it passes end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "bench", "chaos.py")
LOST = (
    "Failure # 1 (occurred at 2026-01-01 00:00:00)\nthe worker tcp://127.0.0.1:1 holding the "
    "trial's actor was lost (CommClosedError()). The trial's actor died with its worker; it "
    "restarts from its newest checkpoint (from scratch if it has none).\n\n"
)


def load_chaos():
    spec = importlib.util.spec_from_file_location("chaos_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def row(chaos, seed, iteration, since_restore, value=None):
    value = chaos.expected_value(seed, iteration) if value is None else value
    return {
        "training_iteration": iteration,
        "iterations_since_restore": since_restore,
        "n": iteration,
        "value": value,
        "checksum": chaos.expected_checksum(seed, iteration),
        "history_len": iteration,
        "expected": chaos.expected_value(seed, iteration),
        "expected_checksum": chaos.expected_checksum(seed, iteration),
    }


def fake_trial(tmp_path, chaos, rows, errors="", seed=7):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if errors:
        (tmp_path / "error.txt").write_text(errors)
    return SimpleNamespace(
        config={"seed": seed},
        logdir=str(tmp_path),
        status="TERMINATED",
        last_result=rows[-1],
        num_failures=errors.count("Failure #"),
        error_msg=None,
    )


def test_checker_accepts_a_restore_repeat_and_flags_wrong_state_and_lost_rows(tmp_path):
    chaos = load_chaos()
    killed = {"tcp://127.0.0.1:1"}
    # a kill during checkpoint 3's save: iteration 3 runs again after restoring checkpoint 2
    good = [row(chaos, 7, 1, 1), row(chaos, 7, 2, 2), row(chaos, 7, 3, 3)]
    good += [row(chaos, 7, 3, 1), row(chaos, 7, 4, 2)]
    report = chaos.check_trial(fake_trial(tmp_path / "good", chaos, good, LOST), 4, killed)
    assert report.problems == [] and report.repeats == 1 and report.lost == 0

    # the restore loaded stale state: the row after it is off
    bad = good[:3] + [row(chaos, 7, 3, 1, value=0), row(chaos, 7, 4, 2)]
    report = chaos.check_trial(fake_trial(tmp_path / "bad", chaos, bad, LOST), 4, killed)
    assert any("holds wrong state" in p for p in report.problems), report.problems

    # iteration 3 never logged
    gap = [row(chaos, 7, 1, 1), row(chaos, 7, 2, 2), row(chaos, 7, 4, 3)]
    report = chaos.check_trial(fake_trial(tmp_path / "gap", chaos, gap), 4, killed)
    assert report.lost == 1
    assert any("without a restore" in p for p in report.problems), report.problems

    # a failure blaming a worker the killer never touched
    report = chaos.check_trial(fake_trial(tmp_path / "blame", chaos, good, LOST), 4, set())
    assert any("never killed" in p for p in report.problems), report.problems


@pytest.mark.slow
def test_tiny_chaos_run_passes():
    args = ["--trials", "2", "--iterations", "30", "--kill-every", "1.5", "--workers", "2"]
    done = subprocess.run(
        [sys.executable, SCRIPT, *args, "--seed", "3", "--timeout", "45"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "OK: every trial TERMINATED" in out
    assert "results lost:                          0" in out
    kills = int(out.split("kills survived:")[1].split()[0])
    assert kills >= 1
