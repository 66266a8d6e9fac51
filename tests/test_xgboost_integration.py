"""dasktune.integration.xgboost (Ray 1.x's names): a real ``xgboost.train`` in a function
trainable on a cluster reports every boosting round's evaluation metrics, checkpoints the
booster every ``frequency`` rounds, and stops when the stop rule says; missing metrics named."""

from __future__ import annotations

import os

import numpy as np
import pytest

xgb = pytest.importorskip("xgboost")

import dasktune as tune  # noqa: E402
from dasktune.integration.xgboost import (  # noqa: E402
    TuneReportCallback,
    TuneReportCheckpointCallback,
)


def boost(config, checkpoint_dir=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    train, valid = xgb.DMatrix(x[:300], y[:300]), xgb.DMatrix(x[300:], y[300:])
    xgb.train(
        {"objective": "binary:logistic", "eval_metric": ["logloss", "error"], "eta": config["eta"]},
        train,
        num_boost_round=config["rounds"],
        evals=[(valid, "validation")],
        verbose_eval=False,
        callbacks=[TuneReportCheckpointCallback({"loss": "validation-logloss"}, frequency=3)],
    )


def test_each_round_is_reported_and_every_third_checkpointed(client, tmp_path):
    analysis = tune.run(
        boost,
        config={"eta": tune.grid_search([0.01, 0.5]), "rounds": 9},
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    losses = {}
    for trial in analysis.trials:
        rows = analysis.trial_dataframes[trial.logdir]
        assert list(rows["training_iteration"]) == list(range(1, 10))
        assert set(rows.columns) >= {"loss"} and "validation-error" not in rows.columns
        checkpoints = sorted(p for p in os.listdir(trial.logdir) if p.startswith("checkpoint_"))
        assert len(checkpoints) == 3, checkpoints
        booster = xgb.Booster(model_file=os.path.join(trial.logdir, checkpoints[-1], "checkpoint"))
        assert booster.num_boosted_rounds() == 9
        losses[trial.config["eta"]] = list(rows["loss"])
    assert losses[0.5][-1] < losses[0.01][-1] and losses[0.5][-1] < losses[0.5][0]


def test_a_stop_rule_ends_training_at_the_round(client, tmp_path):
    analysis = tune.run(
        boost,
        config={"eta": 0.3, "rounds": 200},
        stop={"training_iteration": 4},
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    (trial,) = analysis.trials
    assert trial.status == "TERMINATED" and trial.last_result["training_iteration"] == 4


def test_metrics_all_renamed_postprocessed_or_missing():
    log = {"validation": {"logloss": [0.7, 0.6], "error": [0.3, 0.2]}, "train": {"error": [0.1]}}
    assert TuneReportCallback()._report_dict(log) == {
        "validation-logloss": 0.6,
        "validation-error": 0.2,
        "train-error": 0.1,
    }
    both = TuneReportCallback(
        {"loss": "validation-logloss"},
        results_postprocessing_fn=lambda r: {**r, "twice": 2 * r["loss"]},
    )
    assert both._report_dict(log) == {"loss": 0.6, "twice": 1.2}
    with pytest.raises(KeyError, match="'validation-auc' not among XGBoost's evaluation metrics"):
        TuneReportCallback("validation-auc")._report_dict(log)
    with pytest.raises(ValueError, match="frequency must be an int >= 1"):
        TuneReportCheckpointCallback(frequency=0)
