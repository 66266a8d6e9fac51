"""Resources on real clusters: fractional GPUs, extras, GPU ids, reuse, workers coming and going."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings

import pytest
from helpers import max_overlap, read_rows
from trainables import Introspect, Reusable, Sleeper

import dasktune as tune


def start_worker(address, *args):
    """A `dask worker` process joining ``address``."""
    return subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--no-dashboard", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_process(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_fractional_gpus_pack_four_per_gpu(cluster_factory, tmp_path):
    client = cluster_factory(n_workers=1, threads_per_worker=8, resources={"GPU": 1})
    analysis = tune.run(
        Sleeper,
        stop={"training_iteration": 1},
        config={"sleep": 1.0},
        num_samples=6,
        resources_per_trial={"cpu": 1, "gpu": 0.25},
        local_dir=str(tmp_path),
        client=client,
        verbose=0,
    )
    spans = [(r["start"], r["end"]) for t in analysis.trials for r in read_rows(t.logdir)]
    assert max_overlap(spans) == 4


def test_gpu_ids_are_distinct_per_trial_on_a_multi_gpu_worker(cluster_factory, tmp_path):
    client = cluster_factory(n_workers=1, threads_per_worker=4, resources={"GPU": 2})
    analysis = tune.run(
        Introspect,
        stop={"training_iteration": 1},
        config={"sleep": 1.0},
        num_samples=2,
        resources_per_trial={"cpu": 1, "gpu": 1},
        local_dir=str(tmp_path),
        client=client,
        verbose=0,
    )
    ids = sorted(tuple(t.last_result["gpu_ids"]) for t in analysis.trials)
    assert ids == [("0",), ("1",)]
    assert all(
        t.last_result["placement_gpu_ids"] == t.last_result["gpu_ids"] for t in analysis.trials
    )


def test_extras_are_reserved_and_visible_to_the_trainable(cluster_factory, tmp_path):
    client = cluster_factory(n_workers=2, threads_per_worker=2)
    analysis = tune.run(
        Introspect,
        stop={"training_iteration": 1},
        config={"submit": True, "sleep": 0.5},
        num_samples=2,
        resources_per_trial={"cpu": 1, "extra_cpu": 1},
        local_dir=str(tmp_path),
        client=client,
        verbose=0,
    )
    worker_pids = client.run(os.getpid)
    for trial in analysis.trials:
        result = trial.last_result
        assert sum(a["CPU"] for a in result["extras"].values()) == 1
        (extra_worker,) = result["extras"]
        assert result["sub_pid"] == worker_pids[extra_worker]
    # 4 CPU slots, 2 per trial: both trials ran at once
    starts = sorted(t.last_result["start"] for t in analysis.trials)
    assert starts[1] - starts[0] < 0.5


def test_reuse_actors_builds_one_trainable_per_slot(tmp_path, client):
    log = tmp_path / "constructions.txt"
    analysis = tune.run(
        Reusable,
        stop={"training_iteration": 3},
        config={"x": tune.grid_search(list(range(8))), "log": str(log)},
        reuse_actors=True,
        local_dir=str(tmp_path / "results"),
        client=client,
        verbose=0,
    )
    assert len(log.read_text().split()) <= 2
    for trial in analysis.trials:
        results = read_rows(trial.logdir)
        assert [r["x"] for r in results] == [trial.config["x"]] * 3
        assert [r["training_iteration"] for r in results] == [1, 2, 3]
        assert all(r["trial"] == trial.trial_id for r in results)
        assert trial.logdir.endswith(trial.dirname)


def test_reuse_declined_warns_once_and_builds_fresh(tmp_path, client):
    log = tmp_path / "constructions.txt"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analysis = tune.run(
            Reusable,
            stop={"training_iteration": 1},
            config={"x": tune.grid_search(list(range(4))), "log": str(log), "accept_reset": False},
            reuse_actors=True,
            local_dir=str(tmp_path / "results"),
            client=client,
            verbose=0,
        )
    assert len(log.read_text().split()) == 4
    messages = [str(w.message) for w in caught if "reset_config" in str(w.message)]
    assert len(messages) == 1
    assert sorted(t.last_result["x"] for t in analysis.trials) == [0, 1, 2, 3]


def test_gpu_cluster_without_gpu_trials_warns(cluster_factory, tmp_path):
    import dasktune.tune as tune_module

    tune_module._warned_idle_gpus = False
    client = cluster_factory(n_workers=1, resources={"GPU": 1})
    with pytest.warns(UserWarning, match="GPUs but no trial asks for one"):
        tune.run(
            Sleeper,
            stop={"training_iteration": 1},
            config={"sleep": 0.0},
            local_dir=str(tmp_path),
            client=client,
            verbose=0,
        )


def test_workers_joining_mid_run_get_pending_trials(cluster_factory, tmp_path):
    client = cluster_factory(n_workers=1)
    address = cluster_factory.last_cluster.scheduler_address
    joined = None
    try:
        started = time.time()

        class JoinAfter(tune.Stopper):
            def __call__(self, trial_id, result):
                nonlocal joined
                if joined is None:
                    joined = start_worker(address, "--nthreads", "1")
                return result["training_iteration"] >= 1

        analysis = tune.run(
            Introspect,
            stop=JoinAfter(),
            config={"sleep": 0.5},
            num_samples=8,
            local_dir=str(tmp_path),
            client=client,
            verbose=0,
        )
        workers = {t.last_result["worker"] for t in analysis.trials}
        assert len(workers) == 2, workers
        assert time.time() - started < 30
    finally:
        if joined is not None:
            stop_process(joined)


def test_zero_workers_waits_visibly_then_times_out(cluster_factory, tmp_path, capsys):
    client = cluster_factory(n_workers=0)
    started = time.time()
    with pytest.raises(tune.TuneError, match="no workers for 2 s"):
        tune.run(
            Sleeper,
            local_dir=str(tmp_path),
            client=client,
            worker_wait_timeout_s=2,
            verbose=1,
        )
    assert time.time() - started < 15
    assert "waiting for some to join" in capsys.readouterr().out


def test_zero_workers_then_one_joins(cluster_factory, tmp_path):
    client = cluster_factory(n_workers=0)
    worker = start_worker(cluster_factory.last_cluster.scheduler_address, "--nthreads", "1")
    try:
        analysis = tune.run(
            Sleeper,
            stop={"training_iteration": 1},
            config={"sleep": 0.0},
            local_dir=str(tmp_path),
            client=client,
            worker_wait_timeout_s=60,
            verbose=0,
        )
        assert analysis.trials[0].status == "TERMINATED"
    finally:
        stop_process(worker)
