"""OptunaSearch beyond a plain run (issue 13): the driver SIGKILLed with trials running, then
``resume=True`` continues the same study to exactly ``num_samples`` trials (a user's script,
embedded cluster); and Optuna with ASHA on a LocalCluster, where the searcher hears every
completion, error and early stop."""

from __future__ import annotations

import base64
import math
import time

import cloudpickle
import pytest
from scripts import kill_when, printed_result, run_script, start_script

import dasktune as tune
from dasktune.schedulers import ASHAScheduler

optuna = pytest.importorskip("optuna")
from dasktune.search.optuna import OptunaSearch  # noqa: E402

pytestmark = pytest.mark.slow

SCRIPT = """
import json, math, sys, time
import dasktune as tune
from dasktune.search.optuna import OptunaSearch

def objective(config):
    for i in range(3):
        time.sleep(0.2)
        tune.report(loss=(math.log10(config["lr"]) + 2.5) ** 2 + (config["layers"] - 3) ** 2
                    + 1.0 / (i + 1))

if __name__ == "__main__":
    searcher = OptunaSearch(metric="loss", mode="min", seed=7)
    analysis = tune.run(
        objective, search_alg=searcher, num_samples=8, max_concurrent_trials=2,
        config={"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 5)},
        name="exp", local_dir="results", resume={resume}, verbose=0,
    )
    study = searcher.study
    print("RESULT " + json.dumps({
        "configs": [t.config for t in analysis.trials],
        "statuses": [t.status for t in analysis.trials],
        "study": [[t.number, t.state.name, t.params] for t in study.trials],
    }))
"""


def test_driver_sigkill_then_resume_continues_the_same_study(tmp_path):
    first = start_script(tmp_path, SCRIPT.replace("{resume}", "False"), name="first.py")
    # kill once some trials ended and others are running
    trials = kill_when(
        first,
        tmp_path / "results" / "exp" / "experiment_state.json",
        lambda ts: (
            [t["status"] for t in ts].count("TERMINATED") >= 2
            and "RUNNING" in [t["status"] for t in ts]
        ),
    )
    log = (tmp_path / "first.log").read_text()
    statuses = [t["status"] for t in trials]
    assert "RUNNING" in statuses and len(trials) < 8, log[-3000:]
    made_first = [cloudpickle.loads(base64.b64decode(t["config_pickle"])) for t in trials]

    done = run_script(tmp_path, SCRIPT.replace("{resume}", "True"), name="second.py", timeout=240)
    out = printed_result(done)
    configs = out["configs"]
    assert len(configs) == 8 and set(out["statuses"]) == {"TERMINATED"}
    assert configs[: len(made_first)] == made_first  # the killed run's trials, not new ones
    # the same study: 8 trials in all, numbered 0..7, each a trial's config, all told
    study = out["study"]
    assert [number for number, _, _ in study] == list(range(8))
    assert {state for _, state, _ in study} == {"COMPLETE"}
    assert sorted(p["lr"] for _, _, p in study) == sorted(c["lr"] for c in configs)


def loss(config, i):
    return (math.log10(config["lr"]) + 2.5) ** 2 + (config["layers"] - 3) ** 2 + 1.0 / i


def curve(config):
    for i in range(1, 10):
        time.sleep(0.05)
        if config["layers"] == 4:  # before its first result, so ASHA cannot stop it first
            raise RuntimeError("layers=4 breaks")
        tune.report(loss=loss(config, i))


class Counting(OptunaSearch):
    """OptunaSearch that records every completion it is told."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.completions = []

    def on_trial_complete(self, trial_id, result=None, error=False):
        last = None if result is None else result.get("training_iteration")
        self.completions.append((trial_id, last, error))
        super().on_trial_complete(trial_id, result, error=error)


def test_optuna_with_asha_hears_every_completion_error_and_early_stop(client, tmp_path):
    points = [
        {"lr": 10**-2.5, "layers": 3},  # the best: goes on to max_t
        {"lr": 10**-2.5, "layers": 4},  # errors
        {"lr": 1e-4, "layers": 1},  # bad: ASHA stops it at a rung
    ]
    searcher = Counting(metric="loss", mode="min", seed=1, points_to_evaluate=points)
    analysis = tune.run(
        curve,
        search_alg=searcher,
        scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3),
        metric="loss",
        mode="min",
        num_samples=12,
        config={"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 5)},
        client=client,
        local_dir=str(tmp_path),
        raise_on_failed_trial=False,
        verbose=0,
    )
    trials = analysis.trials
    assert len(trials) == 12
    told = {trial_id: (last, error) for trial_id, last, error in searcher.completions}
    assert len(searcher.completions) == 12 == len(told)  # each trial told exactly once
    assert set(told) == {t.trial_id for t in trials}
    errored = [t for t in trials if t.status == "ERROR"]
    assert errored and all(told[t.trial_id][1] for t in errored)
    assert {t.trial_id for t in errored} == {t.trial_id for t in trials if t.config["layers"] == 4}
    assert all(told[t.trial_id] == (None, True) for t in errored)  # no result: error=True
    stopped_early = [
        t for t in trials if t.status == "TERMINATED" and t.last_result["training_iteration"] < 9
    ]
    assert stopped_early, [t.last_result["training_iteration"] for t in trials]
    for t in stopped_early:  # told with the result it was stopped at
        assert told[t.trial_id] == (t.last_result["training_iteration"], False)
    states = [t.state.name for t in searcher.study.trials]
    assert states.count("FAIL") == len(errored)
    assert states.count("COMPLETE") == 12 - len(errored)
