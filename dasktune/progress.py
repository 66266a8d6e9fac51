"""What a run prints: nothing (verbose=0), the status table and failures (1), and every result
and trial event too (2). The table comes from a ``progress_reporter`` (a ``CLIReporter`` unless
the run was given one)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from .dashboard import page_link
from .error import TuneError
from .instructions import Note, Notify
from .listeners import Listener
from .progress_reporter import ProgressReporter
from .trial import Trial


class RunPrinter:
    """Prints run events at the chosen verbosity (the status table is the reporter's)."""

    def __init__(self, verbose: int, out: TextIO | None = None) -> None:
        self.verbose = verbose
        self._out = out

    def _print(self, text: str) -> None:
        out = self._out or sys.stdout
        print(text, file=out, flush=True)

    def on_start(
        self,
        experiment_dir: str,
        num_trials: int | str,
        cluster: str,
        dashboard_link: str | None = None,
    ) -> None:
        """The run is starting; the Dask dashboard and the run's page on it, when served."""
        if self.verbose >= 1:
            self._print(f"== dasktune: {num_trials} trial(s) -> {experiment_dir} on {cluster}")
            page = page_link(dashboard_link)
            if dashboard_link and page:
                self._print(f"Dask dashboard: {dashboard_link}  ·  dasktune page: {page}")

    def on_result(self, trial: Trial, result: Mapping[str, Any]) -> None:
        """A result was logged."""
        if self.verbose >= 2:
            metrics = {
                k: v for k, v in result.items() if not isinstance(v, Mapping) and k not in _NOISE
            }
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in metrics.items())
            self._print(f"Result for {trial}: {shown}")

    def on_trial_event(self, trial: Trial, text: str, important: bool = False) -> None:
        """A trial started or ended (shown at verbose 2), or failed (``important``: verbose 1)."""
        if self.verbose >= (1 if important else 2):
            self._print(f"Trial {trial} {text}")

    def on_waiting(self, text: str) -> None:
        """The run waits for something (workers to join)."""
        if self.verbose >= 1:
            self._print(f"== dasktune: {text}")


_NOISE = frozenset(
    {
        "experiment_id",
        "date",
        "timestamp",
        "pid",
        "hostname",
        "node_ip",
        "time_since_restore",
        "iterations_since_restore",
        "timesteps_since_restore",
        "trial_id",
    }
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


class ProgressListener(Listener):
    """Prints the run's events through a :class:`RunPrinter`, and the status table through
    ``reporter`` (at verbose >= 1), with the lines ``sys_info()`` gives."""

    def __init__(
        self,
        printer: RunPrinter,
        reporter: ProgressReporter | None = None,
        sys_info: Callable[[], list[str]] = list,
    ) -> None:
        self.printer = printer
        self.progress_reporter = reporter if printer.verbose >= 1 else None
        self._sys_info = sys_info

    def on_note(self, note: Notify, trials: list[Trial], iteration: int) -> None:
        """One line per event worth telling, at the reporter's verbosity."""
        reporter, trial, info = self.printer, note.trial, note.info
        if note.kind == Note.WAITING:
            reporter.on_waiting(info["text"])
        elif trial is None:
            return
        elif note.kind == Note.RESULT:
            reporter.on_result(trial, info["result"])
        elif note.kind == Note.TRIAL_START:
            reporter.on_trial_event(trial, f"started on {info['worker']}")
        elif note.kind == Note.TRIAL_RESTORE:
            reporter.on_trial_event(
                trial, f"restored from {info['checkpoint']} on {info['worker']}"
            )
        elif note.kind == Note.TRIAL_PAUSE:
            reporter.on_trial_event(trial, f"paused at iteration {trial.training_iteration}")
        elif note.kind == Note.TRIAL_COMPLETE:
            reporter.on_trial_event(trial, f"finished after {trial.num_results} result(s)")
        elif note.kind == Note.TRIAL_ERROR:
            if info.get("retried"):
                where = f"checkpoint {trial.restore_path}" if trial.restore_path else "scratch"
                text = f"failed ({trial.num_failures} failure(s)); restarting from {where}"
            else:
                text = f"ERROR: {info['message'].strip().splitlines()[-1]}"
            reporter.on_trial_event(trial, text, important=True)

    def _report(self, trials: list[Trial], done: bool) -> None:
        reporter = self.progress_reporter
        if reporter is None:
            return
        hook = "should_report"
        try:
            if reporter.should_report(trials, done=done):
                hook = "report"
                reporter.report(trials, done, *self._sys_info())
        except Exception as exc:
            raise TuneError(
                f"progress reporter {type(reporter).__name__}.{hook}() raised "
                f"{type(exc).__name__}: {exc}; fix the reporter or leave progress_reporter= out."
            ) from exc

    def on_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """The status table when the reporter says it is due (at once, then every 5 s)."""
        self._report(trials, done=False)

    async def on_run_end(self, trials: list[Trial]) -> None:
        """The final status table."""
        self._report(trials, done=True)
