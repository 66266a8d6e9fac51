"""dasktune.integration.keras: the callbacks alone, then real ``model.fit`` runs on a cluster.

Keras 3 runs on the CPU torch backend. KERAS_BACKEND is set before keras is first imported,
here and (by inheritance of this process's environment) in the cluster's worker processes,
which are started by this module's fixture; the trainables set it again before their import
of keras in case a worker was started some other way.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip(
    "keras", reason="needs Keras with a backend: pip install keras torch (KERAS_BACKEND=torch)"
)

from conftest import make_cluster  # noqa: E402

import dasktune as tune  # noqa: E402
from dasktune import session  # noqa: E402
from dasktune.integration import keras as tune_keras  # noqa: E402
from dasktune.integration.keras import (  # noqa: E402
    KerasCallback,
    TuneReportCallback,
    TuneReporterCallback,
)
from dasktune.result import RESULT_FILE  # noqa: E402

pytestmark = pytest.mark.slow


class FakeReporter:
    """Records what a callback reports."""

    def __init__(self):
        self.calls = []

    def __call__(self, **metrics):
        self.calls.append(metrics)


# ---------------------------------------------------------------- the callbacks alone


def test_keras_callback_epoch_reports_floats_neg_losses_and_keras_info():
    import torch

    reporter = FakeReporter()
    callback = KerasCallback(reporter, freq="epoch")
    assert isinstance(callback, keras.callbacks.Callback)
    logs = {
        "loss": np.float32(0.5),
        "accuracy": np.float64(0.75),
        "val_loss": torch.tensor(0.25),
        "steps": np.int64(4),
    }
    callback.on_batch_end(0, logs)
    callback.on_train_batch_end(0, logs)
    assert reporter.calls == []

    callback.on_epoch_end(0, logs)
    [result] = reporter.calls
    expected = {
        "loss": 0.5,
        "accuracy": 0.75,
        "val_loss": 0.25,
        "steps": 4.0,
        "neg_loss": -0.5,
        "neg_val_loss": -0.25,
    }
    assert result == {**expected, "keras_info": expected, "mean_accuracy": 0.75}
    assert all(type(v) is float for v in result["keras_info"].values())
    assert set(logs) == {"loss", "accuracy", "val_loss", "steps"}  # Keras's dict untouched
    assert callback.iteration == 1


def test_keras_callback_batch_freq_and_old_acc_name():
    reporter = FakeReporter()
    callback = TuneReporterCallback(reporter)  # Ray 0.8's default freq is "batch"
    callback.on_epoch_end(0, {"loss": 1.0})
    assert reporter.calls == []
    # Keras calls on_train_batch_end, whose default calls on_batch_end.
    callback.on_train_batch_end(0, {"loss": 2.0, "acc": 0.5})
    callback.on_batch_end(1, {"loss": 1.0})
    assert [c["loss"] for c in reporter.calls] == [2.0, 1.0]
    assert reporter.calls[0]["mean_accuracy"] == 0.5
    assert "mean_accuracy" not in reporter.calls[1]
    assert callback.iteration == 2


def test_keras_callback_rejects_unknown_freq():
    with pytest.raises(ValueError, match="frequency"):
        KerasCallback(FakeReporter(), freq="step")


def test_no_reporter_reports_through_the_session():
    reporter = FakeReporter()
    session.bind(reporter)
    try:
        KerasCallback(freq="epoch").on_epoch_end(0, {"loss": 3.0})
        TuneReportCallback("loss").on_epoch_end(0, {"loss": 4.0, "other": 1.0})
    finally:
        session.unbind(reporter)
    assert reporter.calls[0]["loss"] == 3.0
    assert reporter.calls[1] == {"loss": 4.0}


@pytest.mark.parametrize(
    "metrics, expected",
    [
        (None, {"loss": 0.5, "val_loss": 0.25, "accuracy": 1.0}),
        ("loss", {"loss": 0.5}),
        (["loss", "accuracy"], {"loss": 0.5, "accuracy": 1.0}),
        ({"mean_loss": "loss", "acc": "accuracy"}, {"mean_loss": 0.5, "acc": 1.0}),
    ],
    ids=["all", "str", "list", "dict"],
)
def test_tune_report_callback_metrics(metrics, expected):
    reporter = FakeReporter()
    callback = TuneReportCallback(metrics, reporter=reporter)
    callback.on_batch_end(0, {"loss": 9.0})  # default on="epoch_end"
    callback.on_epoch_end(0, {"loss": np.float32(0.5), "val_loss": 0.25, "accuracy": 1})
    assert reporter.calls == [expected]


def test_tune_report_callback_hooks():
    reporter = FakeReporter()
    callback = TuneReportCallback(
        on=["batch_end", "train_batch_end", "train_end", "test_end"], reporter=reporter
    )
    callback.on_train_batch_end(0, {"b": 1})  # both names listed: still one report a batch
    callback.on_epoch_end(0, {"e": 1})
    callback.on_test_end({"t": 1})
    callback.on_train_end({"end": 1})
    callback.on_predict_end({"p": 1})
    assert reporter.calls == [{"b": 1.0}, {"t": 1.0}, {"end": 1.0}]

    with pytest.raises(ValueError, match="Invalid trigger time"):
        TuneReportCallback(on="validation_end")
    with pytest.raises(ValueError, match="Invalid trigger time"):
        TuneReportCallback(on=[])


def test_tune_report_callback_missing_metric_names_the_logged_keys():
    callback = TuneReportCallback({"acc": "val_accuracy"}, reporter=FakeReporter())
    with pytest.raises(KeyError, match=r"val_accuracy.*\['loss'\]"):
        callback.on_epoch_end(0, {"loss": 1.0})


def test_non_scalar_values_become_lists():
    reporter = FakeReporter()
    TuneReportCallback(reporter=reporter).on_epoch_end(0, {"v": np.array([1.0, 2.0]), "s": "x"})
    assert reporter.calls == [{"v": [1.0, 2.0], "s": "x"}]


def test_without_keras_the_callbacks_say_what_to_install(monkeypatch):
    monkeypatch.setattr(tune_keras, "_KERAS_IMPORT_ERROR", ModuleNotFoundError("no keras"))
    with pytest.raises(ImportError, match="pip install keras"):
        KerasCallback(FakeReporter())
    with pytest.raises(ImportError, match="no keras"):
        TuneReportCallback()


# ---------------------------------------------------------------- real fits on a cluster

EPOCHS = 3
SAMPLES, BATCH = 64, 16  # 4 batches an epoch


def _fit(config, callback):
    """Fit a tiny regression model on random data, with ``callback`` and an epoch counter."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
    begun = os.path.join(tune.track.trial_dir(), "epochs_begun.txt")

    class CountEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            with open(begun, "a") as f:
                f.write(f"{epoch}\n")

    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=config.get("epochs", EPOCHS),
        validation_data=(x[:16], y[:16]) if config.get("validate") else None,
        verbose=0,
        callbacks=[CountEpochs(), callback],
    )


def fit_each_epoch(config, reporter):
    """Ray 0.8 style: ``def f(config, reporter)`` with ``KerasCallback(reporter, "epoch")``."""
    from dasktune.integration.keras import KerasCallback

    _fit(config, KerasCallback(reporter, freq="epoch"))


def fit_each_batch(config):
    """``def f(config)`` with the default reporter (tune.track.log), reporting every batch."""
    from dasktune.integration.keras import KerasCallback

    _fit(config, KerasCallback(freq="batch"))


def fit_renamed(config):
    """Ray 1.x style: TuneReportCallback with a mapping of names."""
    from dasktune.integration.keras import TuneReportCallback

    _fit(config, TuneReportCallback({"train_loss": "loss", "validation_mae": "val_mae"}))


@pytest.fixture(scope="module")
def keras_client():
    """One worker process, one thread: the machine has two shared cores."""
    cluster, client = make_cluster(n_workers=1)
    yield client
    client.close()
    cluster.close()


def _run(fn, client, tmp_path, **kwargs):
    analysis = tune.run(fn, client=client, local_dir=str(tmp_path), verbose=0, **kwargs)
    [trial] = analysis.trials
    with open(os.path.join(trial.logdir, RESULT_FILE)) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    with open(os.path.join(trial.logdir, "epochs_begun.txt")) as f:
        epochs_begun = len(f.read().split())
    return rows, epochs_begun


def test_fit_reports_each_epoch(keras_client, tmp_path):
    rows, epochs_begun = _run(fit_each_epoch, keras_client, tmp_path)
    assert [r["training_iteration"] for r in rows] == [1, 2, 3]
    assert epochs_begun == EPOCHS
    for row in rows:
        assert isinstance(row["loss"], float) and row["loss"] >= 0
        assert isinstance(row["mae"], float)
        assert row["neg_loss"] == -row["loss"]
        assert row["keras_info"]["loss"] == row["loss"]
        assert "mean_accuracy" not in row


def test_stop_ends_fit_at_the_report(keras_client, tmp_path):
    rows, epochs_begun = _run(
        fit_each_epoch, keras_client, tmp_path, stop={"training_iteration": 2}
    )
    assert [r["training_iteration"] for r in rows] == [1, 2]
    assert epochs_begun == 2  # the third epoch never started


def test_fit_reports_each_batch_through_the_session(keras_client, tmp_path):
    rows, epochs_begun = _run(fit_each_batch, keras_client, tmp_path, config={"epochs": 2})
    per_epoch = SAMPLES // BATCH
    assert [r["training_iteration"] for r in rows] == list(range(1, 2 * per_epoch + 1))
    assert epochs_begun == 2
    assert all(isinstance(r["loss"], float) for r in rows)


def test_tune_report_callback_renames_metrics(keras_client, tmp_path):
    rows, _ = _run(fit_renamed, keras_client, tmp_path, config={"validate": True})
    assert [r["training_iteration"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert isinstance(row["train_loss"], float)
        assert isinstance(row["validation_mae"], float)
        assert "loss" not in row and "val_mae" not in row
