"""Ray 1.x's ``MLflowLoggerCallback``: each trial an MLflow run (``callbacks=[...]``).

Helpers shared with Ray 0.8's :class:`~dasktune.logger.MLFLowLogger` are in
:mod:`dasktune.logger.mlflow_logger`.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import warnings
from typing import Any

import fsspec

from ..logger.base import LoggerCallback
from ..logger.mlflow_logger import log_batches, metrics_of, mlflow_client, params_of
from ..result import RESULT_FILE, TRAINING_ITERATION
from ..trial import Trial

# How long an artifact upload waits for the trial's files to hold its last result (they are
# closed by the run's result log in the background), and how long the run's end waits for the
# uploads in flight.
FILES_WAIT_S = 30.0
UPLOADS_WAIT_S = 120.0


class MLflowLoggerCallback(LoggerCallback):
    """Logs each trial to MLflow as a run of its own (Ray 1.x's ``MLflowLoggerCallback``).

    Args:
        tracking_uri: Where runs are logged (``file:///path``, ``sqlite:///db``, ``http://``);
            MLflow's default (``MLFLOW_TRACKING_URI``, else its own) if None.
        registry_uri: The model registry's URI, if not MLflow's default.
        experiment_name: The MLflow experiment the runs go into, created if missing;
            without it ``MLFLOW_EXPERIMENT_NAME``/``MLFLOW_EXPERIMENT_ID``, else MLflow's
            default experiment.
        tags: Tags set on every run (``trial_name`` is added).
        save_artifact: If true, the trial's folder (results, params, checkpoints, event files)
            is logged as the run's artifacts when the trial ends.
        storage_options: fsspec options to read the trial folders with ``save_artifact`` when
            they are in remote storage (``tune.run``'s ``storage_options``; dasktune only).

    Each run is named after the trial and gets the config as params (flattened, ``a/b``), and
    every numeric value of every result as a metric at step ``training_iteration`` (or
    ``timesteps_total`` when reported, as in Ray). The run ends FINISHED, or FAILED for a trial
    that errored for good.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        experiment_name: str | None = None,
        tags: dict[str, Any] | None = None,
        save_artifact: bool = False,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        if tags is not None and not isinstance(tags, dict):
            raise TypeError(f"tags must be a dict, got {tags!r}")
        if not isinstance(save_artifact, bool):
            raise TypeError(f"save_artifact must be True or False, got {save_artifact!r}")
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri
        self.experiment_name = experiment_name
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.should_save_artifact = save_artifact
        self.client = mlflow_client(tracking_uri, registry_uri)  # fails early without mlflow
        self.experiment_id: str | None = None
        self._runs: dict[str, str] = {}  # trial_id -> MLflow run id
        self._last_iteration: dict[str, int] = {}
        self._uploads: dict[str, threading.Thread] = {}
        self._upload_errors: list[str] = []
        self._storage_options = dict(storage_options or {})

    def setup(self, **info: Any) -> None:
        """Find (or create) the experiment the runs go into."""
        name = self.experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if name:
            found = self.client.get_experiment_by_name(name)
            self.experiment_id = (
                found.experiment_id if found is not None else self.client.create_experiment(name)
            )
        else:
            self.experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID", "0")

    def _run_id(self, trial: Trial) -> str:
        run_id = self._runs.get(trial.trial_id)
        if run_id is None:
            if self.experiment_id is None:
                self.setup()
            tags = {**self.tags, "trial_name": str(trial)}
            run = self.client.create_run(self.experiment_id, tags=tags, run_name=str(trial))
            run_id = self._runs[trial.trial_id] = run.info.run_id
            log_batches(self.client, run_id, params=params_of(trial.config))
        return run_id

    def log_trial_start(self, trial: Trial) -> None:
        """Open the trial's run and log its config."""
        self._run_id(trial)

    def log_trial_restore(self, trial: Trial) -> None:
        """A restored trial goes on in its run (a new one after a driver restart)."""
        self._run_id(trial)

    def log_trial_result(self, iteration: int, trial: Trial, result: dict[str, Any]) -> None:
        """Log the result's numbers as metrics."""
        run_id = self._run_id(trial)
        metrics = metrics_of(result)
        if metrics:
            log_batches(self.client, run_id, metrics=metrics)
        if TRAINING_ITERATION in result:
            self._last_iteration[trial.trial_id] = int(result[TRAINING_ITERATION])

    def log_trial_end(self, trial: Trial, failed: bool = False) -> None:
        """End the run (after uploading the trial's folder, with ``save_artifact``)."""
        run_id = self._runs.pop(trial.trial_id, None)
        if run_id is None:
            return
        status = "FAILED" if failed else "FINISHED"
        if not self.should_save_artifact:
            self.client.set_terminated(run_id, status)
            return
        # The trial's files are closed in the background: upload them from a thread once they
        # hold its last result, so the driver's loop does not wait.
        last = self._last_iteration.get(trial.trial_id, 0)
        thread = threading.Thread(
            target=self._upload,
            args=(run_id, status, str(trial), trial.logdir, last),
            name=f"dasktune-mlflow-{trial.trial_id}",
            daemon=True,
        )
        self._uploads[trial.trial_id] = thread
        thread.start()

    def _upload(self, run_id: str, status: str, name: str, logdir: str, last: int) -> None:
        try:
            fs, path = fsspec.core.url_to_fs(logdir, **self._storage_options)
            _wait_for_result(fs, f"{path}/{RESULT_FILE}", last)
            with tempfile.TemporaryDirectory(prefix="dasktune_mlflow_") as scratch:
                if _is_local(fs):
                    local = path
                else:
                    local = os.path.join(scratch, "trial")
                    fs.get(path, local, recursive=True)
                self.client.log_artifacts(run_id, local)
            self.client.set_terminated(run_id, status)
        except Exception as exc:  # noqa: BLE001 - reported at the run's end, with the trial
            self._upload_errors.append(f"{name}: {type(exc).__name__}: {exc}")
            self.client.set_terminated(run_id, "FAILED")

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        """Wait for the artifact uploads; end the runs of trials that never ended."""
        deadline = time.monotonic() + UPLOADS_WAIT_S
        for thread in self._uploads.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        late = [trial_id for trial_id, t in self._uploads.items() if t.is_alive()]
        self._uploads = {}
        for run_id in self._runs.values():  # trials the run ended before they finished
            self.client.set_terminated(run_id, "KILLED")
        self._runs = {}
        problems = self._upload_errors + [f"trial {t}: still uploading" for t in late]
        self._upload_errors = []
        if problems:
            warnings.warn(
                f"MLflowLoggerCallback could not log every trial's artifacts: "
                f"{'; '.join(problems)}",
                stacklevel=2,
            )


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _wait_for_result(fs: Any, path: str, iteration: int) -> None:
    """Until ``result.json`` ends with the result of ``iteration`` (or :data:`FILES_WAIT_S`)."""
    deadline = time.monotonic() + FILES_WAIT_S
    while time.monotonic() < deadline:
        try:
            fs.invalidate_cache()
            lines = fs.cat_file(path).splitlines()
            if not iteration or (
                lines and json.loads(lines[-1]).get(TRAINING_ITERATION, 0) >= iteration
            ):
                return
        except (FileNotFoundError, ValueError):
            pass  # not there yet, or its last line half-written
        time.sleep(0.1)


__all__ = ["MLflowLoggerCallback"]
