"""PAUSE end to end on a real LocalCluster, with a scheduler written against Ray 0.8's hooks: the
paused trial frees its slot, another trial takes it, and the paused one resumes later on
another worker from its checkpoint, its training_iteration going on."""

from __future__ import annotations

import os
import time

import pytest
from helpers import read_rows

import dasktune as tune
from dasktune.schedulers import FIFOScheduler

pytestmark = pytest.mark.slow


class Counter(tune.Trainable):
    """Counts steps; ends itself at ``config["stop_at"]``; checkpoints its count."""

    def _setup(self, config):
        self.count = 0

    def _train(self):
        time.sleep(0.2)
        self.count += 1
        return {
            "count": self.count,
            "pid": os.getpid(),
            "done": self.count >= self.config["stop_at"],
        }

    def _save(self, checkpoint_dir):
        return {"count": self.count}

    def _restore(self, checkpoint):
        self.count = checkpoint["count"]


class PauseFirstTrialOnce(FIFOScheduler):
    """Ray 0.8 style: ``on_trial_result(trial_runner, trial, result)``."""

    def __init__(self):
        super().__init__()
        self.paused = False

    def on_trial_result(self, trial_runner, trial, result):
        assert trial in trial_runner.get_trials()
        if trial.config["name"] == "first" and result["training_iteration"] == 2:
            if not self.paused:
                self.paused = True
                return self.PAUSE
        return self.CONTINUE


def test_a_paused_trial_frees_its_slot_and_resumes_elsewhere_from_its_checkpoint(
    cluster_factory, tmp_path
):
    client = cluster_factory(n_workers=2, threads_per_worker=1)
    analysis = tune.run(
        Counter,
        config={
            "name": tune.grid_search(["first", "short", "long"]),
            "stop_at": tune.sample_from(
                lambda spec: {"first": 4, "short": 3, "long": 10}[spec.config.name]
            ),
        },
        scheduler=PauseFirstTrialOnce(),
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    first, short, long_ = analysis.trials
    assert [t.status for t in analysis.trials] == ["TERMINATED"] * 3
    rows = read_rows(first.logdir)
    assert [r["training_iteration"] for r in rows] == [1, 2, 3, 4]
    assert [r["count"] for r in rows] == [1, 2, 3, 4]  # restored from its checkpoint
    assert [r["iterations_since_restore"] for r in rows] == [1, 2, 1, 2]
    before, after = {r["pid"] for r in rows[:2]}, {r["pid"] for r in rows[2:]}
    assert len(before) == len(after) == 1 and before != after  # resumed on the other worker
    # The third trial took the paused trial's slot (its worker) while it was paused.
    assert read_rows(long_.logdir)[0]["pid"] in before
    assert first.checkpoint is not None
