"""dasktune.integration.pytorch_lightning (Ray 1.x's names): a real Lightning ``Trainer.fit``
in a function trainable on a cluster reports at every validation end (never the sanity check),
checkpoints through ``tune.checkpoint_dir``, and stops when the stop rule says; bad ``on=`` and
missing metrics are named."""

from __future__ import annotations

import os

import pytest

pl = pytest.importorskip("pytorch_lightning")
torch = pytest.importorskip("torch")

import dasktune as tune  # noqa: E402
from dasktune.integration.pytorch_lightning import (  # noqa: E402
    TuneReportCallback,
    TuneReportCheckpointCallback,
)


class Line(pl.LightningModule):
    """Fits y = 3x with one weight."""

    def __init__(self, lr):
        super().__init__()
        self.lr = lr
        self.layer = torch.nn.Linear(1, 1, bias=False)

    def _loss(self, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def training_step(self, batch, batch_idx):
        return self._loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loaders():
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    data = torch.utils.data.TensorDataset(x, 3 * x)
    return torch.utils.data.DataLoader(data, batch_size=16), torch.utils.data.DataLoader(data)


def fit(config, checkpoint_dir=None):
    torch.manual_seed(0)
    train, val = loaders()
    trainer = pl.Trainer(
        max_epochs=config["epochs"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
        callbacks=[TuneReportCheckpointCallback({"loss": "val_loss"}, on="validation_end")],
    )
    ckpt = os.path.join(checkpoint_dir, "checkpoint") if checkpoint_dir else None
    trainer.fit(Line(config["lr"]), train, val, ckpt_path=ckpt)


@pytest.mark.slow
def test_lightning_fit_reports_and_checkpoints_at_each_validation(client, tmp_path):
    analysis = tune.run(
        fit,
        config={"lr": tune.grid_search([0.001, 0.2]), "epochs": 4},
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    by_lr = {t.config["lr"]: t for t in analysis.trials}
    for trial in analysis.trials:
        rows = analysis.trial_dataframes[trial.logdir]
        # One report per epoch's validation; the sanity check's is not one of them.
        assert list(rows["training_iteration"]) == [1, 2, 3, 4]
        checkpoints = [p for p in os.listdir(trial.logdir) if p.startswith("checkpoint_")]
        assert len(checkpoints) == 4
        newest = os.path.join(trial.logdir, sorted(checkpoints)[-1], "checkpoint")
        assert os.path.getsize(newest) > 0
        assert torch.load(newest, weights_only=False)["epoch"] >= 3
    # The good rate learned; its loss fell.
    good = analysis.trial_dataframes[by_lr[0.2].logdir]["loss"]
    assert good.iloc[-1] < good.iloc[0] / 2
    assert good.iloc[-1] < analysis.trial_dataframes[by_lr[0.001].logdir]["loss"].iloc[-1]


@pytest.mark.slow
def test_a_stop_rule_ends_fit_at_the_report(client, tmp_path):
    analysis = tune.run(
        fit,
        config={"lr": 0.1, "epochs": 50},
        stop={"training_iteration": 2},
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    (trial,) = analysis.trials
    assert trial.status == "TERMINATED" and trial.last_result["training_iteration"] == 2


def test_bad_hooks_and_missing_metrics_are_named():
    with pytest.raises(ValueError, match="'validation_ends' is not a hook.*validation_end"):
        TuneReportCallback(on="validation_ends")

    class Trainer:
        callback_metrics = {"val_loss": torch.tensor(0.5)}
        sanity_checking = False

    assert TuneReportCallback("val_loss")._report_dict(Trainer()) == {"val_loss": 0.5}
    assert TuneReportCallback({"loss": "val_loss"})._report_dict(Trainer()) == {"loss": 0.5}
    with pytest.raises(KeyError, match="'val_acc' not in the trainer's callback_metrics"):
        TuneReportCallback(["val_acc"])._report_dict(Trainer())
