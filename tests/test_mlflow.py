"""MLflow logging, read back with MLflow's own client from a local file-store tracking URI:
Ray 0.8's ``MLFLowLogger`` (``loggers=``) and Ray 1.x's ``MLflowLoggerCallback``
(``callbacks=``), in one run of a user script (one trial errors)."""

from __future__ import annotations

import json

import pytest
from scripts import run_script, script_env

pytest.importorskip("mlflow")

pytestmark = pytest.mark.slow

SCRIPT = """
import os
import dasktune as tune
from dasktune.integration.mlflow import MLflowLoggerCallback
from dasktune.logger import JsonLogger, MLFLowLogger
from mlflow.tracking import MlflowClient

# Ray 0.8's logger: the experiment id in the config, the server from MLFLOW_TRACKING_URI.
legacy_id = MlflowClient().create_experiment("legacy")


def train(config):
    for i in range(3):
        if config["x"] == 3 and i == 1:
            raise RuntimeError("boom")
        tune.report(score=config["x"] * (i + 1), nested={{"m": i}}, flag=True)


tune.run(
    train,
    name="exp",
    local_dir={local_dir!r},
    config={{"x": tune.grid_search([1, 2, 3]), "opt": {{"lr": 0.5}},
             "mlflow_experiment_id": legacy_id}},
    loggers=[JsonLogger, MLFLowLogger],
    callbacks=[
        MLflowLoggerCallback(
            tracking_uri={uri!r}, experiment_name="cb", tags={{"team": "tune"}},
            save_artifact=True,
        )
    ],
    raise_on_failed_trial=False,
    verbose=0,
)
print("DONE")
"""


def test_mlflow_logger_and_callback(tmp_path, monkeypatch):
    uri = (tmp_path / "mlruns").as_uri()
    # MLflow 3 keeps its file store only on request.
    env = script_env(tmp_path, MLFLOW_TRACKING_URI=uri, MLFLOW_ALLOW_FILE_STORE="true")
    proc = run_script(
        tmp_path, SCRIPT.format(local_dir=str(tmp_path / "results"), uri=uri), env=env
    )
    assert proc.returncode == 0 and "DONE" in proc.stdout, proc.stdout + proc.stderr

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    for name in ("legacy", "cb"):
        experiment = client.get_experiment_by_name(name)
        runs = client.search_runs([experiment.experiment_id])
        assert len(runs) == 3, name
        by_x = {run.data.params["x"]: run for run in runs}
        assert sorted(by_x) == ["1", "2", "3"]
        for x, run in by_x.items():
            assert run.data.params["opt/lr"] == "0.5"  # the config, flattened
            assert run.data.tags["trial_name"].startswith("train_")
            history = client.get_metric_history(run.info.run_id, "score")
            reported = 1 if x == "3" else 3
            assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
                (i + 1, float(x) * (i + 1)) for i in range(reported)
            ], (name, x)
            nested = client.get_metric_history(run.info.run_id, "nested/m")
            assert sorted(m.value for m in nested) == [float(i) for i in range(reported)]
            assert "flag" not in run.data.metrics  # booleans are not metrics
            assert "training_iteration" in run.data.metrics
        if name == "cb":
            assert {run.data.tags["team"] for run in runs} == {"tune"}
            assert by_x["3"].info.status == "FAILED"
            assert {by_x["1"].info.status, by_x["2"].info.status} == {"FINISHED"}
            # save_artifact: the trial's folder, with every result in result.json.
            artifacts = {a.path for a in client.list_artifacts(by_x["2"].info.run_id)}
            assert {"params.json", "result.json"} <= artifacts, artifacts
            local = client.download_artifacts(by_x["2"].info.run_id, "result.json", str(tmp_path))
            with open(local) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            assert [r["score"] for r in rows] == [2, 4, 6]
        else:
            assert {run.info.status for run in runs} == {"FINISHED"}


def test_callback_arguments_are_checked():
    from dasktune.integration.mlflow import MLflowLoggerCallback

    with pytest.raises(TypeError, match="tags must be a dict"):
        MLflowLoggerCallback(tags=["a"])
    with pytest.raises(TypeError, match="save_artifact must be True or False"):
        MLflowLoggerCallback(save_artifact="yes")


def test_big_configs_and_results_go_in_batches_a_tracking_server_accepts():
    """A tracking server refuses more than 100 params or 1000 metrics per log_batch."""
    from mlflow.entities import Metric, Param

    from dasktune.logger.mlflow_logger import log_batches

    class Recorder:
        def __init__(self):
            self.batches = []

        def log_batch(self, run_id, params=(), metrics=()):
            self.batches.append((len(params), len(metrics)))

    client = Recorder()
    log_batches(client, "run", params=[Param(f"p{i}", "1") for i in range(250)])
    log_batches(client, "run", metrics=[Metric(f"m{i}", 1.0, 0, 1) for i in range(1001)])
    assert client.batches == [(100, 0), (100, 0), (50, 0), (0, 1000), (0, 1)]
