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


# One trial (12/17: third of five in the 3-step bracket, so not promoted) takes 11 s over its
# step 3, so a state file written on the 10 s timer shows it at step 2; another member of its
# bracket (7/17, not promoted either) takes longer still, so it is paused at the milestone, not
# stopped as the bracket's last. A callback kills the driver as soon as that pause's checkpoint
# commits, before the next state write: the saved scheduler never heard of the milestone
# result. Found by CI, where this window was hit by chance.
MILESTONE_KILL = """
import json, os, signal
KILL_AT = {kill!r}

class KillAfterUnheardMilestone(tune.Callback):
    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        if not KILL_AT or trial.config["q"] != KILL_AT or trial.last_result.get("step") != 3:
            return
        if trial.last_result.get("done"):
            return  # stopped as its bracket's last, not paused: nothing to find
        with open("results/hb/experiment_state.json") as f:
            saved = {{t["trial_id"]: t for t in json.load(f)["trials"]}}
        heard = saved[trial.trial_id].get("last_result", {{}}).get("training_iteration", 0)
        if 1 <= heard < 3:
            os.kill(os.getpid(), signal.SIGKILL)
"""


def _milestone_script(kill_at: float | None, resume: bool) -> str:
    # Longer than the state file's 10 s interval: a state write while it is at step 2.
    slow = {kill_at: 11, QS[5]: 14} if kill_at is not None else {}
    slow = f"{slow!r}.get(self.config['q'], 0.15) if self.n == 2 else 0.15"
    return (
        SCRIPT.format(qs=QS, resume=resume)
        .replace("time.sleep(0.15)", f"time.sleep({slow})")
        .replace(
            "tune.run(Curve,",
            MILESTONE_KILL.format(kill=kill_at)
            + "\ntune.run(Curve, callbacks=[KillAfterUnheardMilestone()],",
        )
    )


def test_a_checkpoint_the_saved_scheduler_never_heard_of_is_not_resumed_from(tmp_path):
    slow_q = QS[4]
    first = run_script(tmp_path, _milestone_script(slow_q, False), name="first.py", timeout=120)
    # Not killed: the window was not reached (the kill condition is in MILESTONE_KILL).
    assert first.returncode == -signal.SIGKILL, (first.returncode, first.stderr[-3000:])
    done = run_script(tmp_path, _milestone_script(None, True), name="second.py", timeout=240)
    assert "DONE" in done.stdout, done.stderr[-3000:]
    state = json.loads((tmp_path / "results" / "hb" / "experiment_state.json").read_text())
    (slow,) = [t for t in state["trials"] if _q(t) == slow_q]
    steps = [r["step"] for r in read_rows(str(tmp_path / "results" / "hb" / slow["dirname"]))]
    # Resumed from its step-2 checkpoint, it ran step 3 again and was stopped at the milestone
    # (resumed from step 3's checkpoint, it ran to 4: one step past it).
    assert steps[-1] == 3 and steps.count(3) == 2 and steps.count(1) == 1, steps


def _q(record):
    import base64

    import cloudpickle

    return cloudpickle.loads(base64.b64decode(record["config_pickle"]))["q"]
