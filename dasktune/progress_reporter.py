"""Progress reporters at Ray's path ``ray.tune.progress_reporter``: the status table a run prints.

``tune.run(progress_reporter=...)`` calls ``should_report(trials, done)`` on each housekeeping
turn of the driver (about once a second) and at the end, and ``report(trials, done, *sys_info)``
when it says yes; ``sys_info`` are lines about the run (the scheduler, resource usage, the
result logdir). At ``verbose >= 1`` with no reporter given, a :class:`CLIReporter` prints the
table at the start, every 5 s and at the end. Reporters run on the driver's event loop: keep
``report`` quick.
"""

from __future__ import annotations

import datetime
import numbers
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from .trial import Trial, TrialStatus
from .utils.dicts import flatten_dict

# Ray's default metric columns (key -> header), shown once some trial reports them.
DEFAULT_COLUMNS: dict[str, str] = {
    "episode_reward_mean": "reward",
    "mean_accuracy": "acc",
    "mean_loss": "loss",
    "time_total_s": "total time (s)",
    "timesteps_total": "ts",
    "training_iteration": "iter",
}
# Keys every result carries: never inferred as the user's metrics.
AUTO_KEYS = frozenset(
    {
        "done",
        "time_this_iter_s",
        "time_total_s",
        "timesteps_total",
        "timesteps_this_iter",
        "episodes_total",
        "training_iteration",
        "timestamp",
        "time_since_restore",
        "timesteps_since_restore",
        "iterations_since_restore",
        "pid",
        "trial_id",
        "experiment_id",
        "experiment_tag",
        "date",
        "hostname",
        "node_ip",
        "config",
        "should_checkpoint",
        "episodes_this_iter",
    }
)
# Which trials a truncated table keeps first (Ray shows the running ones before the rest).
_STATUS_ORDER = (
    TrialStatus.RUNNING,
    TrialStatus.PAUSED,
    TrialStatus.PENDING,
    TrialStatus.ERROR,
    TrialStatus.TERMINATED,
)


class ProgressReporter:
    """Base class of reporters (Ray's ``ProgressReporter``)."""

    def should_report(self, trials: list[Trial], done: bool = False) -> bool:
        """Whether to report now (``done``: the run ended)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement should_report(trials, done=False)."
        )

    def report(self, trials: list[Trial], done: bool, *sys_info: str) -> None:
        """Report the trials' progress."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement report(trials, done, *sys_info)."
        )

    def set_search_properties(self, metric: str | None, mode: str | None) -> bool:
        """The run's ``metric`` and ``mode`` (Ray passes them to the reporter)."""
        return True

    def set_total_samples(self, total_samples: int | None) -> None:
        """How many trials the run makes in all (None: unbounded)."""


ColumnSpec = Sequence[str] | Mapping[str, str] | None


class TuneReporterBase(ProgressReporter):
    """The status table shared by the CLI and notebook reporters.

    ``metric_columns``/``parameter_columns``: keys (flattened with ``/``) shown as columns, as
    a list or a key -> header mapping. By default Ray's metric columns plus up to
    ``infer_limit`` metrics the trials report, and every config key. A column appears once
    some trial has a value for it. At most ``max_progress_rows`` trials are listed (running
    ones first) and ``max_error_rows`` errored trials; a table is due every
    ``max_report_frequency`` seconds.
    """

    def __init__(
        self,
        metric_columns: ColumnSpec = None,
        parameter_columns: ColumnSpec = None,
        total_samples: int | None = None,
        max_progress_rows: int = 20,
        max_error_rows: int = 20,
        max_report_frequency: float = 5,
        infer_limit: int = 3,
        metric: str | None = None,
        mode: str | None = None,
    ) -> None:
        self._metric_columns = _columns(metric_columns, "metric_columns")
        self._infer_metrics = metric_columns is None
        self._parameter_columns = _columns(parameter_columns, "parameter_columns")
        self._total_samples = total_samples
        self._max_progress_rows = max_progress_rows
        self._max_error_rows = max_error_rows
        self._max_report_frequency = max_report_frequency
        self._infer_limit = infer_limit
        self._metric = metric
        self._mode = mode
        self._start_time = time.time()
        self._last_report_time = 0.0

    def add_metric_column(self, metric: str, representation: str | None = None) -> None:
        """Show ``metric`` (under the header ``representation``) once a trial reports it."""
        if self._metric_columns is None:
            self._metric_columns = {}
        if metric in self._metric_columns:
            raise ValueError(f"metric column {metric!r} is already shown; add each one once.")
        self._metric_columns[metric] = representation or metric

    def add_parameter_column(self, parameter: str, representation: str | None = None) -> None:
        """Show config key ``parameter`` (flattened with ``/``)."""
        if self._parameter_columns is None:
            self._parameter_columns = {}
        if parameter in self._parameter_columns:
            raise ValueError(f"parameter column {parameter!r} is already shown; add it once.")
        self._parameter_columns[parameter] = representation or parameter

    def set_search_properties(self, metric: str | None, mode: str | None) -> bool:
        """The run's ``metric`` is shown as a column (it is what the run optimises)."""
        if self._metric is None and metric is not None:
            self._metric = metric
        if self._mode is None and mode is not None:
            self._mode = mode
        return True

    def set_total_samples(self, total_samples: int | None) -> None:
        """The ``N`` of "Number of trials: n/N"."""
        self._total_samples = total_samples

    def should_report(self, trials: list[Trial], done: bool = False) -> bool:
        """At once, then every ``max_report_frequency`` seconds, and at the end."""
        now = time.time()
        if now - self._last_report_time >= self._max_report_frequency:
            self._last_report_time = now
            return True
        return done

    def progress_str(
        self, trials: list[Trial], done: bool, *sys_info: str, fmt: str = "psql"
    ) -> list[str]:
        """The status report as lines (``fmt``: the table format, tabulate's names)."""
        now = time.time()
        running_for = datetime.timedelta(seconds=now - self._start_time)
        stamp = datetime.datetime.fromtimestamp(now).strftime("%Y-%m-%d %H:%M:%S")
        lines = [
            "== Status ==",
            f"Current time: {stamp} (running for {_clock(running_for)})",
            memory_line(),
        ]
        lines = [line for line in lines if line]
        lines.extend(line for line in sys_info if line)
        lines.append(self._count_line(trials))
        if trials:
            lines.append(self._trial_table(trials, fmt))
        errored = [t for t in trials if t.status == TrialStatus.ERROR]
        if errored:
            lines.append(f"Number of errored trials: {len(errored)}")
            rows = [
                [str(t), t.num_failures, _error_file(t)] for t in errored[: self._max_error_rows]
            ]
            lines.append(
                tabulate(rows, headers=["Trial name", "# failures", "error file"], tablefmt=fmt)
            )
            if len(errored) > self._max_error_rows:
                lines.append(f"... {len(errored) - self._max_error_rows} more errored trials")
        return lines

    def _count_line(self, trials: list[Trial]) -> str:
        counts: dict[str, int] = {}
        for trial in trials:
            counts[trial.status] = counts.get(trial.status, 0) + 1
        total = self._total_samples
        of = len(trials) if total is None or total < len(trials) else total
        if total is not None and total >= sys.maxsize:
            of = "infinite"
        states = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return f"Number of trials: {len(trials)}/{of}" + (f" ({states})" if states else "")

    def _trial_table(self, trials: list[Trial], fmt: str) -> str:
        shown, hidden = _pick_rows(trials, self._max_progress_rows)
        # A result's config is the trial's: its columns come from trial.config.
        results = {
            t.trial_id: flatten_dict(
                {k: v for k, v in t.last_result.items() if k != "config"}, delimiter="/"
            )
            for t in trials
        }
        configs = {t.trial_id: flatten_dict(t.config, delimiter="/") for t in trials}
        params = self._parameter_columns or _keys_in_order(configs.values())
        metrics = self._metrics_to_show(results.values())
        # A column appears once some trial has a value for it.
        params = {k: v for k, v in params.items() if any(k in c for c in configs.values())}
        metrics = {k: v for k, v in metrics.items() if any(k in r for r in results.values())}
        headers = ["Trial name", "status", "loc", *params.values(), *metrics.values()]
        rows = []
        for trial in shown:
            config, result = configs[trial.trial_id], results[trial.trial_id]
            rows.append(
                [
                    str(trial),
                    trial.status,
                    trial.location or "",
                    *(_cell(config.get(k)) for k in params),
                    *(_cell(result.get(k)) for k in metrics),
                ]
            )
        table = tabulate(rows, headers=headers, tablefmt=fmt)
        if hidden:
            counts: dict[str, int] = {}
            for trial in hidden:
                counts[trial.status] = counts.get(trial.status, 0) + 1
            states = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            table += f"\n... {len(hidden)} more trials not shown ({states})"
        return table

    def _metrics_to_show(self, results: Any) -> dict[str, str]:
        if not self._infer_metrics:
            return dict(self._metric_columns or {})
        columns = dict(DEFAULT_COLUMNS)
        if self._metric_columns:
            columns.update(self._metric_columns)
        inferred: dict[str, str] = {}
        if self._metric is not None:
            inferred[self._metric] = self._metric
        for result in results:
            for key, value in result.items():
                if len(inferred) >= self._infer_limit:
                    break
                if (
                    key not in AUTO_KEYS
                    and key not in columns
                    and "/" not in key
                    and isinstance(value, numbers.Number)
                    and not isinstance(value, bool)
                ):
                    inferred.setdefault(key, key)
        # The user's metrics first, as Ray's tables put them after the config.
        return {**inferred, **columns}


class CLIReporter(TuneReporterBase):
    """Prints the status table to standard output (Ray's ``CLIReporter``)."""

    def report(self, trials: list[Trial], done: bool, *sys_info: str) -> None:
        """Print the table."""
        print("\n".join(self.progress_str(trials, done, *sys_info)), flush=True)


class JupyterNotebookReporter(TuneReporterBase):
    """Shows the status table as HTML in a notebook cell (Ray's ``JupyterNotebookReporter``);
    ``overwrite``: each table replaces the previous one. Prints text outside IPython."""

    def __init__(self, overwrite: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._overwrite = overwrite

    def report(self, trials: list[Trial], done: bool, *sys_info: str) -> None:
        """Display the table."""
        try:
            from IPython import get_ipython
            from IPython.display import HTML, clear_output, display
        except ImportError:
            get_ipython = None  # noqa: N806 - IPython's own name
        if get_ipython is None or get_ipython() is None:
            # Not in IPython: an HTML object would print as its repr.
            print("\n".join(self.progress_str(trials, done, *sys_info)), flush=True)
            return
        if self._overwrite:
            clear_output(wait=True)
        display(HTML("<br>".join(self.progress_str(trials, done, *sys_info, fmt="html"))))


# Above this share of the node's memory in use the memory line carries a warning (Ray's 0.9).
LOW_MEMORY_SHARE = 0.9


def memory_line() -> str:
    """The memory in use on the driver's node (Ray's status line), with a warning when little
    is left; empty when the machine does not say."""
    try:
        import psutil
    except ImportError:  # psutil comes with distributed; a line is not worth failing for
        return ""
    memory = psutil.virtual_memory()
    gib = 1024**3
    used, total = (memory.total - memory.available) / gib, memory.total / gib
    line = f"Memory usage on this node: {used:.1f}/{total:.1f} GiB"
    if total and used / total > LOW_MEMORY_SHARE:
        line += (
            ": ***LOW MEMORY*** less than 10% of this node's memory is free; trials may be "
            "killed. Run fewer trials at once (max_concurrent_trials=) or use a larger machine."
        )
    return line


def _columns(spec: ColumnSpec, name: str) -> dict[str, str] | None:
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        return {str(k): str(v) for k, v in spec.items()}
    if isinstance(spec, str) or not isinstance(spec, Sequence):
        raise TypeError(
            f"{name}= must be a list of keys or a dict of key -> header, got {spec!r}; pass "
            f'e.g. {name}=["mean_loss"].'
        )
    return {str(k): str(k) for k in spec}


def _keys_in_order(dicts: Any) -> dict[str, str]:
    keys: dict[str, str] = {}
    for d in dicts:
        for key in d:
            keys.setdefault(key, key)
    return keys


def _pick_rows(trials: list[Trial], limit: int) -> tuple[list[Trial], list[Trial]]:
    """At most ``limit`` trials, by status priority, in the order they were made."""
    if len(trials) <= limit:
        return list(trials), []
    rank = {status: i for i, status in enumerate(_STATUS_ORDER)}
    chosen = sorted(trials, key=lambda t: (rank.get(t.status, len(rank)), t.index))[:limit]
    keep = {t.trial_id for t in chosen}
    shown = [t for t in trials if t.trial_id in keep]
    return shown, [t for t in trials if t.trial_id not in keep]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (Mapping, list, tuple)):
        return str(value)
    return value


def _clock(delta: datetime.timedelta) -> str:
    seconds = delta.total_seconds()
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:05.2f}"


def _error_file(trial: Trial) -> str:
    return f"{trial.logdir.rstrip('/')}/error.txt" if trial.logdir else "error.txt"
