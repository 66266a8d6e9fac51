"""MLflow: one MLflow run per trial, its config as params and its numeric results as metrics
at step ``training_iteration``. Ray 0.8's :class:`MLFLowLogger` (``loggers=``) here; Ray 1.x's
``MLflowLoggerCallback`` (``callbacks=``) in :mod:`dasktune.integration.mlflow`.

Needs ``mlflow`` (``pip install 'dasktune[mlflow]'``: the ``mlflow-skinny`` client is enough).
Both run on the driver, like every logger: with a remote tracking server each call is a
request made from the driver's loop, so results are sent one batch (``log_batch``) per result.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from typing import Any

from ..result import TIMESTEPS_TOTAL, TRAINING_ITERATION
from ..utils.dicts import flatten_dict
from .base import Logger

# MLflow refuses longer param values (6000 characters since MLflow 2).
MAX_PARAM_LENGTH = 6000


def mlflow_client(tracking_uri: str | None = None, registry_uri: str | None = None) -> Any:
    """An ``MlflowClient``, or an ImportError naming the extra to install."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ImportError(
            "MLflow logging needs the mlflow package: pip install 'dasktune[mlflow]' (or "
            "mlflow-skinny)."
        ) from exc
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


def params_of(config: dict[str, Any]) -> list[Any]:
    """A trial's config as MLflow params: flattened keys (``a/b``), values as text."""
    from mlflow.entities import Param

    return [
        Param(key, str(value)[:MAX_PARAM_LENGTH]) for key, value in flatten_dict(config).items()
    ]


# MLflow's tracking server refuses bigger batches (MAX_PARAMS_TAGS_PER_BATCH,
# MAX_METRICS_PER_BATCH); a file store takes them, so only a server run would show it.
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000


def log_batches(
    client: Any, run_id: str, params: Sequence[Any] = (), metrics: Sequence[Any] = ()
) -> None:
    """``client.log_batch`` in chunks MLflow's tracking server accepts."""
    params, metrics = list(params), list(metrics)
    for i in range(0, len(params), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=params[i : i + PARAMS_PER_BATCH])
    for i in range(0, len(metrics), METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[i : i + METRICS_PER_BATCH])


def metrics_of(result: dict[str, Any]) -> list[Any]:
    """The numbers of a result as MLflow metrics (flattened keys, the config left out), at
    Ray's step: ``timesteps_total`` when the result has it, else ``training_iteration``."""
    from mlflow.entities import Metric

    step = result.get(TIMESTEPS_TOTAL) or result.get(TRAINING_ITERATION) or 0
    stamp = int(time.time() * 1000)
    metrics = []
    for key, value in flatten_dict({k: v for k, v in result.items() if k != "config"}).items():
        # MLflow takes NaN and infinities as they are.
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            metrics.append(Metric(key, float(value), stamp, int(step)))
    return metrics


class MLFLowLogger(Logger):
    """Ray 0.8's MLflow logger (its spelling; :data:`MLFlowLogger` is the same class): pass it
    in ``loggers=``.

    Each trial start opens an MLflow run in the experiment whose id is the trial config's
    ``mlflow_experiment_id`` (MLflow's default experiment without it), on the tracking server
    of ``MLFLOW_TRACKING_URI`` (MLflow's default without it), as Ray 0.8's does. The config
    is logged as params, every numeric result value as a metric at ``training_iteration``
    (Ray 0.8 logged only float values), and the run is ended when the trial ends or pauses (a
    paused trial continues in a new run).
    """

    def _init(self) -> None:
        self.client = mlflow_client()
        experiment_id = self.config.get("mlflow_experiment_id")
        tags = {"trial_name": str(self.trial)} if self.trial is not None else None
        run = self.client.create_run(
            str(experiment_id) if experiment_id is not None else "0",
            tags=tags,
            run_name=str(self.trial) if self.trial is not None else None,
        )
        self._run_id = run.info.run_id
        log_batches(self.client, self._run_id, params=params_of(self.config))

    def on_result(self, result: dict[str, Any]) -> None:
        """Log the result's numbers as metrics."""
        metrics = metrics_of(result)
        if metrics:
            log_batches(self.client, self._run_id, metrics=metrics)

    def close(self) -> None:
        """End the MLflow run."""
        self.client.set_terminated(self._run_id)


MLFlowLogger = MLFLowLogger
