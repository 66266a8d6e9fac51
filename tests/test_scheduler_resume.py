"""A driver killed in the middle of synchronous HyperBand, then ``resume=True``: the brackets
go on where they were (Ray's issue list: a resumed scheduler starting over), as a user runs it:
a module-level script, no cluster given, killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from helpers import read_rows
from scripts import run_script, start_script

pytestmark = pytest.mark.slow

QS = [i / 17 for i in (5, 1, 9, 3, 12, 7, 15, 0, 10, 2, 14, 6, 16, 4, 11, 8, 13)]

SCRIPT = """
import time
import dasktune as tune
from dasktune.schedulers import HyperBandScheduler

class Curve(tune.Trainable):
    def setup(self, config):
        self.n = 0

    def step(self):
        time.sleep(0.15)
        self.n += 1
        return {{"loss": self.config["q"] + 1.0 / self.n, "step": self.n}}

    def save_checkpoint(self, checkpoint_dir):
        return {{"step": self.n}}

    def load_checkpoint(self, checkpoint):
        self.n = checkpoint["step"]

tune.run(Curve, name="hb", local_dir="results", config={{"q": tune.grid_search({qs!r})}},
         scheduler=HyperBandScheduler(max_t=9, reduction_factor=3), metric="loss", mode="min",
         checkpoint_freq=1, verbose=0, resume={resume!r})
print("DONE")
"""


def _trial_statuses(state_file):
    try:
        return [t["status"] for t in json.loads(state_file.read_text())["trials"]]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return []


def test_hyperband_brackets_continue_after_a_killed_driver(tmp_path):
    first = start_script(tmp_path, SCRIPT.format(qs=QS, resume=False), name="first.py")
    state_file = tmp_path / "results" / "hb" / "experiment_state.json"
    deadline = time.time() + 90
    # Kill once the state shows a trial paused at a milestone: a bracket is half done.
    while time.time() < deadline and "PAUSED" not in _trial_statuses(state_file):
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(0.05)
    statuses = _trial_statuses(state_file)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert "PAUSED" in statuses, (tmp_path / "first.log").read_text()[-3000:]
    assert "TERMINATED" not in statuses or statuses.count("TERMINATED") < len(QS)

    done = run_script(tmp_path, SCRIPT.format(qs=QS, resume=True), name="second.py", timeout=240)
    assert "DONE" in done.stdout, done.stderr[-3000:]
    state = json.loads(state_file.read_text())
    assert len(state["trials"]) == len(QS)
    assert {t["status"] for t in state["trials"]} == {"TERMINATED"}
    rows = {}
    for trial in state["trials"]:
        trial_rows = read_rows(str(tmp_path / "results" / "hb" / trial["dirname"]))
        rows[trial_rows[-1]["config"]["q"]] = trial_rows
    ends = {q: r[-1]["training_iteration"] for q, r in rows.items()}
    # The same brackets as an uninterrupted run (tests/test_schedulers_e2e.py): 3 trials to 9;
    # 5 to 3, the best 2 on to 9; 9 to 1, the best 3 on to 3 and the best of those to 9. A
    # scheduler started afresh on resume would not know which trials were promoted.
    first_b, second_b, third_b = QS[:3], sorted(QS[3:8]), sorted(QS[8:])
    assert [ends[q] for q in first_b] == [9, 9, 9]
    assert [ends[q] for q in second_b] == [9, 9, 3, 3, 3]
    assert [ends[q] for q in third_b] == [9, 3, 3] + [1] * 6
    for q, trial_rows in rows.items():
        steps = [r["step"] for r in trial_rows]
        # No trial started over: step 1 once, the last step is its end.
        assert steps.count(1) == 1 and steps[-1] == ends[q], (q, steps)
