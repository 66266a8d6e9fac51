"""What a run prints: nothing (verbose=0), status lines (1), and every result too (2)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from .instructions import Note, Notify
from .listeners import Listener
from .trial import Trial

# Seconds between status lines at verbose >= 1.
STATUS_INTERVAL_S = 5.0


class ProgressReporter:
    """Prints run progress at the chosen verbosity."""

    def __init__(self, verbose: int, out: TextIO | None = None) -> None:
        self.verbose = verbose
        self._out = out
        self._last_status = 0.0

    def _print(self, text: str) -> None:
        out = self._out or sys.stdout
        print(text, file=out, flush=True)

    def on_start(self, experiment_dir: str, num_trials: int, cluster: str) -> None:
        """The run is starting."""
        if self.verbose >= 1:
            self._print(f"== dasktune: {num_trials} trial(s) -> {experiment_dir} on {cluster}")

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

    def maybe_status(self, counts: Callable[[], Mapping[str, int]], force: bool = False) -> None:
        """Print a status line if enough time passed (or ``force``); ``counts`` is only called
        then, since counting walks every trial."""
        now = time.monotonic()
        if self.verbose < 1 or (not force and now - self._last_status < STATUS_INTERVAL_S):
            return
        self._last_status = now
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts().items()))
        self._print(f"== Status: {parts}")


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
    """Prints the run's progress through a :class:`ProgressReporter`."""

    def __init__(self, reporter: ProgressReporter) -> None:
        self.reporter = reporter

    def on_note(self, note: Notify, trials: list[Trial], iteration: int) -> None:
        """One line per event worth telling, at the reporter's verbosity."""
        reporter, trial, info = self.reporter, note.trial, note.info
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

    def on_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """A status line every few seconds."""
        self.reporter.maybe_status(lambda: _counts(trials))

    async def on_run_end(self, trials: list[Trial]) -> None:
        """The final status line."""
        self.reporter.maybe_status(lambda: _counts(trials), force=True)


def _counts(trials: list[Trial]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.status] = counts.get(trial.status, 0) + 1
    return counts
