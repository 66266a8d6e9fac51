"""A tracking session outside ``tune.run`` (Ray 0.8's ``track.init()`` without Tune).

The same training function can run on its own: after ``tune.track.init()``, each
``tune.track.log(**metrics)`` appends a result to ``<experiment_dir>/<trial_name>/result.json``
(with ``params.json`` for the config), the layout a trial's folder has, so
``ExperimentAnalysis(experiment_dir)`` reads it back.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from . import result as R
from .storage import to_json

DEFAULT_EXPERIMENT_DIR = os.path.join("~", "dasktune_results", "default")


class StandaloneSession:
    """Results of one function run outside ``tune.run``, written to a local folder.

    Args:
        experiment_dir: Folder holding the run's folder (``~/dasktune_results/default``).
        trial_name: The run's folder name (``trial_<id>``).
        trial_config: The config, written to ``params.json`` and into every result.
    """

    def __init__(
        self,
        experiment_dir: str | None = None,
        trial_name: str | None = None,
        trial_config: dict[str, Any] | None = None,
    ) -> None:
        if trial_config is not None and not isinstance(trial_config, dict):
            raise TypeError(f"trial_config must be a dict, got {trial_config!r}")
        self.trial_id = uuid.uuid4().hex[:8]
        self.trial_name = trial_name or f"trial_{self.trial_id}"
        if os.sep in self.trial_name or (os.altsep and os.altsep in self.trial_name):
            raise ValueError(f"trial_name must be one folder name, got {self.trial_name!r}")
        self.experiment_dir = os.path.abspath(
            os.path.expanduser(experiment_dir or DEFAULT_EXPERIMENT_DIR)
        )
        self.logdir = os.path.join(self.experiment_dir, self.trial_name)
        self.config = dict(trial_config or {})
        os.makedirs(self.logdir, exist_ok=True)
        with open(os.path.join(self.logdir, R.PARAMS_FILE), "w") as f:
            f.write(to_json(self.config, sort_keys=True))
        self._results = open(os.path.join(self.logdir, R.RESULT_FILE), "a")  # noqa: SIM115
        self._iteration = 0
        self._start = self._last = time.time()

    def log(self, **metrics: Any) -> None:
        """Append one result, with the fields a trial's results carry."""
        if self._results.closed:
            raise RuntimeError("tune.track.log() after tune.track.shutdown(): call init() again")
        now = time.time()
        self._iteration += 1
        result = {
            **metrics,
            R.TRAINING_ITERATION: self._iteration,
            R.TRIAL_ID: self.trial_id,
            R.TIME_THIS_ITER_S: now - self._last,
            R.TIME_TOTAL_S: now - self._start,
            R.TIMESTAMP: int(now),
            R.PID: os.getpid(),
            R.DONE: bool(metrics.get(R.DONE, False)),
            R.CONFIG: self.config,
        }
        self._last = now
        self._results.write(to_json(result) + "\n")
        self._results.flush()  # readable at once, like a trial's results

    def close(self) -> None:
        """Close the result file."""
        self._results.close()


__all__ = ["DEFAULT_EXPERIMENT_DIR", "StandaloneSession"]
