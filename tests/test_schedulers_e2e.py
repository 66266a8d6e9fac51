"""Schedulers end to end on a real LocalCluster. ASHA: trials stop early at rungs, and the
best configuration is among the survivors. HyperBand: trials pause at milestones (checkpoint,
free their slot) and the promoted ones resume from their own checkpoints. MedianStoppingRule:
trials yield their slot while too few others can be compared, and the worse ones stop."""

from __future__ import annotations

import time

import pytest
from helpers import read_rows

import dasktune as tune
from dasktune.schedulers import ASHAScheduler, HyperBandScheduler, MedianStoppingRule

pytestmark = pytest.mark.slow


def loss_curve(config):
    """The loss falls with each step towards ``config["q"]``."""
    for step in range(1, 100):
        time.sleep(0.02)
        tune.report(loss=config["q"] + 1.0 / step)


@pytest.mark.parametrize("where", ["scheduler", "tune.run"])
def test_asha_stops_trials_at_rungs_and_keeps_the_best(cluster_factory, tmp_path, where):
    client = cluster_factory(n_workers=2, threads_per_worker=1)
    on_scheduler = {"metric": "loss", "mode": "min"} if where == "scheduler" else {}
    on_run = {} if on_scheduler else {"metric": "loss", "mode": "min"}
    analysis = tune.run(
        loss_curve,
        config={"q": tune.uniform(0, 1)},
        scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, **on_scheduler),
        num_samples=12,
        seed=3,  # the same 12 values of q each time
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
        **on_run,
    )
    trials = analysis.trials
    assert len(trials) == 12 and {t.status for t in trials} == {"TERMINATED"}
    iterations = {
        t.trial_id: [r["training_iteration"] for r in read_rows(t.logdir)] for t in trials
    }
    ends = {trial_id: rows[-1] for trial_id, rows in iterations.items()}
    # Rungs at 1, 3 and 9 (max_t): every trial ends at one, and some end early.
    assert set(ends.values()) <= {1, 3, 9}
    assert 9 in ends.values() and sum(1 for e in ends.values() if e < 9) >= 4
    assert sum(ends.values()) < 12 * 9 * 3 / 4
    # The best configuration ran to max_t.
    best = min(trials, key=lambda t: t.config["q"])
    assert ends[best.trial_id] == 9
    assert analysis.get_best_config(metric="loss", mode="min") == best.config
    assert all(read_rows(t.logdir)[-1]["done"] for t in trials)


class Curve(tune.Trainable):
    """``loss = q + 1/step``; checkpoints its step count."""

    def _setup(self, config):
        self.step = 0

    def _train(self):
        time.sleep(0.02)
        self.step += 1
        return {"loss": self.config["q"] + 1.0 / self.step, "step": self.step}

    def _save(self, checkpoint_dir):
        return {"step": self.step}

    def _restore(self, checkpoint):
        self.step = checkpoint["step"]


def test_hyperband_pauses_at_milestones_and_resumes_the_best(cluster_factory, tmp_path):
    client = cluster_factory(n_workers=2, threads_per_worker=1)
    qs = [i / 17 for i in (5, 1, 9, 3, 12, 7, 15, 0, 10, 2, 14, 6, 16, 4, 11, 8, 13)]
    analysis = tune.run(
        Curve,
        config={"q": tune.grid_search(qs)},
        scheduler=HyperBandScheduler(max_t=9, reduction_factor=3),
        metric="loss",
        mode="min",
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    trials = analysis.trials
    assert {t.status for t in trials} == {"TERMINATED"}
    rows = {t.config["q"]: read_rows(t.logdir) for t in trials}
    ends = {q: r[-1]["training_iteration"] for q, r in rows.items()}
    # Brackets in creation order: 3 trials to 9; 5 to 3, the best 2 on to 9; 9 to 1, the
    # best 3 on to 3 and the best of those to 9.
    first, second, third = qs[:3], sorted(qs[3:8]), sorted(qs[8:])
    assert [ends[q] for q in first] == [9, 9, 9]
    assert [ends[q] for q in second] == [9, 9, 3, 3, 3]
    assert [ends[q] for q in third] == [9, 3, 3] + [1] * 6
    # A resumed trial went on from its own checkpoint: its step count never went back.
    for q, trial_rows in rows.items():
        assert [r["step"] for r in trial_rows] == list(range(1, ends[q] + 1)), q
    # Survivors that paused at a milestone (all but the last to reach it) were restored.
    restored = [
        q for q, r in rows.items() if any(x["iterations_since_restore"] == 1 for x in r[1:])
    ]
    assert len(restored) >= 2
    assert analysis.get_best_config(metric="loss", mode="min")["q"] == 0.0


def test_median_stopping_rule_yields_slots_then_stops_the_worse(cluster_factory, tmp_path):
    client = cluster_factory(n_workers=2, threads_per_worker=1)
    qs = [0.5, 0.0, 0.9, 0.3, 0.8, 0.6, 0.95, 0.7]
    analysis = tune.run(
        Curve,
        config={"q": tune.grid_search(qs)},
        scheduler=MedianStoppingRule(
            time_attr="training_iteration", grace_period=2, min_samples_required=2
        ),
        metric="loss",
        mode="min",
        stop={"training_iteration": 6},
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    assert {t.status for t in analysis.trials} == {"TERMINATED"}
    rows = {t.config["q"]: read_rows(t.logdir) for t in analysis.trials}
    ends = {q: r[-1]["training_iteration"] for q, r in rows.items()}
    assert ends[0.0] == 6  # the best runs to the end
    assert any(end < 6 for end in ends.values())  # the worse stop early
    # The first trials paused at the grace period to let the waiting ones run, and went on
    # from their checkpoints.
    restored = [
        q for q, r in rows.items() if any(x["iterations_since_restore"] == 1 for x in r[1:])
    ]
    assert restored
    for q, trial_rows in rows.items():
        assert [r["step"] for r in trial_rows] == list(range(1, ends[q] + 1)), q
