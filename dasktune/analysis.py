"""Read an experiment back from storage: Ray Tune's ``Analysis``, over fsspec.

The driver writes one folder per trial under the experiment path (``params.json``,
``result.json`` as JSON lines, ``progress.csv``, checkpoints). This module only reads that
layout, so it works the same for a local folder, ``s3://bucket/exp`` or any other fsspec URL,
and on an experiment that is still running. :class:`Analysis` works on the folders alone
(Ray's ``tune.Analysis``); :class:`~dasktune.experiment_analysis.ExperimentAnalysis` adds the
trials themselves (``tune.run``'s result).
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

from dasktune.checkpoints import committed_checkpoints
from dasktune.error import TuneError
from dasktune.result import TRAINING_ITERATION
from dasktune.utils.dicts import flatten_dict

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Analysis", "ExperimentAnalysis", "flatten_dict"]

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


def _score(values: list[float], mode: str, scope: str) -> float:
    """One trial's score for a metric under ``scope``; ``values`` is not empty.

    NaN in ``values`` (kept with ``filter_nan_and_inf=False``) makes an average NaN; ``"all"``
    takes the best of the numbers among them.
    """
    if scope == "all":
        numbers = [v for v in values if not math.isnan(v)]
        if not numbers:
            return math.nan
        return max(numbers) if mode == "max" else min(numbers)
    if scope == "last":
        return values[-1]
    window = values if scope == "avg" else values[-int(scope.split("-")[1]) :]
    return math.fsum(window) / len(window)


def _better(score: float, best: float | None, mode: str) -> bool:
    """Whether ``score`` ranks above ``best``; NaN ranks below every number (it cannot be
    ordered), and on a tie the earlier trial stays best."""
    if best is None:
        return True
    if math.isnan(score):
        return False
    if math.isnan(best):
        return True
    return score > best if mode == "max" else score < best


class Analysis:
    """Results of one experiment, read from its folder (Ray Tune's ``tune.Analysis``).

    Args:
        experiment_path: The experiment folder as a local path or fsspec URL
            (``s3://bucket/exp``), or the path of its ``experiment_state.json`` file.
        default_metric: Metric used when a method gets no ``metric=`` (``run(metric=...)``).
        default_mode: ``"max"`` or ``"min"``, used when a method gets no ``mode=``.
        storage_options: Passed to ``fsspec.core.url_to_fs`` (credentials, endpoint, ...).
        trial_logdirs: The experiment's trial folders (full paths or URLs directly below the
            experiment folder), taken as they are instead of listing storage; ``run()`` passes
            them when storage did not answer at the end of the run.

    Raises:
        TuneError: The path does not exist or holds no trial folders.

    The best-trial queries rank each trial by its best value of the metric over all its results
    (``scope="all"``, as Ray's ``Analysis`` does); :class:`ExperimentAnalysis` ranks by the
    last value by default, as Ray's does. Trial folders are listed once, here; results are read
    on first use and cached. Call :meth:`fetch_trial_dataframes` to re-list and re-read an
    experiment that is still running.
    Trials are keyed by their ``logdir``: the trial folder's full path, or its full URL (with
    protocol, e.g. ``s3://...``) for remote storage, so it can be handed back to fsspec.
    """

    # How the best-trial queries score a trial when given no ``scope``.
    DEFAULT_SCOPE = "all"

    def __init__(
        self,
        experiment_path: str,
        default_metric: str | None = None,
        default_mode: str | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
        trial_logdirs: Iterable[str] | None = None,
    ) -> None:
        if isinstance(default_metric, dict):
            raise TypeError(
                "The second argument is default_metric (Ray's order); pass storage options as "
                "storage_options=."
            )
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
        self._folders: dict[str, tuple[str, frozenset[str]]] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._results: dict[str, list[dict[str, Any]]] = {}
        # Each result flattened ("a/b"): tells a metric a result did not carry from a NaN.
        self._flat: dict[str, list[dict[str, Any]]] = {}
        self._dataframes: dict[str, pd.DataFrame] | None = None

        if trial_logdirs is None:
            self._discover()
        else:
            names = sorted(posixpath.basename(str(d).rstrip("/")) for d in trial_logdirs)
            files = frozenset({PARAMS_FILE, RESULT_FILE})  # read when first used, if there
            self._folders = {
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
        self._folders = trials

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
        items = list(self._folders.items())
        loaded = self._map_io(self._read_trial, items)
        configs: dict[str, dict[str, Any]] = {}
        results: dict[str, list[dict[str, Any]]] = {}
        dataframes: dict[str, pd.DataFrame] = {}
        flat: dict[str, list[dict[str, Any]]] = {}
        for (logdir, _), (config, trial_results) in zip(items, loaded, strict=True):
            if config is None:
                # No usable params.json: the driver also records the config in every result.
                last_config = trial_results[-1].get("config") if trial_results else None
                config = last_config if isinstance(last_config, dict) else {}
            configs[logdir] = config
            results[logdir] = trial_results
            # Built from the result list so that row labels are indices into it.
            flat[logdir] = [flatten_dict(r) for r in trial_results]
            dataframes[logdir] = _pandas().DataFrame(flat[logdir])
        self._configs, self._results, self._flat = configs, results, flat
        self._dataframes = dataframes

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
        return list(self._folders)

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

    def _metric_values(
        self, metric: str, filter_nan_and_inf: bool = True
    ) -> dict[str, list[tuple[int, float]]]:
        """``(result index, value)`` of every result of each trial that carries ``metric``.

        A result without the key is not a value (a metric reported every other iteration);
        JSON ``null`` counts as NaN. With ``filter_nan_and_inf``, NaN and infinite values are
        left out. Trials with no values are left out.

        Raises:
            ValueError: No trial reported ``metric``, a value is not a number, or no value is
                a number at all (every one NaN).
        """
        self._ensure_loaded()
        reported = False
        any_number = False
        out: dict[str, list[tuple[int, float]]] = {}
        for logdir, rows in self._flat.items():
            values: list[tuple[int, float]] = []
            for index, row in enumerate(rows):
                if metric not in row:
                    continue
                reported = True
                raw = row[metric]
                if raw is None:
                    value = math.nan
                elif isinstance(raw, (int, float)):
                    value = float(raw)
                else:
                    raise ValueError(
                        f"Metric {metric!r} has a non-numeric value in trial {logdir} "
                        f"({raw!r}); only numbers can be ranked."
                    )
                any_number = any_number or not math.isnan(value)
                if filter_nan_and_inf and not math.isfinite(value):
                    continue
                values.append((index, value))
            if values:
                out[logdir] = values
        if not reported:
            known = self._reported_metrics()
            hint = difflib.get_close_matches(metric, [str(k) for k in known], n=1)
            raise ValueError(
                f"No trial reported metric {metric!r}. Metrics reported by trials: "
                f"{', '.join(map(str, known)) or 'none (no trial reported any result)'}."
                + (f" Did you mean {hint[0]!r}?" if hint else "")
                + " Nested metrics are addressed with '/', e.g. 'a/b'."
            )
        if not any_number or not out:
            raise ValueError(
                f"Every value reported for metric {metric!r} is NaN"
                + (" or infinite" if filter_nan_and_inf else "")
                + ", so no trial can be ranked by it."
            )
        return out

    def _best_logdir(self, metric: str, mode: str, scope: str, filter_nan_and_inf: bool) -> str:
        _check_scope(scope)
        best_logdir: str | None = None
        best_score: float | None = None
        for logdir, pairs in self._metric_values(metric, filter_nan_and_inf).items():
            score = _score([value for _, value in pairs], mode, scope)
            if filter_nan_and_inf and not math.isfinite(score):
                continue
            # Strict comparison: on a tie the first trial (by folder name) wins, as in Ray.
            if _better(score, best_score, mode):
                best_logdir, best_score = logdir, score
        if best_logdir is None:
            raise ValueError(
                f"Every trial's {scope!r} score for metric {metric!r} is NaN or infinite, so "
                f"no trial can be ranked by it (pass filter_nan_and_inf=False to rank "
                f"infinite scores)."
            )
        return best_logdir

    def _trial_key(self, trial: Any) -> str:
        """The ``logdir`` key of ``trial``: a logdir (path or URL, as listed or as the run
        wrote it) or an object with ``dirname``/``logdir`` (a :class:`~dasktune.trial.Trial`)."""
        if isinstance(trial, str):
            name = posixpath.basename(trial.rstrip("/"))
        elif getattr(trial, "dirname", None) or getattr(trial, "logdir", None):
            name = trial.dirname or posixpath.basename(str(trial.logdir).rstrip("/"))
        else:
            raise ValueError(
                f"trial must be a trial's logdir (see trial_logdirs) or a Trial, got {trial!r}"
            )
        key = self._logdir(name)
        if key not in self._folders:
            raise ValueError(
                f"{trial!r} is not a trial of the experiment at {self.experiment_path!r}; its "
                f"trials are: {', '.join(self._folders)}."
            )
        return key

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
        best_rows: dict[str, int] = {}
        if metric is not None and mode:
            for logdir, pairs in self._metric_values(metric, filter_nan_and_inf=False).items():
                numbers = [(value, index) for index, value in pairs if not math.isnan(value)]
                if numbers:
                    # The first row wins a tie, as pandas' idxmax/idxmin do in Ray.
                    pick = max if mode == "max" else min
                    best_rows[logdir] = pick(numbers, key=lambda pair: pair[0])[1]
        configs = self.get_all_configs(prefix=True)
        rows = []
        for logdir, results in self._results.items():
            row: dict[str, Any] = {}
            if logdir in best_rows:
                row = dict(self._flat[logdir][best_rows[logdir]])
            elif results:
                row = dict(self._flat[logdir][-1])
            row.update(configs[logdir])
            row["logdir"] = logdir
            rows.append(row)
        return _pandas().DataFrame(rows)

    def get_best_logdir(
        self,
        metric: str | None = None,
        mode: str | None = None,
        scope: str | None = None,
        filter_nan_and_inf: bool = True,
    ) -> str:
        """The ``logdir`` of the best trial by ``metric``.

        Args:
            metric: Result key to rank by (``"a/b"`` for nested); defaults to ``default_metric``.
            mode: ``"max"`` or ``"min"``; defaults to ``default_mode``.
            scope: How each trial is scored: ``"all"`` its best value over every result,
                ``"last"`` its last reported value, ``"avg"`` the mean of all values,
                ``"last-5-avg"``/``"last-10-avg"`` the mean of the last 5/10. Defaults to
                ``"all"`` here (Ray's ``Analysis``) and ``"last"`` on ``ExperimentAnalysis``.
            filter_nan_and_inf: If true (the default), NaN and infinite values are left out
                before scoring, and a trial with none left is never the best. If false, they
                count: a NaN in an average makes the score NaN, which ranks below every number,
                and infinite scores compete like any other.

        Raises:
            ValueError: No metric/mode, bad mode or scope, no trial reported ``metric``, or
                no trial has a score that can be ranked.
        """
        metric, mode = self._resolve(metric, mode, "get_best_logdir()")
        return self._best_logdir(metric, mode, scope or self.DEFAULT_SCOPE, filter_nan_and_inf)

    def get_best_config(
        self,
        metric: str | None = None,
        mode: str | None = None,
        scope: str | None = None,
        filter_nan_and_inf: bool = True,
    ) -> dict[str, Any]:
        """The config (``params.json``) of the best trial; arguments as :meth:`get_best_logdir`."""
        metric, mode = self._resolve(metric, mode, "get_best_config()")
        logdir = self._best_logdir(metric, mode, scope or self.DEFAULT_SCOPE, filter_nan_and_inf)
        return copy.deepcopy(self._configs[logdir])

    def get_best_result(
        self,
        metric: str | None = None,
        mode: str | None = None,
        scope: str | None = None,
        filter_nan_and_inf: bool = True,
    ) -> dict[str, Any]:
        """The best trial's last result, as the nested dict the trial reported (Ray's
        ``best_result``); arguments as :meth:`get_best_logdir`."""
        metric, mode = self._resolve(metric, mode, "get_best_result()")
        logdir = self._best_logdir(metric, mode, scope or self.DEFAULT_SCOPE, filter_nan_and_inf)
        return copy.deepcopy(self._results[logdir][-1])

    # ---------------------------------------------------------------------- checkpoints

    def get_trial_checkpoints_paths(
        self, trial: Any, metric: str = TRAINING_ITERATION
    ) -> list[list[Any]]:
        """``[path, value of metric]`` of every committed checkpoint of ``trial``, oldest first.

        Args:
            trial: The trial's logdir (path or URL) or its :class:`~dasktune.trial.Trial`.
            metric: Result key whose value, in the result of the checkpoint's iteration, is
                paired with each path (``training_iteration`` by default).

        A path is the checkpoint's folder (``<logdir>/checkpoint_<iteration>``, a URL with
        remote storage): what ``tune.run(restore=...)`` takes. A checkpoint whose iteration has
        no result carrying ``metric`` is left out, as Ray's join on the iteration does.
        """
        logdir = self._trial_key(trial)
        self._ensure_loaded()
        by_iteration = {
            row.get(TRAINING_ITERATION): row for row in self._flat[logdir] if metric in row
        }
        paths = []
        for iteration, url in committed_checkpoints(logdir, self._storage_options):
            row = by_iteration.get(iteration)
            if row is not None:
                paths.append([url, row[metric]])
        return paths

    def get_best_checkpoint(
        self, trial: Any, metric: str | None = None, mode: str | None = None
    ) -> str | None:
        """The path of ``trial``'s best committed checkpoint by ``metric``, or None (with a
        warning) when it has none.

        ``metric`` defaults to ``default_metric``, else ``training_iteration`` (the newest
        checkpoint); ``mode`` to ``default_mode``, else ``"max"`` for ``training_iteration``.
        NaN values are left out; on a tie the older checkpoint wins.
        """
        metric = metric or self.default_metric or TRAINING_ITERATION
        if mode is None and self.default_mode is None and metric == TRAINING_ITERATION:
            mode = "max"
        metric, mode = self._resolve(metric, mode, "get_best_checkpoint()")
        paths = [
            (path, float(value))
            for path, value in self.get_trial_checkpoints_paths(trial, metric)
            if isinstance(value, (int, float)) and not math.isnan(value)
        ]
        if not paths:
            warnings.warn(
                f"No checkpoints with a value of {metric!r} found for trial {trial}.",
                stacklevel=2,
            )
            return None
        pick = max if mode == "max" else min
        return pick(paths, key=lambda pair: pair[1])[0]

    def get_last_checkpoint(
        self, trial: Any = None, metric: str = TRAINING_ITERATION, mode: str = "max"
    ) -> str | None:
        """The newest committed checkpoint of ``trial`` (None, with a warning, if it has none).

        Without ``trial``, of the best trial by ``metric`` and ``mode`` (scored by the last
        value): by default the trial that ran the most iterations.
        """
        if trial is None:
            _check_mode(mode)
            trial = self._best_logdir(metric, mode, "last", True)
        return self.get_best_checkpoint(trial, TRAINING_ITERATION, "max")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.experiment_path!r}, trials={len(self._folders)})"


# ExperimentAnalysis builds on Analysis, and is importable from here as it always was.
from dasktune.experiment_analysis import ExperimentAnalysis  # noqa: E402
