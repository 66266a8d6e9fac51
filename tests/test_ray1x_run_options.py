"""Ray 1.x's run options that code written for it passes: ``tune.PlacementGroupFactory`` as
``resources_per_trial``, ``tune.SyncConfig``, and ``trial_name_creator`` naming the trial in
the progress table (found by running a typical Ray 1.x script, which failed on each)."""

from __future__ import annotations

import os
import warnings

import pytest
from scripts import run_script
from trainables import Introspect

import dasktune as tune
from dasktune.resources import Resources
from dasktune.utils.placement_groups import PlacementGroupFactory

# -- PlacementGroupFactory ----------------------------------------------------------------------


def test_the_first_bundle_is_the_trainables_and_the_rest_are_its_extras():
    pgf = tune.PlacementGroupFactory(
        [{"CPU": 1, "GPU": 1, "TPU": 2}, {"CPU": 2}, {"CPU": 1.5, "GPU": 1}]
    )
    assert tune.PlacementGroupFactory is PlacementGroupFactory
    assert pgf.to_resources() == Resources(
        cpu=1, gpu=1, extra_cpu=3.5, extra_gpu=1, custom_resources={"TPU": 2}
    )
    assert Resources.from_request(pgf) == pgf.to_resources()
    assert pgf.head_cpus == 1 and pgf.strategy == "PACK"
    assert pgf.required_resources == {"CPU": 4.5, "GPU": 2, "TPU": 2}
    assert pgf == PlacementGroupFactory(pgf.bundles) and hash(pgf) == hash(
        PlacementGroupFactory(pgf.bundles)
    )
    # An empty head bundle: the trainable holds nothing itself (Ray allows it).
    assert PlacementGroupFactory([{}, {"CPU": 2}]).to_resources() == Resources(cpu=0, extra_cpu=2)


def test_bad_bundles_and_strategies_are_named():
    with pytest.raises(TypeError, match="non-empty list of dicts"):
        PlacementGroupFactory({"CPU": 1})
    with pytest.raises(TypeError, match="non-empty list of dicts"):
        PlacementGroupFactory([])
    with pytest.raises(ValueError, match="spell it 'CPU'"):
        PlacementGroupFactory([{"cpu": 1}])
    with pytest.raises(ValueError, match=r"CPU must be a finite number >= 0, got -1"):
        PlacementGroupFactory([{"CPU": -1}])
    with pytest.raises(ValueError, match="strategy='STRICT_PACK'.*Use strategy='PACK'"):
        PlacementGroupFactory([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_PACK")
    with pytest.raises(ValueError, match="the strategies are"):
        PlacementGroupFactory([{"CPU": 1}], strategy="pack")
    with pytest.warns(UserWarning, match="'SPREAD'"):
        PlacementGroupFactory([{"CPU": 1}, {"CPU": 1}], strategy="SPREAD")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one bundle: nothing to spread
        PlacementGroupFactory([{"CPU": 1}], strategy="SPREAD")


def test_extra_bundles_are_reserved_for_the_trials_own_work(cluster_factory, tmp_path):
    client = cluster_factory(n_workers=2, threads_per_worker=2)
    analysis = tune.run(
        Introspect,
        stop={"training_iteration": 1},
        config={"submit": True},
        num_samples=2,
        resources_per_trial=tune.PlacementGroupFactory([{"CPU": 1}, {"CPU": 1}]),
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


# -- SyncConfig ---------------------------------------------------------------------------------


def test_sync_config_upload_dir_is_where_the_experiment_lives(client, tmp_path):
    target = tmp_path / "uploaded"
    analysis = tune.run(
        Introspect,
        name="synced",
        stop={"training_iteration": 1},
        sync_config=tune.SyncConfig(upload_dir=str(target), sync_period=30),
        client=client,
        verbose=0,
    )
    assert (target / "synced" / "experiment_state.json").exists()
    assert analysis.trials[0].logdir.startswith(str(target))


def test_sync_code_and_disagreeing_dirs_are_refused():
    with pytest.raises(ValueError, match="dasktune runs no sync code"):
        tune.SyncConfig(syncer=lambda source, target: None)
    with pytest.raises(ValueError, match="dasktune runs no sync code"):
        tune.SyncConfig(sync_to_driver=lambda source, target: None)
    with pytest.raises(ValueError, match="disagree"):
        tune.run(Introspect, upload_dir="/tmp/a", sync_config=tune.SyncConfig(upload_dir="/tmp/b"))
    with pytest.raises(TypeError, match="takes a tune.SyncConfig"):
        tune.run(Introspect, sync_config={"upload_dir": "/tmp/a"})


# -- trial_name_creator -------------------------------------------------------------------------

SCRIPT = """
import dasktune as tune

def f(config):
    tune.report(score=config["x"])

tune.run(f, config={"x": tune.grid_search([1, 2])}, local_dir="results", verbose=1,
         trial_name_creator=lambda trial: f"mine_{trial.config['x']}")
"""


def test_trial_name_creator_names_the_trials_in_the_table(tmp_path):
    done = run_script(tmp_path, SCRIPT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| mine_1 " in done.stdout and "| mine_2 " in done.stdout, done.stdout[-2000:]
    # The directories are named from it too, as in Ray.
    dirs = {p.name for p in (tmp_path / "results").glob("*/mine_*")}
    assert dirs == {"mine_1", "mine_2"}, dirs
