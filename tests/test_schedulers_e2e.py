"""ASHA end to end on a real LocalCluster: trials stop early at rungs, and the best
configuration is among the survivors."""

from __future__ import annotations

import time

import pytest
from helpers import read_rows

import dasktune as tune
from dasktune.schedulers import ASHAScheduler

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
