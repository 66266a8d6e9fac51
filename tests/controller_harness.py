"""Driving a bare Controller with events, as the driver would, in tests (no cluster, no clock).

Import as ``from controller_harness import ...`` (``tests/`` is on ``sys.path`` under pytest).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dasktune import events as E
from dasktune import instructions as I
from dasktune.controller import Controller
from dasktune.resources import Resources
from dasktune.search.search_algorithm import SearchAlgorithm
from dasktune.stoppers import make_stopper
from dasktune.trial import Trial


class ListSearch(SearchAlgorithm):
    """Hands out the given trials in order."""

    def __init__(self, trials: Iterable[Trial]) -> None:
        self._trials = list(trials)
        self._next = 0
        self.completed: list[tuple[str, Any, bool]] = []
        self.results: list[str] = []

    def setup_experiment(self, config, num_samples, seed, factory) -> None:
        """Nothing to set up."""

    def next_trial(self) -> Trial | None:
        if self._next >= len(self._trials):
            return None
        self._next += 1
        return self._trials[self._next - 1]

    def is_finished(self) -> bool:
        return self._next >= len(self._trials)

    def total_samples(self) -> int:
        return len(self._trials)

    def on_trial_result(self, trial_id, result) -> None:
        self.results.append(trial_id)

    def on_trial_complete(self, trial_id, result=None, error=False) -> None:
        self.completed.append((trial_id, result, error))


def make_trial(i: int, resources: Resources | None = None) -> Trial:
    """Trial ``t<i>``."""
    return Trial(
        trial_id=f"t{i}",
        index=i,
        trainable_name="T",
        config={"i": i},
        experiment_tag=str(i),
        dirname=f"T_{i}",
        resources=resources or Resources(),
    )


def make_controller(n: int = 3, trials: list[Trial] | None = None, **kwargs: Any) -> Controller:
    """A controller over ``n`` trials (or ``trials``); ``stop`` defaults to 3 iterations."""
    stop = kwargs.pop("stop", {"training_iteration": 3})
    search = kwargs.pop("search_alg", None) or ListSearch(
        trials if trials is not None else [make_trial(i) for i in range(n)]
    )
    return Controller(stopper=make_stopper(stop), search_alg=search, **kwargs)


def of(kind: type, instructions: Iterable[I.Instruction]) -> list[Any]:
    """The instructions of one kind."""
    return [i for i in instructions if isinstance(i, kind)]


def notes(instructions: Iterable[I.Instruction], kind: str | None = None) -> list[I.Notify]:
    """The Notify instructions (of one kind)."""
    return [i for i in of(I.Notify, instructions) if kind is None or i.kind == kind]


def calls(instructions: Iterable[I.Instruction]) -> list[tuple[str, str]]:
    """``(instruction name, trial id)`` of every instruction but notes, in order."""
    return [
        (type(i).__name__, i.trial.trial_id if hasattr(i, "trial") else "")
        for i in instructions
        if not isinstance(i, I.Notify)
    ]


def add_workers(c: Controller, **capacities: dict[str, float]) -> list[I.Instruction]:
    """Workers join (``name={"CPU": 2}``)."""
    return c.handle(E.WorkersChanged(dict(capacities)))


def start(c: Controller, instructions: Iterable[I.Instruction]) -> list[I.Instruction]:
    """Reply TrialStarted to every StartTrial; return what follows (Train calls)."""
    out: list[I.Instruction] = []
    for ins in of(I.StartTrial, instructions):
        out += c.handle(E.TrialStarted(ins.trial.trial_id, ins.run))
    return out


def results(c: Controller, trial: Trial, *rows: dict[str, Any]) -> list[I.Instruction]:
    """The trial's train call returns ``rows``."""
    return c.handle(E.ResultsArrived(trial.trial_id, trial.run_number, list(rows)))


@dataclass(frozen=True)
class Decision:
    """What the controller did after one result."""

    log: bool
    checkpoint: bool
    stop: bool


def step(c: Controller, trial: Trial, row: dict[str, Any]) -> Decision:
    """One result; a checkpoint it asks for is taken at once. After a stop the trial waits in
    its Stop call."""
    out = results(c, trial, row)
    log = bool(notes(out, I.Note.RESULT))
    checkpoint = bool(of(I.Save, out))
    if checkpoint:
        iteration = int(trial.last_result.get("training_iteration", 0) or 0)
        out = c.handle(E.CheckpointSaved(trial.trial_id, trial.run_number, iteration))
    return Decision(log, checkpoint, bool(of(I.Stop, out)))


def running(c: Controller, workers: int = 1, cpus: float = 100) -> list[Trial]:
    """Add workers, start what fits, and reply that every trial started."""
    out = add_workers(c, **{f"w{i}": {"CPU": cpus} for i in range(workers)})
    start(c, out)
    return [ins.trial for ins in of(I.StartTrial, out)]
