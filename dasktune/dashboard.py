"""The driver's side of the ``/dasktune`` page: what changed, pushed to the scheduler plugin.

A result only appends ``(training_iteration, metric)`` to its trial's pending curve (a list
append on the driver, no message). On the housekeeping tick, at most every
:data:`PUSH_INTERVAL_S`, one update goes to the scheduler with the trials whose status, worker
or iteration changed since the last update that arrived, and their new curve points; one push
at a time, and a push that fails is merged into the next one. At the end of the run a final
update marks the run ended, and the scheduler keeps it for the page.
"""

from __future__ import annotations

import asyncio
import math
import numbers
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .backend.page_state import thin
from .instructions import Note, Notify
from .listeners import Listener
from .progress_reporter import AUTO_KEYS
from .stoppers import MISSING, lookup
from .trial import Trial
from .utils.dicts import flatten_dict

# Seconds between updates to the scheduler while the run goes.
PUSH_INTERVAL_S = 1.0
# How long the final update may take at the end of the run.
FINAL_PUSH_TIMEOUT_S = 5.0
# Curve points a trial keeps while they wait to be sent (thinned past it, like the page's).
MAX_PENDING_POINTS = 1000
# The page shows the run's metric and at most this many other metrics per trial.
MAX_METRICS = 6
# A trial's config is shown as one line of at most this many characters.
MAX_CONFIG_CHARS = 200

# Sends an update: True when it arrived, False when it may later, None when it never will.
Send = Callable[[dict[str, Any]], Awaitable[bool | None]]


def page_link(dashboard_link: str | None) -> str | None:
    """The page's address next to Dask's dashboard (``.../status`` -> ``.../dasktune``)."""
    if not dashboard_link:
        return None
    base, _, last = dashboard_link.rstrip("/").rpartition("/")
    return f"{base}/dasktune" if last == "status" else f"{dashboard_link.rstrip('/')}/dasktune"


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)


def _config_line(config: Mapping[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in flatten_dict(config, delimiter="/").items())
    return text if len(text) <= MAX_CONFIG_CHARS else text[: MAX_CONFIG_CHARS - 1] + "…"


class DashboardListener(Listener):
    """Keeps the scheduler's ``/dasktune`` page up to date with this run's trials."""

    def __init__(
        self,
        send: Send,
        name: str,
        logdir: str,
        metric: str | None = None,
        mode: str | None = None,
        push_interval: float = PUSH_INTERVAL_S,
    ) -> None:
        self._send = send
        self._meta: dict[str, Any] = {"name": name, "logdir": logdir, "metric": metric}
        if mode is not None:
            self._meta["mode"] = mode
        self._metric = metric
        self._push_interval = push_interval
        self._last_push = -math.inf
        self._points: dict[str, list[list[float]]] = {}
        # What the scheduler has of each trial: (status, worker, iteration, results).
        self._sent: dict[str, tuple[Any, ...]] = {}
        self._pushing: asyncio.Future[bool | None] | None = None
        # The scheduler cannot take updates: nothing more is kept or sent.
        self._off = False

    # -- per result: one list append -------------------------------------------------------------
    def on_note(self, note: Notify, trials: list[Trial], iteration: int) -> None:
        """A result adds a point to its trial's curve."""
        if self._off or note.kind != Note.RESULT or note.trial is None:
            return
        result = note.info["result"]
        if self._metric is None:
            self._metric = self._infer_metric(result)
            if self._metric is None:
                return
            self._meta["metric"] = self._metric
        value = _number(lookup(result, self._metric))
        step = _number(result.get("training_iteration"))
        if value is None or step is None:
            return
        points = self._points.setdefault(note.trial.trial_id, [])
        points.append([step, value])
        if len(points) > MAX_PENDING_POINTS:
            self._points[note.trial.trial_id] = thin(points, MAX_PENDING_POINTS // 2)

    @staticmethod
    def _infer_metric(result: Mapping[str, Any]) -> str | None:
        """The run has no ``metric``: the first number the trainable reports of its own."""
        for key, value in result.items():
            if key not in AUTO_KEYS and _number(value) is not None:
                return key
        return None

    # -- per tick: at most one update a second -------------------------------------------------
    def after_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """Push what changed, if the last push is done and one is due."""
        if self._off or self._pushing is not None or now - self._last_push < self._push_interval:
            return
        self._last_push = now
        self._push(trials, ended=False)

    def _push(self, trials: list[Trial], ended: bool) -> asyncio.Future[bool | None] | None:
        update, sent, points = self._update(trials, ended)
        if update is None:
            return None

        async def push() -> bool | None:
            try:
                delivered = await self._send(update)
            except Exception:  # noqa: BLE001 - the page is best effort; the run goes on
                delivered = False
            if delivered is None:
                self._off = True
                self._points.clear()
            elif delivered:
                self._sent.update(sent)
            else:  # sent again with the next update, before anything newer
                for trial_id, old in points.items():
                    self._points[trial_id] = old + self._points.get(trial_id, [])
            return delivered

        self._pushing = asyncio.ensure_future(push())
        self._pushing.add_done_callback(self._pushed)
        return self._pushing

    def _pushed(self, _: asyncio.Future[bool | None]) -> None:
        self._pushing = None

    def _update(
        self, trials: list[Trial], ended: bool
    ) -> tuple[dict[str, Any] | None, dict[str, tuple[Any, ...]], dict[str, list[list[float]]]]:
        items: list[dict[str, Any]] = []
        sent: dict[str, tuple[Any, ...]] = {}
        points: dict[str, list[list[float]]] = {}
        for trial in trials:
            trial_id = trial.trial_id
            key = (trial.status, trial.location, trial.training_iteration, trial.num_results)
            previous = self._sent.get(trial_id)
            new_points = self._points.pop(trial_id, None)
            if previous == key and not new_points:
                continue
            item: dict[str, Any] = {
                "id": trial_id,
                "status": trial.status,
                "worker": trial.location or "",
                "iterations": trial.training_iteration,
                "total_time": _number(trial.last_result.get("time_total_s")),
                "metrics": self._metrics(trial.last_result),
            }
            if previous is None:
                item["name"] = str(trial)
                item["config"] = _config_line(trial.config)
            if new_points:
                item["points"] = new_points
                points[trial_id] = new_points
            items.append(item)
            sent[trial_id] = key
        if not items and not ended:
            return None, sent, points
        return {"meta": dict(self._meta), "trials": items, "ended": ended}, sent, points

    def _metrics(self, result: Mapping[str, Any]) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        if self._metric is not None:
            value = lookup(result, self._metric)
            if value is not MISSING and _number(value) is not None:
                metrics[self._metric] = _number(value)
        for key, value in result.items():
            if len(metrics) > MAX_METRICS:
                break
            if key not in AUTO_KEYS and key not in metrics and _number(value) is not None:
                metrics[key] = _number(value)
        return metrics

    # -- the end ------------------------------------------------------------------------------
    async def on_run_end(self, trials: list[Trial]) -> None:
        """The last state, marked ended, within :data:`FINAL_PUSH_TIMEOUT_S`."""
        if self._pushing is not None:
            await asyncio.wait({self._pushing}, timeout=FINAL_PUSH_TIMEOUT_S)
        self._pushing = None
        if self._off:
            return
        final = self._push(trials, ended=True)
        if final is not None:
            await asyncio.wait({final}, timeout=FINAL_PUSH_TIMEOUT_S)
