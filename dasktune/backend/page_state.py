"""What the scheduler keeps for the ``/dasktune`` page: each run's trials and learning curves.

Runs push updates (only what changed since their last push, see :mod:`dasktune.dashboard`);
this store merges them and keeps the last state after a run has ended, so the page still shows
it once the driver is gone. Memory stays bounded: at most :data:`MAX_RUNS` runs (the oldest
ended ones go first) and at most :data:`MAX_POINTS` curve points per trial (when a curve grows
past it, every other point is dropped). Pure: no Dask, no I/O.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

MAX_RUNS = 20
MAX_POINTS = 400


def thin(points: list[list[float]], limit: int) -> list[list[float]]:
    """``points`` with every other one dropped until at most ``limit`` remain; the newest point
    is always kept, so a curve still ends where the trial is."""
    while len(points) > limit:
        last = points[-1]
        points = points[::2]
        if points[-1] is not last:
            points.append(last)
    return points


@dataclass
class TrialView:
    """One trial as the page shows it."""

    trial_id: str
    name: str = ""
    status: str = "PENDING"
    worker: str = ""
    iterations: int = 0
    total_time: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    config: str = ""
    points: list[list[float]] = field(default_factory=list)


@dataclass
class RunView:
    """One run (experiment) as the page shows it."""

    run_id: str
    name: str = ""
    logdir: str = ""
    metric: str | None = None
    mode: str | None = None
    started: float = 0.0
    updated: float = 0.0
    ended: bool = False
    trials: dict[str, TrialView] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Trials per status."""
        counts: dict[str, int] = {}
        for trial in self.trials.values():
            counts[trial.status] = counts.get(trial.status, 0) + 1
        return counts


class PageState:
    """Every run's view, merged from the runs' updates."""

    def __init__(self, max_runs: int = MAX_RUNS, max_points: int = MAX_POINTS) -> None:
        self.runs: dict[str, RunView] = {}
        self.max_runs = max_runs
        self.max_points = max_points

    def update(self, run_id: str, update: dict[str, Any]) -> None:
        """Merge one run's update: ``meta`` (name, logdir, metric, mode), ``trials`` (each with
        ``id`` and the fields that changed, ``points`` to append) and ``ended``."""
        now = time.time()
        run = self.runs.get(run_id)
        if run is None:
            run = self.runs[run_id] = RunView(run_id=run_id, started=now, updated=now)
            self._forget_old()
        run.updated = now
        meta = update.get("meta") or {}
        for key in ("name", "logdir", "metric", "mode"):
            if meta.get(key) is not None:
                setattr(run, key, meta[key])
        for item in update.get("trials") or ():
            trial_id = str(item["id"])
            trial = run.trials.get(trial_id)
            if trial is None:
                trial = run.trials[trial_id] = TrialView(trial_id=trial_id)
            for key in ("name", "status", "worker", "iterations", "total_time", "config"):
                if key in item:
                    setattr(trial, key, item[key])
            if "metrics" in item:
                trial.metrics = dict(item["metrics"])
            points = item.get("points")
            if points:
                trial.points = thin(trial.points + [list(p) for p in points], self.max_points)
        if update.get("ended"):
            run.ended = True

    def _forget_old(self) -> None:
        """Drop runs past ``max_runs``: ended ones first, oldest first."""
        while len(self.runs) > self.max_runs:
            by_age = sorted(self.runs.values(), key=lambda r: (not r.ended, r.updated))
            del self.runs[by_age[0].run_id]

    def newest_first(self) -> list[RunView]:
        """The runs, most recently started first."""
        return sorted(self.runs.values(), key=lambda r: r.started, reverse=True)
