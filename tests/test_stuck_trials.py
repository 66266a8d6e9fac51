"""A trial stuck in its step never hangs the run: Ray's stoppers, ``time_budget_s`` and Ctrl-C
(said at once, bounded, the state file consistent; a second Ctrl-C forces) all end it."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from scripts import run_script, start_script

from dasktune.stopper import (
    CombinedStopper,
    ExperimentPlateauStopper,
    MaximumIterationStopper,
    TimeoutStopper,
    TrialPlateauStopper,
)

STUCK = """
    import time
    import dasktune as tune
    from dasktune.stopper import TimeoutStopper

    class Stuck(tune.Trainable):
        def _setup(self, config):
            self.n = 0

        def _train(self):
            self.n += 1
            if self.n == 2:
                time.sleep(3600)  # stuck in user code: nothing can interrupt it
            return {"n": self.n}

        def _save(self, d):
            return {"n": self.n}

        def _restore(self, c):
            self.n = c["n"]

    analysis = tune.run(Stuck, num_samples=2, name="exp", local_dir="results", verbose=1, %s)
    print("ENDED", sorted(t.status for t in analysis.trials), flush=True)
"""


# -- the stoppers, no cluster ------------------------------------------------------------------
def test_maximum_iteration_and_combined_stoppers():
    stopper = CombinedStopper(MaximumIterationStopper(3), TimeoutStopper(3600))
    assert [stopper("t", {"training_iteration": i}) for i in (1, 2, 3)] == [False, False, True]
    assert not stopper.stop_all()
    with pytest.raises(TypeError, match="CombinedStopper takes tune.Stopper"):
        CombinedStopper(lambda trial_id, result: True)
    with pytest.raises(ValueError, match="max_iter must be an int >= 1"):
        MaximumIterationStopper(0)


def test_timeout_stopper_ends_the_run_after_its_time():
    stopper = TimeoutStopper(0.05)
    assert not stopper.stop_all()
    time.sleep(0.06)
    assert stopper.stop_all() and not stopper("t", {})
    with pytest.raises(ValueError, match="positive number of seconds"):
        TimeoutStopper(-1)


def test_trial_plateau_stopper():
    stopper = TrialPlateauStopper("loss", std=0.01, num_results=3, grace_period=3)
    values = [1.0, 0.5, 0.30, 0.300, 0.301]
    # The last three: 0.3, 0.3, 0.301 have plateaued (0.5, 0.3, 0.3 had not).
    assert [stopper("a", {"loss": v}) for v in values] == [False] * 4 + [True]
    # Per trial: another trial's history is its own.
    assert not stopper("b", {"loss": 0.3})
    guarded = TrialPlateauStopper(
        "loss", num_results=2, grace_period=0, metric_threshold=0.1, mode="min"
    )
    assert not guarded("a", {"loss": 0.5}) and not guarded("a", {"loss": 0.5})  # not good enough
    with pytest.raises(KeyError, match="'loss' is not in the trial's result"):
        stopper("c", {"acc": 1})
    with pytest.raises(ValueError, match="needs mode"):
        TrialPlateauStopper("loss", metric_threshold=0.1)


def test_experiment_plateau_stopper():
    stopper = ExperimentPlateauStopper("loss", std=0.001, top=3, patience=1)
    for value in (0.5, 0.2, 0.2, 0.2):
        stopper("t", {"loss": value})
    assert not stopper.stop_all()  # plateaued once; patience wants one more
    stopper("t", {"loss": 0.2})
    assert stopper.stop_all()


# -- stuck trials in real runs (module-level scripts, embedded cluster) ------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    "how", ["time_budget_s=4", "stop=TimeoutStopper(4)"], ids=["time_budget", "timeout_stopper"]
)
def test_a_stuck_trial_is_ended_by_the_run_stopping(tmp_path, how):
    started = time.monotonic()
    done = run_script(tmp_path, STUCK % how, timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ENDED ['TERMINATED', 'TERMINATED']" in done.stdout
    assert "did not answer within" in done.stdout
    assert elapsed < 20, elapsed


@pytest.mark.slow
@pytest.mark.parametrize("presses", [1, 2], ids=["ctrl-c", "ctrl-c-twice"])
def test_ctrl_c_with_stuck_trials_exits_promptly_and_keeps_the_state(tmp_path, presses):
    proc = start_script(tmp_path, STUCK % "stop={'training_iteration': 100}")
    log = tmp_path / "script.log"
    state = tmp_path / "results" / "exp" / "experiment_state.json"
    try:
        deadline = time.monotonic() + 60
        # Both trials are in their stuck second step once each logged its first row.
        while sum(1 for _ in (tmp_path / "results" / "exp").glob("*/result.json")) < 2 or any(
            not p.read_text() for p in (tmp_path / "results" / "exp").glob("*/result.json")
        ):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(0.5)
        pressed = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        if presses == 2:
            time.sleep(0.3)
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        took = time.monotonic() - pressed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = log.read_text()
    assert "Ctrl-C: stopping 2 running trial(s)" in output and "Ctrl-C again to force" in output
    assert "KeyboardInterrupt" in output
    assert "dasktune_busy_workers" not in output and "AttributeError" not in output
    assert took < (6 if presses == 2 else 15), (took, output)
    if presses == 1:
        # The state file was written at the end: both trials resumable (RUNNING, not lost).
        trials = json.loads(state.read_text())["trials"]
        assert [t["status"] for t in trials] == ["RUNNING", "RUNNING"]
    # No worker process of the embedded cluster is left behind.
    time.sleep(0.5)
    leftover = os.popen("pgrep -f dasktune.backend.worker_process").read().split()
    children = [pid for pid in leftover if _parent_gone_or(pid, proc.pid)]
    assert not children, output


def _parent_gone_or(pid: str, parent: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().split()[3]) == parent
    except OSError:
        return False
