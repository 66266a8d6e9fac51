"""End-to-end tests of the core engine on real LocalClusters with worker processes."""

from __future__ import annotations

import csv
import json
import os
import time

import pytest
from helpers import max_overlap, read_rows
from trainables import (
    Counter,
    Guesser,
    Raiser,
    Sleeper,
    counter_function,
    counter_with_reporter,
    logging_function,
)

import dasktune as tune
from dasktune.result import ERROR_FILE, PARAMS_FILE, PROGRESS_FILE


def test_guesser_seed_example(client, results_dir):
    analysis = tune.run(
        Guesser,
        stop={"training_iteration": 10},
        num_samples=10,
        config={"guess": tune.randint(1, 10000)},
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    df = analysis.dataframe()
    assert len(df) == 10
    assert (df["training_iteration"] == 10).all()
    best = analysis.get_best_config(metric="accuracy", mode="min")
    assert 1 <= best["guess"] < 10000
    for trial in analysis.trials:
        rows = read_rows(trial.logdir)
        assert [r["training_iteration"] for r in rows] == list(range(1, 11))
        assert rows[-1]["accuracy"] == abs(trial.config["guess"] + 10 - 1024)


@pytest.mark.parametrize(
    "trainable",
    [Counter, counter_function, counter_with_reporter],
    ids=["class", "track", "reporter"],
)
def test_class_and_function_apis_log_the_same(client, results_dir, trainable):
    analysis = tune.run(
        trainable,
        name="same",
        stop={"training_iteration": 5},
        config={"start": tune.grid_search([0, 100]), "step": 3},
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    seen = {}
    for trial in analysis.trials:
        rows = read_rows(trial.logdir)
        seen[trial.config["start"]] = [(r["training_iteration"], r["value"]) for r in rows]
    assert seen == {
        0: [(i, 3 * i) for i in range(1, 6)],
        100: [(i, 100 + 3 * i) for i in range(1, 6)],
    }


def test_stop_by_callable_stopper_and_done(client, results_dir):
    by_fn = tune.run(
        Counter,
        stop=lambda trial_id, result: result["value"] >= 4,
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    assert by_fn.trials[0].last_result["value"] == 4

    class AtSix(tune.Stopper):
        def __call__(self, trial_id, result):
            return result["value"] >= 6

    by_stopper = tune.run(Counter, stop=AtSix(), local_dir=results_dir, client=client, verbose=0)
    assert by_stopper.trials[0].last_result["value"] == 6

    by_done = tune.run(
        counter_function, config={"done_at": 3}, local_dir=results_dir, client=client, verbose=0
    )
    trial = by_done.trials[0]
    assert trial.last_result["value"] == 3 and trial.status == "TERMINATED"


def test_function_thread_stops_at_criterion(client, results_dir, tmp_path):
    trace = tmp_path / "trace.txt"
    tune.run(
        logging_function,
        stop={"training_iteration": 4},
        config={"trace": str(trace)},
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    time.sleep(1.0)  # a runaway thread would keep appending
    assert trace.read_text().split() == ["1", "2", "3", "4"]


def test_auto_filled_fields(client, results_dir):
    analysis = tune.run(
        Counter, stop={"training_iteration": 2}, local_dir=results_dir, client=client, verbose=0
    )
    trial = analysis.trials[0]
    rows = read_rows(trial.logdir)
    last = rows[-1]
    for key in (
        "training_iteration",
        "time_this_iter_s",
        "time_total_s",
        "time_since_restore",
        "iterations_since_restore",
        "done",
        "experiment_id",
        "date",
        "timestamp",
        "pid",
        "hostname",
        "node_ip",
        "config",
        "trial_id",
    ):
        assert key in last, key
    assert last["trial_id"] == trial.trial_id
    assert last["iterations_since_restore"] == 2
    assert "timesteps_total" not in last and "episodes_total" not in last
    assert last["pid"] != os.getpid()
    with open(os.path.join(trial.logdir, PARAMS_FILE)) as f:
        assert json.load(f) == trial.config
    with open(os.path.join(trial.logdir, PROGRESS_FILE)) as f:
        progress = list(csv.DictReader(f))
    assert [p["value"] for p in progress] == ["1", "2"]
    assert "config/start" not in progress[0]


def test_two_trials_share_one_worker_and_overlap(cluster_factory, results_dir):
    client = cluster_factory(n_workers=1, threads_per_worker=2)
    started = time.time()
    analysis = tune.run(
        Sleeper,
        stop={"training_iteration": 2},
        config={"sleep": 1.0, "i": tune.grid_search([0, 1])},
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    elapsed = time.time() - started
    spans = [(r["start"], r["end"]) for t in analysis.trials for r in read_rows(t.logdir)]
    assert len({r["worker_pid"] for t in analysis.trials for r in read_rows(t.logdir)}) == 1
    assert max_overlap(spans) == 2
    assert elapsed < 4.0 + 3.0  # 2 x 2 s serial would be >= 4 s of training alone


@pytest.mark.slow
def test_gpu_slots_are_never_oversubscribed(cluster_factory, results_dir):
    client = cluster_factory(n_workers=2, threads_per_worker=4, resources={"GPU": 1})
    analysis = tune.run(
        Sleeper,
        stop={"training_iteration": 1},
        config={"sleep": 0.5},
        num_samples=6,
        resources_per_trial={"cpu": 1, "gpu": 1},
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    spans = [(r["start"], r["end"]) for t in analysis.trials for r in read_rows(t.logdir)]
    assert len(spans) == 6
    assert max_overlap(spans) == 2


def test_extra_cpu_reserves_slots(cluster_factory, results_dir):
    client = cluster_factory(n_workers=2, threads_per_worker=2)
    analysis = tune.run(
        Sleeper,
        stop={"training_iteration": 1},
        config={"sleep": 0.5},
        num_samples=4,
        resources_per_trial={"cpu": 1, "extra_cpu": 1},
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    spans = [(r["start"], r["end"]) for t in analysis.trials for r in read_rows(t.logdir)]
    # 4 CPU slots in all, 2 per trial: never more than 2 trials at once
    assert max_overlap(spans) == 2


def test_impossible_request_errors_fast(client, results_dir):
    started = time.time()
    with pytest.raises(tune.TuneError, match="no worker can host") as info:
        tune.run(
            Counter,
            resources_per_trial={"cpu": 1, "gpu": 1},
            local_dir=results_dir,
            client=client,
            verbose=0,
        )
    assert time.time() - started < 10
    assert "GPU" in str(info.value) and "--resources" in str(info.value)
    with pytest.raises(tune.TuneError, match="whole cluster"):
        tune.run(
            Counter,
            resources_per_trial={"cpu": 1, "extra_cpu": 5},
            local_dir=results_dir,
            client=client,
            verbose=0,
        )


def test_raising_trial_is_isolated_and_recorded(client, results_dir, tmp_path):
    marker = tmp_path / "cleanup.jsonl"
    with pytest.raises(tune.TuneError, match="1 trial\\(s\\) did not complete") as info:
        tune.run(
            Raiser,
            stop={"training_iteration": 4},
            config={"fail_at": tune.grid_search([2, 99]), "cleanup_marker": str(marker)},
            local_dir=results_dir,
            client=client,
            verbose=0,
        )
    assert "error.txt" in str(info.value)
    analysis = tune.ExperimentAnalysis(_only_experiment(results_dir))
    by_fail = {}
    for logdir in analysis.trial_logdirs:
        with open(os.path.join(logdir, PARAMS_FILE)) as f:
            by_fail[json.load(f)["fail_at"]] = logdir
    failed = by_fail[2]
    error = open(os.path.join(failed, ERROR_FILE)).read()
    assert "ValueError: boom at 2" in error and "Traceback" in error
    assert len(read_rows(failed)) == 1
    assert len(read_rows(by_fail[99])) == 4
    assert not os.path.exists(os.path.join(by_fail[99], ERROR_FILE))
    # cleanup ran for both trials, the failed one included
    assert len(marker.read_text().splitlines()) == 2


def test_raise_on_failed_trial_false_returns_analysis(client, results_dir):
    analysis = tune.run(
        Raiser,
        config={"fail_at": 1},
        local_dir=results_dir,
        client=client,
        verbose=0,
        raise_on_failed_trial=False,
    )
    assert analysis.trials[0].status == "ERROR"
    assert "boom at 1" in analysis.trials[0].error_msg


def test_function_that_raises_and_function_that_returns(client, results_dir):
    def two_then_raise(config):
        tune.track.log(x=1)
        tune.track.log(x=2)
        raise RuntimeError("function broke")

    def two_then_return(config):
        tune.track.log(x=1)
        tune.track.log(x=2)

    analysis = tune.run(
        two_then_raise, local_dir=results_dir, client=client, verbose=0, raise_on_failed_trial=False
    )
    trial = analysis.trials[0]
    assert trial.status == "ERROR"
    assert "RuntimeError: function broke" in trial.error_msg
    assert "two_then_raise" in trial.error_msg
    analysis = tune.run(two_then_return, local_dir=results_dir, client=client, verbose=0)
    trial = analysis.trials[0]
    assert trial.status == "TERMINATED" and trial.last_result["done"] is True
    assert [r["x"] for r in read_rows(trial.logdir)] == [1, 2]


def test_register_lambda_and_run_by_name(client, results_dir):
    tune.register_trainable("lam", lambda config: [tune.track.log(v=config["v"]) for _ in range(3)])
    analysis = tune.run(
        "lam",
        config={"v": tune.grid_search([1, 2])},
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    assert sorted(t.last_result["v"] for t in analysis.trials) == [1, 2]
    assert all(t.num_results == 3 for t in analysis.trials)
    assert "lam" in os.path.basename(analysis.trials[0].logdir)


def test_grid_times_num_samples_and_sample_from(client, results_dir):
    analysis = tune.run(
        Counter,
        stop={"training_iteration": 1},
        num_samples=3,
        config={
            "start": tune.grid_search([10, 20]),
            "step": tune.sample_from(lambda spec: spec.config.start // 10),
            "noise": tune.uniform(0, 1),
        },
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    configs = [t.config for t in analysis.trials]
    assert len(configs) == 6
    assert sorted(c["start"] for c in configs) == [10, 10, 10, 20, 20, 20]
    assert all(c["step"] == c["start"] // 10 for c in configs)
    assert len({c["noise"] for c in configs}) == 6


def test_max_concurrent_trials(client, results_dir):
    analysis = tune.run(
        Sleeper,
        stop={"training_iteration": 1},
        config={"sleep": 0.3},
        num_samples=3,
        max_concurrent_trials=1,
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    spans = [(r["start"], r["end"]) for t in analysis.trials for r in read_rows(t.logdir)]
    assert max_overlap(spans) == 1


def test_missing_stop_key_is_a_clear_error(client, results_dir):
    with pytest.raises(tune.TuneError, match="'accuracy' is not in the trial's result"):
        tune.run(Counter, stop={"accuracy": 1}, local_dir=results_dir, client=client, verbose=0)


def test_default_cluster_is_started_and_closed(results_dir):
    import distributed

    analysis = tune.run(Counter, stop={"training_iteration": 2}, local_dir=results_dir, verbose=0)
    assert analysis.trials[0].last_result["value"] == 2
    with pytest.raises(ValueError):
        distributed.Client.current(allow_global=False)


def test_address_argument(cluster_factory, results_dir):
    cluster_factory(n_workers=1)
    analysis = tune.run(
        Counter,
        stop={"training_iteration": 2},
        local_dir=results_dir,
        address=cluster_factory.last_cluster.scheduler_address,
        verbose=0,
    )
    assert analysis.trials[0].last_result["value"] == 2


def _only_experiment(results_dir):
    (name,) = os.listdir(results_dir)
    return os.path.join(results_dir, name)
