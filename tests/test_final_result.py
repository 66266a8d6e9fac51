"""The result that ends a trial is logged with ``done: True`` (stop rule, scheduler STOP,
``checkpoint_at_end``, in lock-step and batched alike), and a function's returned dict is its
final result."""

from __future__ import annotations

import json

import dask
import pytest
from helpers import read_rows
from scripts import run_script, script_env
from trainables import Counter, counter_function

import dasktune as tune
from dasktune.result import RESULT_DUPLICATE
from dasktune.schedulers import FIFOScheduler, TrialScheduler

BATCHING = {"lock-step": {}, "batched": {"dasktune.result-batch-time": "100ms"}}


def _run(trainable, tmp_path, client, batching="lock-step", **kwargs):
    with dask.config.set(BATCHING[batching]):
        analysis = tune.run(trainable, local_dir=str(tmp_path), client=client, verbose=0, **kwargs)
    (trial,) = analysis.trials
    return trial, read_rows(trial.logdir)


@pytest.mark.parametrize("batching", BATCHING)
@pytest.mark.parametrize("trainable", [Counter, counter_function], ids=["class", "function"])
def test_the_row_that_meets_the_stop_rule_is_done(client, tmp_path, batching, trainable):
    trial, rows = _run(trainable, tmp_path, client, batching, stop={"training_iteration": 3})
    assert [r["done"] for r in rows] == [False, False, True]
    assert trial.last_result["done"] is True


@pytest.mark.parametrize("batching", BATCHING)
def test_checkpoint_at_end_row_is_done(client, tmp_path, batching):
    trial, rows = _run(
        Counter,
        tmp_path,
        client,
        batching,
        stop={"training_iteration": 3},
        checkpoint_at_end=True,
    )
    assert [r["done"] for r in rows] == [False, False, True]
    assert trial.checkpoint.endswith("checkpoint_3")


class _StopAtTwo(FIFOScheduler):
    def on_trial_result(self, trial_runner, trial, result):
        if result["training_iteration"] >= 2:
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE


def test_scheduler_stop_row_is_done(client, tmp_path):
    trial, rows = _run(counter_function, tmp_path, client, scheduler=_StopAtTwo())
    assert [r["done"] for r in rows] == [False, True]


def _returns_a_dict(config):
    tune.track.log(score=1)
    tune.track.log(score=2)
    return {"score": 42}


def _returns_none(config):
    tune.track.log(score=1)
    tune.track.log(score=2)


@pytest.mark.parametrize("batching", BATCHING)
def test_a_returned_dict_is_the_final_result(client, tmp_path, batching):
    trial, rows = _run(_returns_a_dict, tmp_path, client, batching)
    assert [(r["training_iteration"], r["score"], r["done"]) for r in rows] == [
        (1, 1, False),
        (2, 2, False),
        (3, 42, True),
    ]
    assert trial.last_result["score"] == 42 and trial.num_results == 3


@pytest.mark.parametrize("batching", BATCHING)
def test_returning_none_ends_on_the_last_report_without_a_row(client, tmp_path, batching):
    trial, rows = _run(_returns_none, tmp_path, client, batching)
    # As Ray: the closing result is not logged again, so the logged last report says done
    # False; the trial's last result (what the analysis and schedulers see) says done.
    assert [(r["score"], r["done"]) for r in rows] == [(1, False), (2, False)]
    assert all(RESULT_DUPLICATE not in r for r in rows)
    assert trial.last_result["done"] is True and trial.last_result["score"] == 2
    assert trial.status == "TERMINATED" and trial.num_results == 2


# -- the same in a user's script ---------------------------------------------------------------

# Run as `python script.py`: no main guard, no cluster given.
ENDINGS = """
import json

import dasktune as tune


def train(config):
    if config["ending"] == "returns_dict":
        tune.track.log(score=1)
        return {"score": 42}
    if config["ending"] == "returns_none":
        tune.track.log(score=1)
        tune.track.log(score=2)
        return None
    score = 0
    while True:
        score += 1
        tune.track.log(score=score)


analysis = tune.run(
    train,
    name="endings",
    config={"ending": tune.grid_search(["stop_rule", "returns_dict", "returns_none"])},
    stop={"training_iteration": 3},
    verbose=0,
)
print(json.dumps({t.config["ending"]: t.last_result["done"] for t in analysis.trials}))
"""

BATCHING_ENV = {"lock-step": {}, "batched": {"DASK_DASKTUNE__RESULT_BATCH_TIME": "100ms"}}


@pytest.mark.parametrize("batching", BATCHING_ENV)
def test_script_logs_done_on_the_row_that_ends_each_trial(tmp_path, batching):
    proc = run_script(tmp_path, ENDINGS, env=script_env(tmp_path, **BATCHING_ENV[batching]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last_results_done = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last_results_done == {"stop_rule": True, "returns_dict": True, "returns_none": True}
    experiment = tmp_path / "dasktune_results" / "endings"
    rows = {}
    for params in experiment.glob("*/params.json"):
        ending = json.loads(params.read_text())["ending"]
        rows[ending] = [
            (r["training_iteration"], r["score"], r["done"]) for r in read_rows(str(params.parent))
        ]
    assert rows == {
        "stop_rule": [(1, 1, False), (2, 2, False), (3, 3, True)],
        "returns_dict": [(1, 1, False), (2, 42, True)],
        # The closing result of a function that returns None is not logged (as in Ray).
        "returns_none": [(1, 1, False), (2, 2, False)],
    }
