"""One storage test suite, run against a local directory and against S3 (moto on loopback).

Every check reads back through fsspec with the same storage options the run got, the way a
user on another machine would.
"""

from __future__ import annotations

import json
import posixpath

import fsspec
import pytest
from helpers import read_rows
from trainables import FileCounter, checkpointing_function

import dasktune as tune
from dasktune.checkpoints import MANIFEST


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    """``(root_url, storage_options)`` for each backend."""
    if request.param == "local":
        return str(tmp_path / "results"), {}
    url, options = request.getfixturevalue("s3_bucket")
    return f"{url}/results", options


def _fs(storage):
    root, options = storage
    fs, _ = fsspec.core.url_to_fs(root, **options)
    return fs


def run(storage, client, **kwargs):
    root, options = storage
    kwargs.setdefault("verbose", 0)
    return tune.run(local_dir=root, storage_options=options, client=client, **kwargs)


def test_layout_results_and_retention(storage, client):
    analysis = run(
        storage,
        client,
        run_or_experiment=FileCounter,
        name="exp",
        stop={"training_iteration": 6},
        config={"peak": tune.grid_search([2, 5])},
        checkpoint_freq=1,
        keep_checkpoints_num=2,
        checkpoint_score_attr="score",
    )
    fs = _fs(storage)
    fs.invalidate_cache()
    for trial in analysis.trials:
        names = {posixpath.basename(p.rstrip("/")) for p in fs.ls(trial.logdir, detail=False)}
        assert {"params.json", "result.json", "progress.csv"} <= names
        rows = read_rows(trial.logdir, storage[1])
        assert [r["value"] for r in rows] == [1, 2, 3, 4, 5, 6]
        kept = sorted(n for n in names if n.startswith("checkpoint_"))
        peak = trial.config["peak"]
        # best by score (the peak) plus the newest, which is never deleted
        assert kept == sorted({f"checkpoint_{peak}", "checkpoint_6"}), kept
        for name in kept:
            assert fs.exists(f"{trial.logdir}/{name}/{MANIFEST}")
        assert trial.checkpoint.endswith("checkpoint_6")
        header = fs.cat_file(f"{trial.logdir}/progress.csv").decode().splitlines()[0]
        assert "value" in header.split(",")
    root, options = storage
    reread = tune.ExperimentAnalysis(f"{root}/exp", storage_options=options)
    assert reread.get_best_config(metric="score", mode="max") in (
        {"peak": 2},
        {"peak": 5},
    )
    assert len(reread.dataframe()) == 2
    assert len(reread.get_all_configs()) == 2


def test_restore_from_checkpoint_url_continues_iterations(storage, client):
    first = run(
        storage,
        client,
        run_or_experiment=FileCounter,
        name="first",
        stop={"training_iteration": 3},
        checkpoint_at_end=True,
    )
    checkpoint = first.trials[0].checkpoint
    assert checkpoint.endswith("checkpoint_3")
    second = run(
        storage,
        client,
        run_or_experiment=FileCounter,
        name="second",
        stop={"training_iteration": 5},
        restore=checkpoint,
    )
    rows = read_rows(second.trials[0].logdir, storage[1])
    assert [(r["training_iteration"], r["value"]) for r in rows] == [(4, 4), (5, 5)]


def test_function_checkpoints_and_errors(storage, client):
    analysis = run(
        storage,
        client,
        run_or_experiment=checkpointing_function,
        name="fn",
        stop={"training_iteration": 4},
        checkpoint_freq=2,
    )
    trial = analysis.trials[0]
    assert trial.checkpoint.endswith("checkpoint_4")
    again = run(
        storage,
        client,
        run_or_experiment=checkpointing_function,
        name="fn-restored",
        stop={"training_iteration": 6},
        restore=trial.checkpoint,
    )
    rows = read_rows(again.trials[0].logdir, storage[1])
    assert [(r["training_iteration"], r["value"]) for r in rows] == [(5, 5), (6, 6)]

    def broken(config):
        raise RuntimeError("broken on purpose")

    failed = run(storage, client, run_or_experiment=broken, name="err", raise_on_failed_trial=False)
    fs = _fs(storage)
    fs.invalidate_cache()
    text = fs.cat_file(f"{failed.trials[0].logdir}/error.txt").decode()
    assert "RuntimeError: broken on purpose" in text


def test_resume_continues_unfinished_and_reruns_errored(storage, client):
    root, options = storage
    analysis = run(
        storage,
        client,
        run_or_experiment=FileCounter,
        name="resumable",
        stop={"training_iteration": 3},
        config={"i": tune.grid_search([0, 1])},
        checkpoint_freq=1,
    )
    fs = _fs(storage)
    state_url = f"{root}/resumable/experiment_state.json"
    state = json.loads(fs.cat_file(state_url))
    # Pretend the driver died while trial 0 ran (its state still says RUNNING, its log has
    # no final row yet) and trial 1 had errored.
    state["trials"][0]["status"] = "RUNNING"
    state["trials"][1]["status"] = "ERROR"
    fs.pipe_file(state_url, json.dumps(state).encode())
    log_url = f"{root}/resumable/{state['trials'][0]['dirname']}/result.json"
    logged = [json.loads(line) for line in fs.cat_file(log_url).decode().splitlines()]
    logged[-1]["done"] = False
    fs.pipe_file(log_url, "".join(json.dumps(r) + "\n" for r in logged).encode())
    resumed = run(
        storage,
        client,
        run_or_experiment=FileCounter,
        name="resumable",
        stop={"training_iteration": 5},
        config={"i": tune.grid_search([0, 1])},
        checkpoint_freq=1,
        resume=True,
        raise_on_failed_trial=False,  # trial 1 stays ERROR under resume=True
    )
    by_index = {t.index: t for t in resumed.trials}
    assert by_index[0].status == "TERMINATED" and by_index[1].status == "ERROR"
    rows = read_rows(by_index[0].logdir, storage[1])
    assert [r["training_iteration"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[3]["iterations_since_restore"] == 1
    rerun = run(
        storage,
        client,
        run_or_experiment=FileCounter,
        name="resumable",
        stop={"training_iteration": 5},
        config={"i": tune.grid_search([0, 1])},
        checkpoint_freq=1,
        resume="ERRORED_ONLY",
    )
    by_index = {t.index: t for t in rerun.trials}
    assert by_index[1].status == "TERMINATED"
    rows = read_rows(by_index[1].logdir, storage[1])
    # the errored trial ran again from scratch; its earlier rows are kept
    assert [r["training_iteration"] for r in rows] == [1, 2, 3, 1, 2, 3, 4, 5]
    assert analysis.trials[0].trial_id == by_index[0].trial_id


def test_resume_refuses_a_different_experiment(storage, client):
    run(storage, client, run_or_experiment=FileCounter, name="mine", stop={"training_iteration": 1})
    with pytest.raises(ValueError, match="already holds an experiment"):
        run(storage, client, run_or_experiment=FileCounter, name="mine")
    with pytest.raises(ValueError, match="config/num_samples differ"):
        run(storage, client, run_or_experiment=FileCounter, name="mine", num_samples=2, resume=True)
    with pytest.raises(ValueError, match="with checkpointing_function"):
        run(storage, client, run_or_experiment=checkpointing_function, name="mine", resume=True)
    with pytest.raises(ValueError, match="holds no experiment_state.json"):
        run(storage, client, run_or_experiment=FileCounter, name="nothing", resume=True)


def test_resume_without_name_finds_the_newest_experiment_of_the_trainable(storage, client):
    run(storage, client, run_or_experiment=FileCounter, name="old", stop={"training_iteration": 1})
    resumed = run(
        storage, client, run_or_experiment=FileCounter, stop={"training_iteration": 1}, resume=True
    )
    assert resumed.trials[0].logdir.rstrip("/").split("/")[-2] == "old"
