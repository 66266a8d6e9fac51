"""``ExperimentAnalysis``: an experiment's folders plus its trials (what ``tune.run`` returns).

The trials are the run's own :class:`~dasktune.trial.Trial` objects when ``tune.run`` made the
analysis, else they are rebuilt from the experiment's ``experiment_state.json`` (status, id,
iterations; the config from ``params.json``, so reading an experiment never unpickles anything
from storage). Best-trial queries score each trial by its last value by default
(``scope="last"``), as Ray 1.x's ``ExperimentAnalysis`` does.
"""

from __future__ import annotations

import copy
import json
import posixpath
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dasktune.analysis import Analysis
from dasktune.error import TuneError
from dasktune.resources import Resources
from dasktune.result import DONE, ERROR_FILE, EXPERIMENT_STATE_FILE, TRIAL_ID
from dasktune.trial import Trial, TrialStatus
from dasktune.utils.dicts import flatten_dict

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ExperimentAnalysis"]

# Status of a trial folder the state file does not list (written by a run that died before
# its first state write): only its results say how far it got.
UNKNOWN_STATUS = "UNKNOWN"


class ExperimentAnalysis(Analysis):
    """Results of one experiment and its trials (Ray Tune's ``ExperimentAnalysis``).

    Args:
        experiment_checkpoint_path: The experiment folder as a local path or fsspec URL
            (``s3://bucket/exp``), or the path of its ``experiment_state.json`` file (Ray's
            name; ``experiment_path=`` is accepted too).
        trials: The run's trials (``tune.run`` passes them); read from the state file if not
            given.
        default_metric: Metric used when a method gets no ``metric=`` (``run(metric=...)``).
        default_mode: ``"max"`` or ``"min"``, used when a method gets no ``mode=``.
        storage_options: Passed to ``fsspec.core.url_to_fs`` (credentials, endpoint, ...).
        trial_logdirs: See :class:`~dasktune.analysis.Analysis`.

    Raises:
        TuneError: The path does not exist or holds no trial folders.
    """

    DEFAULT_SCOPE = "last"

    def __init__(
        self,
        experiment_checkpoint_path: str | None = None,
        trials: list[Trial] | None = None,
        default_metric: str | None = None,
        default_mode: str | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
        trial_logdirs: Iterable[str] | None = None,
        experiment_path: str | None = None,
    ) -> None:
        if (experiment_checkpoint_path is None) == (experiment_path is None):
            raise TypeError(
                "ExperimentAnalysis needs the experiment's folder (or its experiment_state.json) "
                "as experiment_checkpoint_path= (or experiment_path=), exactly once."
            )
        path = experiment_checkpoint_path if experiment_path is None else experiment_path
        if trials is not None and not isinstance(trials, (list, tuple)):
            raise TypeError(
                f"trials= must be a list of Trial objects (tune.run's), got {trials!r}; to set "
                f"storage options pass storage_options= by name."
            )
        super().__init__(
            path,
            storage_options=storage_options,
            default_metric=default_metric,
            default_mode=default_mode,
            trial_logdirs=trial_logdirs,
        )
        self._trial_list: list[Trial] | None = list(trials) if trials is not None else None
        self._trials_given = trials is not None
        self._state: dict[str, Any] | None = None
        self._state_read = False

    # ------------------------------------------------------------------------- trials

    @property
    def trials(self) -> list[Trial]:
        """The experiment's trials: the run's own, or rebuilt from ``experiment_state.json``
        (trial folders it does not list are added, status ``UNKNOWN`` unless their last result
        says ``done``)."""
        if self._trial_list is None:
            self._trial_list = self._trials_from_storage()
        return self._trial_list

    @trials.setter
    def trials(self, trials: list[Trial]) -> None:
        self._trial_list = list(trials)
        self._trials_given = True

    def _experiment_state(self) -> dict[str, Any] | None:
        if not self._state_read:
            raw = self._read(f"{self._root.rstrip('/')}/{EXPERIMENT_STATE_FILE}")
            try:
                state = json.loads(raw) if raw is not None else None
            except ValueError as exc:
                raise TuneError(
                    f"{self.experiment_path}/{EXPERIMENT_STATE_FILE} is not valid JSON ({exc})."
                ) from exc
            self._state = state if isinstance(state, dict) else None
            self._state_read = True
        return self._state

    def _trials_from_storage(self) -> list[Trial]:
        self._ensure_loaded()
        state = self._experiment_state() or {}
        records = [r for r in state.get("trials", []) if isinstance(r, dict) and "dirname" in r]
        trials: list[Trial] = []
        seen: set[str] = set()
        for record in records:
            logdir = self._logdir(record["dirname"])
            seen.add(logdir)
            trials.append(self._trial_from_record(record, logdir))
        for logdir in self._folders:
            if logdir not in seen:
                trials.append(self._trial_from_folder(logdir))
        return trials

    def _trial_from_record(self, record: dict[str, Any], logdir: str) -> Trial:
        results = self._results.get(logdir, [])
        trial = Trial(
            trial_id=str(record["trial_id"]),
            index=int(record.get("index", 0)),
            trainable_name=str(record.get("trainable_name", "")),
            config=copy.deepcopy(self._configs.get(logdir, {})),
            experiment_tag=str(record.get("experiment_tag", "")),
            dirname=record["dirname"],
            resources=Resources.from_request(record.get("resources") or {"cpu": 1}),
            status=str(record.get("status", UNKNOWN_STATUS)),
            num_results=int(record.get("num_results", len(results))),
            num_failures=int(record.get("num_failures", 0)),
            error_msg=record.get("error_msg"),
            logdir=logdir,
            checkpoint=record.get("checkpoint"),
            checkpoint_iteration=int(record.get("checkpoint_iteration", 0)),
        )
        # The full last result (with its config and nested metrics), as the run had it.
        trial.last_result = copy.deepcopy(results[-1]) if results else record.get("last_result", {})
        return trial

    def _trial_from_folder(self, logdir: str) -> Trial:
        results = self._results.get(logdir, [])
        last = results[-1] if results else {}
        files = self._folders[logdir][1]
        if last.get(DONE):
            status = TrialStatus.TERMINATED
        elif ERROR_FILE in files:
            status = TrialStatus.ERROR
        else:
            status = UNKNOWN_STATUS
        name = posixpath.basename(logdir)
        trial = Trial(
            trial_id=str(last.get(TRIAL_ID, name)),
            index=0,
            trainable_name="",
            config=copy.deepcopy(self._configs.get(logdir, {})),
            experiment_tag="",
            dirname=name,
            resources=Resources(),
            status=status,
            num_results=len(results),
            logdir=logdir,
        )
        trial.last_result = copy.deepcopy(last)
        return trial

    def fetch_trial_dataframes(self) -> dict[str, pd.DataFrame]:
        """Re-list and re-read the experiment (trials read from storage are read again too)."""
        frames = super().fetch_trial_dataframes()
        if not self._trials_given:
            self._trial_list = None
            self._state_read = False
        return frames

    def _trial_of(self, logdir: str) -> Trial:
        name = posixpath.basename(logdir)
        for trial in self.trials:
            if trial.dirname == name:
                return trial
        raise TuneError(
            f"The trial folder {logdir} belongs to none of this analysis' trials "
            f"({', '.join(t.dirname for t in self.trials)})."
        )

    def get_best_trial(
        self,
        metric: str | None = None,
        mode: str | None = None,
        scope: str = "last",
        filter_nan_and_inf: bool = True,
    ) -> Trial:
        """The best trial by ``metric``; arguments as
        :meth:`~dasktune.analysis.Analysis.get_best_logdir` (``scope`` defaults to ``"last"``).

        Raises:
            ValueError: No metric/mode, bad mode or scope, no trial reported ``metric``, or
                no trial has a score that can be ranked (Ray returns None there).
        """
        metric, mode = self._resolve(metric, mode, "get_best_trial()")
        return self._trial_of(self._best_logdir(metric, mode, scope, filter_nan_and_inf))

    # -------------------------------------------------- the defaults of tune.run(metric, mode)

    def _default_best(self, what: str) -> str:
        metric, mode = self._resolve(None, None, what)
        return self._best_logdir(metric, mode, self.DEFAULT_SCOPE, True)

    @property
    def best_trial(self) -> Trial:
        """:meth:`get_best_trial` with the default metric and mode (scope ``"last"``)."""
        return self._trial_of(self._default_best("best_trial"))

    @property
    def best_logdir(self) -> str:
        """:meth:`get_best_logdir` with the default metric and mode."""
        return self._default_best("best_logdir")

    @property
    def best_config(self) -> dict[str, Any]:
        """:meth:`get_best_config` with the default metric and mode."""
        logdir = self._default_best("best_config")  # loads the configs on first use
        return copy.deepcopy(self._configs[logdir])

    @property
    def best_result(self) -> dict[str, Any]:
        """The best trial's last result (Ray's definition), default metric and mode."""
        return copy.deepcopy(self._trial_of(self._default_best("best_result")).last_result)

    @property
    def best_checkpoint(self) -> str | None:
        """The best trial's best checkpoint by the default metric and mode (None if it has
        none)."""
        logdir = self._default_best("best_checkpoint")
        return self.get_best_checkpoint(logdir, self.default_metric, self.default_mode)

    @property
    def best_dataframe(self) -> pd.DataFrame:
        """All results of the best trial (default metric and mode), one row per result."""
        return self._ensure_loaded()[self._default_best("best_dataframe")]

    @property
    def best_result_df(self) -> pd.DataFrame:
        """:attr:`best_result` flattened into a one-row DataFrame indexed by ``trial_id``."""
        trial = self._trial_of(self._default_best("best_result_df"))
        return self._last_results_frame([trial])

    # ------------------------------------------------------------------ last results

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        """``{trial_id: last result}`` of every trial (``{}`` for a trial with none)."""
        return {t.trial_id: copy.deepcopy(t.last_result) for t in self.trials}

    @property
    def results_df(self) -> pd.DataFrame:
        """Every trial's last result, flattened (``a/b``), one row per trial, indexed by
        ``trial_id``."""
        return self._last_results_frame(self.trials)

    @staticmethod
    def _last_results_frame(trials: list[Trial]) -> pd.DataFrame:
        import pandas

        rows = [{**flatten_dict(t.last_result), TRIAL_ID: t.trial_id} for t in trials]
        return pandas.DataFrame.from_records(rows, index=TRIAL_ID)

    def stats(self) -> dict[str, Any]:
        """The experiment's statistics from its state file, as Ray's: ``start_time`` (when the
        run began; absent for experiments written before it was recorded) and ``timestamp``
        (the state's last write), in seconds since the epoch.

        Raises:
            TuneError: The experiment has no ``experiment_state.json``.
        """
        state = self._experiment_state()
        if state is None:
            raise TuneError(
                f"{self.experiment_path} has no {EXPERIMENT_STATE_FILE}, so there are no "
                f"statistics to read (it is written by tune.run)."
            )
        return {k: state[k] for k in ("start_time", "timestamp") if k in state}
