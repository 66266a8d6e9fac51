"""Read an experiment back from storage: Ray Tune's ``ExperimentAnalysis``, over fsspec.

The driver writes one folder per trial under the experiment path (``params.json``,
``result.json`` as JSON lines, ``progress.csv``, checkpoints). This module only reads that
layout, so it works the same for a local folder, ``s3://bucket/exp`` or any other fsspec URL,
and on an experiment that is still running.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import posixpath
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import fsspec
from fsspec.implementations.local import LocalFileSystem

from dasktune.error import TuneError
from dasktune.utils.dicts import flatten_dict

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ExperimentAnalysis", "flatten_dict"]

PARAMS_FILE = "params.json"
RESULT_FILE = "result.json"
CONFIG_PREFIX = "config/"
SCOPES = ("all", "last", "avg", "last-5-avg", "last-10-avg")
MODES = ("max", "min")

# Enough concurrent requests to hide object-store latency without hammering the endpoint.
_IO_THREADS = 16

_T = TypeVar("_T")
_R = TypeVar("_R")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(map(repr, SCOPES))}, got {scope!r}")


def _parse_result_lines(data: bytes, where: str) -> list[dict[str, Any]]:
    """Parse a ``result.json`` body: one JSON object per line."""
    lines = [line for line in data.split(b"\n") if line.strip()]
    results: list[dict[str, Any]] = []
    for pos, line in enumerate(lines):
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
        except ValueError as exc:
            # The trial may be appending right now: a half-written last line is expected and
            # its result will be complete on the next read. Anything earlier is real corruption.
            if pos == len(lines) - 1:
                break
            raise TuneError(f"Corrupt result line {pos + 1} in {where}: {exc}") from exc
        results.append(obj)
    return results


def _pandas() -> Any:
    # pandas takes ~0.15 s to import: only runs that read results as dataframes pay for it,
    # not every tune.run() that returns an ExperimentAnalysis.
    import pandas

    return pandas


def _score(values: pd.Series, mode: str, scope: str) -> float:
    """One trial's score for a metric under ``scope``; ``values`` holds no NaN."""
    if scope == "all":
        return float(values.max() if mode == "max" else values.min())
    if scope == "last":
        return float(values.iloc[-1])
    if scope == "avg":
        return float(values.mean())
    last_n = int(scope.split("-")[1])
    return float(values.iloc[-last_n:].mean())


class ExperimentAnalysis:
    """Results of one experiment, read from its folder (Ray Tune's ``ExperimentAnalysis``).

    Args:
        experiment_path: The experiment folder as a local path or fsspec URL
            (``s3://bucket/exp``), or the path of its ``experiment_state.json`` file.
        storage_options: Passed to ``fsspec.core.url_to_fs`` (credentials, endpoint, ...).
        default_metric: Metric used when a method gets no ``metric=`` (``run(metric=...)``).
        default_mode: ``"max"`` or ``"min"``, used when a method gets no ``mode=``.
        trial_logdirs: The experiment's trial folders (full paths or URLs directly below the
            experiment folder), taken as they are instead of listing storage; ``run()`` passes
            them when storage did not answer at the end of the run.

    Raises:
        TuneError: The path does not exist or holds no trial folders.

    Trial folders are listed once, here; results are read on first use and cached. Call
    :meth:`fetch_trial_dataframes` to re-list and re-read an experiment that is still running.
    Trials are keyed by their ``logdir``: the trial folder's full path, or its full URL (with
    protocol, e.g. ``s3://...``) for remote storage, so it can be handed back to fsspec.
    """

    def __init__(
        self,
        experiment_path: str,
        storage_options: dict[str, Any] | None = None,
        default_metric: str | None = None,
        default_mode: str | None = None,
        trial_logdirs: Iterable[str] | None = None,
    ) -> None:
        if default_mode is not None:
            _check_mode(default_mode)
        self.default_metric = default_metric
        self.default_mode = default_mode
        self._storage_options = dict(storage_options or {})

        url = str(experiment_path)
        # A bare "/" must survive the strip so that it still names the root.
        url = url.rstrip("/") or url
        fs, root = fsspec.core.url_to_fs(url, **self._storage_options)
        self._fs = fs
        self._is_local = isinstance(fs, LocalFileSystem)
        self._root = root.rstrip("/") or root
        self._root_url = url
        self._given_path = str(experiment_path)

        # logdir -> (storage path of the trial folder, names of the files directly in it)
        self._trials: dict[str, tuple[str, frozenset[str]]] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._results: dict[str, list[dict[str, Any]]] = {}
        self._dataframes: dict[str, pd.DataFrame] | None = None

        if trial_logdirs is None:
            self._discover()
        else:
            names = sorted(posixpath.basename(str(d).rstrip("/")) for d in trial_logdirs)
            files = frozenset({PARAMS_FILE, RESULT_FILE})  # read when first used, if there
            self._trials = {
                self._logdir(name): (f"{self._root.rstrip('/')}/{name}", files) for name in names
            }

    # ----------------------------------------------------------------- discovery and IO

    def _map_io(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
        items = list(items)
        # Local reads are fast; threads only pay off against object-store latency.
        if self._is_local or len(items) < 2:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(_IO_THREADS, len(items))) as pool:
            return list(pool.map(fn, items))

    def _logdir(self, name: str) -> str:
        if self._is_local:
            return f"{self._root.rstrip('/')}/{name}"
        # Built from the URL the user gave, so the protocol (and any chained options) is kept.
        return f"{self._root_url.rstrip('/')}/{name}"

    def _discover(self) -> None:
        fs = self._fs
        # s3fs caches listings; a stale one would hide trials that started after the cache
        # was filled (or files that appeared since).
        fs.invalidate_cache()
        if not fs.exists(self._root):
            raise TuneError(
                f"Experiment path {self._given_path!r} does not exist: expected the experiment "
                f"folder written by run() (or its experiment_state.json file)."
            )
        if fs.isfile(self._root):
            # Passed the experiment_state.json (or another file in the experiment folder).
            self._root = fs._parent(self._root)
            self._root_url = self._root_url.rsplit("/", 1)[0]

        subdirs = sorted(
            posixpath.basename(entry["name"].rstrip("/"))
            for entry in fs.ls(self._root, detail=True)
            if entry.get("type") == "directory"
        )

        def list_files(name: str) -> frozenset[str]:
            path = f"{self._root.rstrip('/')}/{name}"
            try:
                entries = fs.ls(path, detail=True)
            except FileNotFoundError:
                return frozenset()
            return frozenset(
                posixpath.basename(e["name"].rstrip("/")) for e in entries if e["type"] == "file"
            )

        trials: dict[str, tuple[str, frozenset[str]]] = {}
        for name, files in zip(subdirs, self._map_io(list_files, subdirs), strict=True):
            if PARAMS_FILE in files or RESULT_FILE in files:
                trials[self._logdir(name)] = (f"{self._root.rstrip('/')}/{name}", files)
        if not trials:
            raise TuneError(
                f"No trial folders found in experiment path {self._root_url!r}: expected one "
                f"sub-folder per trial holding {PARAMS_FILE} and/or {RESULT_FILE}, as written "
                f"by run(). Found sub-folders: {subdirs or 'none'}."
            )
        self._trials = trials

    def _read(self, path: str) -> bytes | None:
        try:
            # cat_file fetches the whole object; open() would trust a cached (stale) size.
            return self._fs.cat_file(path)
        except FileNotFoundError:
            return None

    def _read_trial(
        self, item: tuple[str, tuple[str, frozenset[str]]]
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        logdir, (path, files) = item
        config: dict[str, Any] | None = None
        if PARAMS_FILE in files:
            raw = self._read(f"{path}/{PARAMS_FILE}")
            if raw is not None:
                try:
                    loaded = json.loads(raw)
                except ValueError as exc:
                    warnings.warn(
                        f"Could not parse {logdir}/{PARAMS_FILE} ({exc}); using the config "
                        f"recorded in the trial's results instead.",
                        stacklevel=4,
                    )
                else:
                    if isinstance(loaded, dict):
                        config = loaded
        results: list[dict[str, Any]] = []
        if RESULT_FILE in files:
            raw = self._read(f"{path}/{RESULT_FILE}")
            if raw is not None:
                results = _parse_result_lines(raw, f"{logdir}/{RESULT_FILE}")
        return config, results

    def _load(self) -> None:
        self._fs.invalidate_cache()
        items = list(self._trials.items())
        loaded = self._map_io(self._read_trial, items)
        configs: dict[str, dict[str, Any]] = {}
        results: dict[str, list[dict[str, Any]]] = {}
        dataframes: dict[str, pd.DataFrame] = {}
        for (logdir, _), (config, trial_results) in zip(items, loaded, strict=True):
            if config is None:
                # No usable params.json: the driver also records the config in every result.
                last_config = trial_results[-1].get("config") if trial_results else None
                config = last_config if isinstance(last_config, dict) else {}
            configs[logdir] = config
            results[logdir] = trial_results
            # Built from the result list so that row labels are indices into it.
            dataframes[logdir] = _pandas().DataFrame([flatten_dict(r) for r in trial_results])
        self._configs, self._results, self._dataframes = configs, results, dataframes

    def _ensure_loaded(self) -> dict[str, pd.DataFrame]:
        if self._dataframes is None:
            self._load()
        assert self._dataframes is not None
        return self._dataframes

    # ------------------------------------------------------------------ plain accessors

    @property
    def experiment_path(self) -> str:
        """The experiment folder, as a path or URL (the parent if a state file was given)."""
        return self._root if self._is_local else self._root_url

    @property
    def trial_logdirs(self) -> list[str]:
        """The ``logdir`` of every trial, sorted by folder name (full paths or URLs)."""
        return list(self._trials)

    @property
    def trials_logdirs(self) -> list[str]:
        """Alias of :attr:`trial_logdirs`."""
        return self.trial_logdirs

    def fetch_trial_dataframes(self) -> dict[str, pd.DataFrame]:
        """Re-list the trial folders and re-read every trial's config and results.

        Useful on a running experiment; otherwise results are read once, on first use.

        Returns:
            The refreshed :attr:`trial_dataframes`.
        """
        self._discover()
        self._load()
        return self.trial_dataframes

    @property
    def trial_dataframes(self) -> dict[str, pd.DataFrame]:
        """``{logdir: DataFrame}`` of each trial's results, one row per reported result.

        Read from ``result.json``; nested keys are flattened with ``/`` (``config/lr``). A
        trial with no results has an empty DataFrame; a half-written last line is skipped.
        """
        return dict(self._ensure_loaded())

    def get_all_configs(self, prefix: bool = False) -> dict[str, dict[str, Any]]:
        """Every trial's resolved config (from ``params.json``), keyed by ``logdir``.

        Args:
            prefix: If true, flatten each config and prefix its keys with ``config/``
                (``{"config/optim/lr": 0.1}``), matching the :meth:`dataframe` columns.
        """
        self._ensure_loaded()
        if prefix:
            return {
                logdir: flatten_dict(config, prefix=CONFIG_PREFIX)
                for logdir, config in self._configs.items()
            }
        return {logdir: copy.deepcopy(config) for logdir, config in self._configs.items()}

    # ------------------------------------------------------------------ metric handling

    def _resolve(self, metric: str | None, mode: str | None, what: str) -> tuple[str, str]:
        metric = metric if metric is not None else self.default_metric
        mode = mode if mode is not None else self.default_mode
        if metric is None or mode is None:
            missing = " and ".join(
                name for name, value in (("metric", metric), ("mode", mode)) if value is None
            )
            raise ValueError(
                f"{what} needs a metric and a mode, but no {missing} was given: pass metric= "
                f"and mode= to it, or set them in run(metric=..., mode=...) (or "
                f"ExperimentAnalysis(default_metric=..., default_mode=...))."
            )
        _check_mode(mode)
        return metric, mode

    def _reported_metrics(self) -> list[str]:
        columns: set[str] = set()
        for df in self._ensure_loaded().values():
            columns.update(c for c in df.columns if not str(c).startswith(CONFIG_PREFIX))
        return sorted(columns, key=str)

    def _metric_values(self, metric: str) -> dict[str, pd.Series]:
        """The non-NaN values of ``metric`` per trial, labelled by result index.

        Trials that never reported a number for it are left out.
        """
        reported = False
        out: dict[str, pd.Series] = {}
        for logdir, df in self._ensure_loaded().items():
            if metric not in df.columns:
                continue
            reported = True
            column = df[metric]
            values = _pandas().to_numeric(column, errors="coerce")
            bad = column.notna() & values.isna()
            if bad.any():
                raise ValueError(
                    f"Metric {metric!r} has a non-numeric value in trial {logdir} "
                    f"({column[bad].iloc[0]!r}); only numbers can be ranked."
                )
            # NaN means "nothing to compare" (a diverged trial, a skipped evaluation).
            values = values.dropna()
            if not values.empty:
                out[logdir] = values.astype(float)
        if not reported:
            known = self._reported_metrics()
            hint = difflib.get_close_matches(metric, [str(k) for k in known], n=1)
            raise ValueError(
                f"No trial reported metric {metric!r}. Metrics reported by trials: "
                f"{', '.join(map(str, known)) or 'none (no trial reported any result)'}."
                + (f" Did you mean {hint[0]!r}?" if hint else "")
                + " Nested metrics are addressed with '/', e.g. 'a/b'."
            )
        if not out:
            raise ValueError(
                f"Every value reported for metric {metric!r} is NaN, so no trial can be "
                f"ranked by it."
            )
        return out

    def _best(self, metric: str, mode: str, scope: str) -> tuple[str, pd.Series]:
        _check_scope(scope)
        best_logdir: str | None = None
        best_score = math.nan
        values_by_trial = self._metric_values(metric)
        for logdir, values in values_by_trial.items():
            score = _score(values, mode, scope)
            if math.isnan(score):
                continue
            # Strict comparison: on a tie the first trial (by folder name) wins, as in Ray.
            if best_logdir is None or (score > best_score if mode == "max" else score < best_score):
                best_logdir, best_score = logdir, score
        if best_logdir is None:
            raise ValueError(
                f"Every trial's {scope!r} score for metric {metric!r} is NaN, so no trial can "
                f"be ranked by it."
            )
        return best_logdir, values_by_trial[best_logdir]

    # ------------------------------------------------------------------------ queries

    def dataframe(self, metric: str | None = None, mode: str | None = None) -> pd.DataFrame:
        """One row per trial: its best result by ``metric`` (with ``mode``), else its last.

        Columns are the flattened result keys, ``config/<key>`` from ``params.json`` and
        ``logdir``. A trial with no results still gets a row with its config and logdir; a
        trial that never reported ``metric`` gets its last result. As in Ray, the default
        metric and mode are not used here: without ``mode`` every row is the last result.

        Raises:
            ValueError: ``mode`` is not ``"max"``/``"min"``, ``mode`` is given without
                ``metric``, or no trial reported ``metric``.
        """
        if mode is not None:
            _check_mode(mode)
            if metric is None:
                raise ValueError("dataframe(mode=...) also needs metric=...")
        best_rows = self._metric_values(metric) if metric is not None and mode else {}
        configs = self.get_all_configs(prefix=True)
        rows = []
        for logdir, results in self._results.items():
            row: dict[str, Any] = {}
            if logdir in best_rows:
                values = best_rows[logdir]
                index = values.idxmax() if mode == "max" else values.idxmin()
                row = flatten_dict(results[index])
            elif results:
                row = flatten_dict(results[-1])
            row.update(configs[logdir])
            row["logdir"] = logdir
            rows.append(row)
        return _pandas().DataFrame(rows)

    def get_best_logdir(
        self, metric: str | None = None, mode: str | None = None, scope: str = "all"
    ) -> str:
        """The ``logdir`` of the best trial by ``metric``.

        Args:
            metric: Result key to rank by (``"a/b"`` for nested); defaults to ``default_metric``.
            mode: ``"max"`` or ``"min"``; defaults to ``default_mode``.
            scope: How each trial is scored: ``"all"`` its best value over every result (Ray
                0.8), ``"last"`` its last reported value, ``"avg"`` the mean of all values,
                ``"last-5-avg"``/``"last-10-avg"`` the mean of the last 5/10. NaN values are
                ignored.

        Raises:
            ValueError: No metric/mode, bad mode or scope, no trial reported ``metric``, or
                every value of it is NaN.
        """
        metric, mode = self._resolve(metric, mode, "get_best_logdir()")
        return self._best(metric, mode, scope)[0]

    def get_best_config(
        self, metric: str | None = None, mode: str | None = None, scope: str = "all"
    ) -> dict[str, Any]:
        """The config (``params.json``) of the best trial; arguments as :meth:`get_best_logdir`."""
        metric, mode = self._resolve(metric, mode, "get_best_config()")
        logdir = self._best(metric, mode, scope)[0]
        return copy.deepcopy(self._configs[logdir])

    def get_best_result(
        self, metric: str | None = None, mode: str | None = None, scope: str = "all"
    ) -> dict[str, Any]:
        """The best result, as the nested dict the trial reported.

        With ``scope="all"`` this is the result holding the best value of ``metric`` over every
        result of every trial; with the other scopes it is the best trial's last result.
        Arguments as :meth:`get_best_logdir`.
        """
        metric, mode = self._resolve(metric, mode, "get_best_result()")
        logdir, values = self._best(metric, mode, scope)
        if scope == "all":
            index = values.idxmax() if mode == "max" else values.idxmin()
        else:
            index = len(self._results[logdir]) - 1
        return copy.deepcopy(self._results[logdir][index])

    @property
    def best_logdir(self) -> str:
        """:meth:`get_best_logdir` with the default metric and mode."""
        metric, mode = self._resolve(None, None, "best_logdir")
        return self._best(metric, mode, "all")[0]

    @property
    def best_config(self) -> dict[str, Any]:
        """:meth:`get_best_config` with the default metric and mode."""
        metric, mode = self._resolve(None, None, "best_config")
        return self.get_best_config(metric, mode)

    @property
    def best_result(self) -> dict[str, Any]:
        """:meth:`get_best_result` with the default metric and mode."""
        metric, mode = self._resolve(None, None, "best_result")
        return self.get_best_result(metric, mode)

    @property
    def best_dataframe(self) -> pd.DataFrame:
        """All results of the best trial (default metric and mode), one row per result."""
        metric, mode = self._resolve(None, None, "best_dataframe")
        return self._ensure_loaded()[self._best(metric, mode, "all")[0]]

    def __repr__(self) -> str:
        return f"ExperimentAnalysis({self.experiment_path!r}, trials={len(self._trials)})"
