"""A :class:`~dasktune.backend.protocol.TrialBackend` with scripted trainables in simulated
time: the whole driver loop (controller, driver, listeners) runs with no cluster, so schedulers
and failure handling are tested in seconds for thousands of trials.

Each trial's trainable is a :class:`ScriptedTrainable`: what it reports at each iteration and
how long a step takes on the :class:`SimulatedClock`. Checkpoints are kept in memory by URL.
Tests inject faults with ``fault``: called before every call with ``(method, trial)``, it may
raise :class:`WorkerLost` or :class:`TrialCodeError` (or remove a worker) to simulate them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import result as R
from ..driver import Clock
from ..ledger import Placement
from ..result_batching import Batch
from ..trial import Trial
from .protocol import Committed, TrialCodeError, WorkerLost

# How many loop turns an idle wait yields before it moves simulated time on.
_IDLE_YIELDS = 3


class SimulatedClock(Clock):
    """Simulated seconds: they pass when a step runs and when the driver waits idle."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        """The simulated time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time on."""
        self._now += seconds

    async def wait(self, event: asyncio.Event, timeout: float) -> None:
        """Let the calls in flight run; if none sets ``event``, ``timeout`` seconds pass."""
        for _ in range(_IDLE_YIELDS):
            if event.is_set():
                return
            await asyncio.sleep(0)
        if not event.is_set():
            self._now += timeout


@dataclass
class ScriptedTrainable:
    """A simulated trainable: ``metrics(config, iteration)`` is its result at each iteration;
    each step takes ``step_seconds`` of simulated time.

    With ``step``, the trainable has a state that checkpoints carry (PBT clones it):
    ``step(state, config, iteration) -> (state, metrics)``, starting from ``initial_state``.
    ``reset_config``: whether a kept trainable takes a new config in place (``reuse_actors``);
    the backend then answers ``"reset"`` to a start of a trial whose last run it hosted."""

    metrics: Callable[[dict[str, Any], int], dict[str, Any]] = lambda config, i: {}
    step_seconds: float = 1.0
    step: Callable[[Any, dict[str, Any], int], tuple[Any, dict[str, Any]]] | None = None
    initial_state: Any = None
    reset_config: bool = False


@dataclass
class SimulatedTrial:
    """A trial as the simulated cluster hosts it."""

    worker: str
    iteration: int = 0
    since_restore: int = 0
    state: Any = None
    starts: list[tuple[str, str | None]] = field(default_factory=list)


Fault = Callable[[str, Trial], None]


class SimulatedBackend:
    """Hosts scripted trainables on simulated workers."""

    def __init__(
        self,
        workers: dict[str, dict[str, float]],
        trainable: ScriptedTrainable | Callable[[Trial], ScriptedTrainable],
        clock: SimulatedClock | None = None,
        fault: Fault | None = None,
    ) -> None:
        self.workers = {w: dict(c) for w, c in workers.items()}
        self._trainable = trainable
        self.clock = clock or SimulatedClock()
        self.fault = fault
        self.hosted: dict[str, SimulatedTrial] = {}
        self.checkpoints: dict[str, dict[str, int]] = {}  # trial id -> url -> iteration
        self.states: dict[str, Any] = {}  # url -> the trainable's state saved there
        self.starts: list[
            tuple[str, str | None, dict[str, Any], str]
        ] = []  # id, restore, config, how
        self.history: list[tuple[str, str, int]] = []  # (method, trial id, run)
        self.usage: list[tuple[frozenset[str], int]] = []
        self.deleted: list[str] = []
        self.closed = False
        self._kept: dict[str, bool] = {}

    def _script(self, trial: Trial) -> ScriptedTrainable:
        if isinstance(self._trainable, ScriptedTrainable):
            return self._trainable
        return self._trainable(trial)

    async def _enter(self, method: str, trial: Trial) -> SimulatedTrial | None:
        await asyncio.sleep(0)  # every call yields, as a network round trip would
        self.history.append((method, trial.trial_id, trial.run_number))
        if self.fault is not None:
            self.fault(method, trial)
        hosted = self.hosted.get(trial.trial_id)
        if hosted is not None and hosted.worker not in self.workers:
            raise WorkerLost(hosted.worker, "simulated: it left the cluster")
        return hosted

    async def install_protection(self) -> str | None:
        """Nothing to install."""
        return None

    async def worker_capacities(self) -> dict[str, dict[str, float]]:
        """The simulated workers now."""
        return {w: dict(c) for w, c in self.workers.items()}

    async def report_usage(self, workers: frozenset[str], demand: int) -> str | None:
        """Recorded in ``usage``."""
        self.usage.append((workers, demand))
        return None

    async def start(self, trial: Trial, run: int, placement: Placement, restore: str | None) -> str:
        """Host the trial on its worker, at the iteration of ``restore``."""
        await self._enter("start", trial)
        if placement.worker not in self.workers:
            raise WorkerLost(placement.worker, "simulated: it left the cluster")
        script = self._script(trial)
        hosted = SimulatedTrial(worker=placement.worker, state=script.initial_state)
        if restore is not None:
            # Any trial's checkpoint: a PBT receiver restores its donor's.
            owner = next((s for s in self.checkpoints.values() if restore in s), None)
            if owner is None:
                raise TrialCodeError(f"simulated: no checkpoint at {restore}")
            hosted.iteration = owner[restore]
            hosted.state = self.states.get(restore, script.initial_state)
        hosted.starts.append((placement.worker, restore))
        self.hosted[trial.trial_id] = hosted
        # A trainable its last run left stopped gracefully is kept (as with reuse_actors).
        kept = self._kept.pop(trial.trial_id, False)
        how = "reset" if script.reset_config and kept else "new"
        self.starts.append((trial.trial_id, restore, dict(trial.config), how))
        return how

    async def train(self, trial: Trial) -> Batch:
        """One step: the script's metrics plus Ray's automatic fields."""
        hosted = await self._enter("train", trial)
        if hosted is None:
            raise TrialCodeError(f"simulated: {trial} is not hosted")
        script = self._script(trial)
        self.clock.advance(script.step_seconds / max(1, len(self.hosted)))
        hosted.iteration += 1
        hosted.since_restore += 1
        metrics = script.metrics(trial.config, hosted.iteration)
        if script.step is not None:
            hosted.state, extra = script.step(hosted.state, trial.config, hosted.iteration)
            metrics = {**metrics, **extra}
        result = {
            R.DONE: False,
            **metrics,
            R.TRAINING_ITERATION: hosted.iteration,
            R.ITERATIONS_SINCE_RESTORE: hosted.since_restore,
            R.TRIAL_ID: trial.trial_id,
            R.TIMESTAMP: self.clock.now(),
        }
        return Batch([result])

    async def save(self, trial: Trial, commit: bool = False) -> tuple[Committed, int]:
        """A committed checkpoint at the current iteration (always committed at once)."""
        hosted = await self._enter("save", trial)
        if hosted is None:
            raise TrialCodeError(f"simulated: {trial} is not hosted")
        url = f"sim://{trial.trial_id}/checkpoint_{hosted.iteration}"
        self.checkpoints.setdefault(trial.trial_id, {})[url] = hosted.iteration
        self.states[url] = hosted.state
        return [(url, hosted.iteration)], hosted.iteration

    async def finish(self, trial: Trial) -> Committed:
        """Stop the trial's trainable."""
        await self._enter("finish", trial)
        self.hosted.pop(trial.trial_id, None)
        self._kept[trial.trial_id] = True
        return []

    async def stop(self, trial: Trial) -> tuple[Committed, bool]:
        """Best effort: never raises."""
        self.history.append(("stop", trial.trial_id, trial.run_number))
        hosted = self.hosted.pop(trial.trial_id, None)
        return [], hosted is None or hosted.worker in self.workers

    def abandon(self, trial: Trial) -> None:
        """Forget the trial's host."""
        self.history.append(("abandon", trial.trial_id, trial.run_number))
        self.hosted.pop(trial.trial_id, None)

    def delete_checkpoint(self, url: str) -> None:
        """Forget a stored checkpoint (``deleted`` records it)."""
        self.deleted.append(url)
        for saved in self.checkpoints.values():
            saved.pop(url, None)

    async def find_checkpoint(
        self, trial: Trial, iterations: frozenset[int]
    ) -> tuple[str, int] | None:
        """Newest stored checkpoint among ``iterations``."""
        saved = [(i, url) for url, i in self.checkpoints.get(trial.trial_id, {}).items()]
        ours = sorted((i, url) for i, url in saved if i in iterations)
        return (ours[-1][1], ours[-1][0]) if ours else None

    async def close(self, stop_timeout: float | None = None) -> None:
        """Drop every host."""
        self.hosted.clear()
        self.closed = True
