"""Function checkpoints: every ``tune.checkpoint_dir`` block a function opens is a checkpoint,
committed and kept like any other, with no ``checkpoint_freq``; trials continue from them after
a failure and after Ctrl-C and ``resume=True``."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import dask
import pytest
from helpers import read_rows
from scripts import run_script, script_env, start_script
from trainables import checkpointing_function

import dasktune as tune
from dasktune.checkpoints import MANIFEST, committed_checkpoints

BATCHING = {"lock-step": {}, "batched": {"dasktune.result-batch-time": "100ms"}}


def _committed(logdir: str) -> list[int]:
    return [iteration for iteration, _ in committed_checkpoints(logdir)]


def _value_in(checkpoint_url: str) -> int:
    with open(os.path.join(checkpoint_url, "value.txt")) as f:
        return int(f.read())


@pytest.mark.parametrize("batching", BATCHING)
def test_every_checkpoint_dir_block_is_committed(client, tmp_path, batching):
    with dask.config.set(BATCHING[batching]):
        analysis = tune.run(
            checkpointing_function,
            stop={"training_iteration": 5},
            local_dir=str(tmp_path),
            client=client,
            verbose=0,
        )
    (trial,) = analysis.trials
    assert _committed(trial.logdir) == [1, 2, 3, 4, 5]
    for iteration, url in committed_checkpoints(trial.logdir):
        assert _value_in(url) == iteration
    assert trial.checkpoint.endswith("checkpoint_5") and trial.checkpoint_iteration == 5
    rows = read_rows(trial.logdir)
    assert [r["value"] for r in rows] == [1, 2, 3, 4, 5]
    # As in Ray, the flag that made the driver save stays in the logged result.
    assert all(r["should_checkpoint"] is True for r in rows)
    assert [r["done"] for r in rows] == [False, False, False, False, True]


def _sparse_checkpoints(config, checkpoint_dir=None):
    value = 0
    if checkpoint_dir:
        with open(os.path.join(checkpoint_dir, "value.txt")) as f:
            value = int(f.read())
    while True:
        value += 1
        if value % 3 == 0:
            with tune.checkpoint_dir(step=value) as d:
                with open(os.path.join(d, "value.txt"), "w") as f:
                    f.write(str(value))
        tune.track.log(value=value)


@pytest.mark.parametrize("batching", BATCHING)
def test_only_the_blocks_are_checkpoints_and_retention_applies(client, tmp_path, batching):
    with dask.config.set(BATCHING[batching]):
        analysis = tune.run(
            _sparse_checkpoints,
            stop={"training_iteration": 10},
            keep_checkpoints_num=2,
            local_dir=str(tmp_path),
            client=client,
            verbose=0,
        )
    (trial,) = analysis.trials
    rows = read_rows(trial.logdir)
    assert [r.get("should_checkpoint", False) for r in rows] == [i % 3 == 0 for i in range(1, 11)]
    # checkpoint_3 was deleted (keep_checkpoints_num=2); deletion runs in the background.
    deadline = time.monotonic() + 10
    while _committed(trial.logdir) != [6, 9] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _committed(trial.logdir) == [6, 9]
    assert trial.checkpoint_iteration == 9
    assert not os.path.exists(os.path.join(trial.logdir, "checkpoint_3"))


def _fails_once_at_four(config, checkpoint_dir=None):
    value = 0
    if checkpoint_dir:
        with open(os.path.join(checkpoint_dir, "value.txt")) as f:
            value = int(f.read())
    while True:
        value += 1
        if value == 4 and not os.path.exists(config["marker"]):
            open(config["marker"], "w").close()
            raise RuntimeError("fails once at 4")
        with tune.checkpoint_dir(step=value) as d:
            with open(os.path.join(d, "value.txt"), "w") as f:
                f.write(str(value))
        tune.track.log(value=value, restored=checkpoint_dir is not None)


@pytest.mark.parametrize("batching", BATCHING)
def test_a_failed_function_continues_from_its_newest_checkpoint(client, tmp_path, batching):
    with dask.config.set(BATCHING[batching]):
        analysis = tune.run(
            _fails_once_at_four,
            config={"marker": str(tmp_path / "failed")},
            stop={"training_iteration": 6},
            max_failures=1,
            local_dir=str(tmp_path / "results"),
            client=client,
            verbose=0,
        )
    (trial,) = analysis.trials
    assert trial.status == "TERMINATED" and trial.num_failures == 1
    rows = read_rows(trial.logdir)
    assert [(r["training_iteration"], r["value"]) for r in rows] == [(i, i) for i in range(1, 7)]
    assert [r["restored"] for r in rows] == [False] * 3 + [True] * 3
    assert [r["iterations_since_restore"] for r in rows] == [1, 2, 3, 1, 2, 3]


# -- Ctrl-C, then resume=True: a user's script -----------------------------------------------

# Run as `python script.py`, no main guard, no cluster given; RESUME=1 in the environment
# resumes.
RESUMABLE = """
import os
import time

import dasktune as tune


def train(config, checkpoint_dir=None):
    step = 0
    if checkpoint_dir:
        with open(os.path.join(checkpoint_dir, "step")) as f:
            step = int(f.read())
    while True:
        step += 1
        time.sleep(0.2)
        with tune.checkpoint_dir(step=step) as d:
            with open(os.path.join(d, "step"), "w") as f:
                f.write(str(step))
        tune.track.log(step=step, restored=checkpoint_dir is not None)


tune.run(
    train,
    name="interrupted",
    stop={"training_iteration": 20},
    resume=os.environ.get("RESUME") == "1",
    verbose=0,
)
"""


def _committed_under(experiment: Path) -> list[int]:
    return sorted(
        int(manifest.parent.name.split("_")[1])
        for manifest in experiment.glob(f"*/checkpoint_*/{MANIFEST}")
    )


def _interrupt_after_checkpoints(directory: Path, experiment: Path, count: int) -> None:
    """Start the script, wait until ``count`` checkpoints are committed, then press Ctrl-C."""
    proc = start_script(directory, RESUMABLE)
    log = directory / "script.log"
    try:
        deadline = time.monotonic() + 180
        while len(_committed_under(experiment)) < count:
            assert proc.poll() is None, f"the script ended first:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no checkpoints in time:\n{log.read_text()}"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "KeyboardInterrupt" in log.read_text(), log.read_text()


def test_ctrl_c_then_resume_continues_from_the_newest_function_checkpoint(tmp_path):
    experiment = tmp_path / "dasktune_results" / "interrupted"
    _interrupt_after_checkpoints(tmp_path, experiment, count=3)
    newest = _committed_under(experiment)[-1]
    (trial_dir,) = [p for p in experiment.iterdir() if p.is_dir()]
    interrupted_rows = read_rows(str(trial_dir))
    assert newest >= 3 and len(interrupted_rows) < 20

    resumed = run_script(tmp_path, RESUMABLE, env=script_env(tmp_path, RESUME="1"))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    rows = read_rows(str(trial_dir))
    assert rows[: len(interrupted_rows)] == interrupted_rows
    again = rows[len(interrupted_rows) :]
    # The function got its newest checkpoint: its own count and training_iteration go on
    # from it, not from 1.
    assert [r["step"] for r in again] == list(range(newest + 1, 21))
    assert [r["training_iteration"] for r in again] == list(range(newest + 1, 21))
    assert [r["iterations_since_restore"] for r in again] == list(range(1, 21 - newest))
    assert all(r["restored"] for r in again)
    assert again[-1]["done"] is True
    assert _committed_under(experiment) == list(range(1, 21))
    state = json.loads((experiment / "experiment_state.json").read_text())
    assert [t["status"] for t in state["trials"]] == ["TERMINATED"]
