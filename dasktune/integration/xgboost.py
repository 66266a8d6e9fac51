"""XGBoost callbacks that report to dasktune from ``xgboost.train`` inside a function trainable,
with Ray Tune 1.x's names (``ray.tune.integration.xgboost``):

- ``TuneReportCallback(metrics=None, results_postprocessing_fn=None)`` reports after every
  boosting round the last value of each evaluation metric, named ``"<eval name>-<metric>"``
  (``"validation-logloss"``), as XGBoost's ``evals_log`` holds them;
- ``TuneCheckpointCallback(filename="checkpoint", frequency=5)`` saves the booster into a
  ``tune.checkpoint_dir`` every ``frequency`` rounds (at a round's report, so each checkpoint
  belongs to a reported round; make ``num_boost_round`` a multiple of it to keep the last);
- ``TuneReportCheckpointCallback(metrics=None, filename="checkpoint", frequency=5,
  results_postprocessing_fn=None)`` does both, the checkpoint first so the report carries it.

Reports come from the thread that runs ``xgboost.train``, so a ``stop`` rule or a scheduler ends
training at the round where it decided. Needs the ``xgboost`` extra (``pip install
'dasktune[xgboost]'``; the ``xgboost-cpu`` package works too).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from .. import track
from .metric_selection import MetricsArg, metric_names, pick_metrics

try:
    from xgboost.callback import TrainingCallback as _TrainingCallback
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dasktune.integration.xgboost needs XGBoost, an optional extra: pip install "
        "'dasktune[xgboost]' (or pip install xgboost, or xgboost-cpu)"
    ) from exc

PostProcess = Callable[[dict[str, Any]], dict[str, Any]]


def _last_values(evals_log: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """``{"<eval>-<metric>": last value}`` of XGBoost's evaluation log."""
    values = {}
    for data_name, metrics in evals_log.items():
        for metric_name, history in metrics.items():
            last = history[-1]
            # With a cross-validation (xgboost.cv) each entry is (mean, std): report the mean.
            values[f"{data_name}-{metric_name}"] = float(
                last[0] if isinstance(last, tuple) else last
            )
    return values


class TuneReportCallback(_TrainingCallback):  # type: ignore[misc,valid-type]
    """Report XGBoost's evaluation metrics after each boosting round.

    Args:
        metrics: None (every ``"<eval>-<metric>"``), a name or list of them, or a dict
            ``{name to report: "<eval>-<metric>"}``.
        results_postprocessing_fn: called with the dict before it is reported; returns the
            dict to report (e.g. to add a metric made from others).
    """

    def __init__(
        self, metrics: MetricsArg = None, results_postprocessing_fn: PostProcess | None = None
    ) -> None:
        super().__init__()
        self._metrics = metric_names(metrics)
        self._postprocess = results_postprocessing_fn

    def _report_dict(self, evals_log: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        logged = _last_values(evals_log)
        report = pick_metrics(
            self._metrics,
            logged,
            lambda missing: (
                f"TuneReportCallback: {', '.join(map(repr, missing))} not among "
                f"XGBoost's evaluation metrics "
                f"({', '.join(map(repr, logged)) or 'none: pass evals='}); names are "
                "'<eval name>-<metric>', e.g. 'validation-logloss' for "
                "evals=[(dvalid, 'validation')] and eval_metric='logloss'."
            ),
        )
        if self._postprocess is not None:
            report = self._postprocess(report)
        return report

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        """Report; never asks XGBoost to stop (dasktune's stop rules end training)."""
        track.log(**self._report_dict(evals_log))
        return False


class TuneCheckpointCallback(_TrainingCallback):  # type: ignore[misc,valid-type]
    """Save the booster as ``filename`` in a ``tune.checkpoint_dir`` every ``frequency``
    rounds."""

    def __init__(self, filename: str = "checkpoint", frequency: int = 5) -> None:
        super().__init__()
        if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1:
            raise ValueError(
                f"frequency must be an int >= 1 (rounds between checkpoints), got {frequency!r}"
            )
        self._filename = filename
        self._frequency = frequency

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        """Checkpoint every ``frequency`` rounds."""
        if (epoch + 1) % self._frequency == 0:
            with track.checkpoint_dir(step=epoch) as directory:
                model.save_model(os.path.join(directory, self._filename))
        return False


class TuneReportCheckpointCallback(_TrainingCallback):  # type: ignore[misc,valid-type]
    """Checkpoint (every ``frequency`` rounds), then report, after each round."""

    def __init__(
        self,
        metrics: MetricsArg = None,
        filename: str = "checkpoint",
        frequency: int = 5,
        results_postprocessing_fn: PostProcess | None = None,
    ) -> None:
        super().__init__()
        self._checkpoint = TuneCheckpointCallback(filename, frequency)
        self._report = TuneReportCallback(metrics, results_postprocessing_fn)

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        """Read the metrics, checkpoint when due, then report."""
        report = self._report._report_dict(evals_log)
        self._checkpoint.after_iteration(model, epoch, evals_log)
        track.log(**report)
        return False


__all__ = ["TuneCheckpointCallback", "TuneReportCallback", "TuneReportCheckpointCallback"]
