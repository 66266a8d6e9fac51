"""One contract every scheduler keeps, checked the same way for each (as Syne Tune checks its
schedulers): on the simulated backend, in simulated time, with trials that fail and a worker
that leaves, the run ends; every trial ends once, TERMINATED or (the failing ones) ERROR; no
more trials run at once than there are slots; no trial runs past its stop rule or starts over;
the searcher hears of every trial's end exactly once; and the scheduler pickles with its trials
(resume)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from controller_harness import ListSearch, make_controller, make_trial
from test_schedulers import learning_curve, run_loop, workers

from dasktune.backend.protocol import TrialCodeError
from dasktune.backend.simulated import ScriptedTrainable, SimulatedBackend
from dasktune.controller import CheckpointPolicy, FailurePolicy
from dasktune.experiment_state import restore_run_objects, run_objects_record
from dasktune.schedulers import (
    PB2,
    AsyncHyperBandScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
    TrialScheduler,
)
from dasktune.search.sample import uniform
from dasktune.trial import TrialStatus

MAX_T = 9
N_TRIALS = 40
SLOTS = 4
FAILING = {"t5": 1, "t17": 1}  # trial id -> the iteration whose train call raises

SCHEDULERS: dict[str, Callable[[], TrialScheduler]] = {
    "fifo": FIFOScheduler,
    "asha": lambda: AsyncHyperBandScheduler(
        metric="loss", mode="min", max_t=MAX_T, grace_period=1, reduction_factor=3
    ),
    "median": lambda: MedianStoppingRule(
        metric="loss",
        mode="min",
        time_attr="training_iteration",
        grace_period=2,
        min_samples_required=3,
    ),
    "hyperband": lambda: HyperBandScheduler(
        metric="loss", mode="min", max_t=MAX_T, reduction_factor=3
    ),
    "pbt": lambda: PopulationBasedTraining(
        metric="loss",
        mode="min",
        time_attr="training_iteration",
        perturbation_interval=2,
        hyperparam_mutations={"lr": uniform(0.001, 0.1)},
        seed=0,
    ),
    "pbt-synch": lambda: PopulationBasedTraining(
        metric="loss",
        mode="min",
        time_attr="training_iteration",
        perturbation_interval=3,
        hyperparam_mutations={"lr": [0.001, 0.01, 0.1]},
        synch=True,
        seed=0,
    ),
    "pb2": lambda: PB2(
        metric="loss",
        mode="min",
        time_attr="training_iteration",
        perturbation_interval=3,
        hyperparam_bounds={"lr": [0.001, 0.1]},
        seed=0,
    ),
}
# Schedulers whose trials continue from another trial's checkpoint (their iteration jumps).
EXPLOITING = {"pbt", "pbt-synch", "pb2"}


class PeakHosted(SimulatedBackend):
    """Records the most trials hosted at once."""

    peak = 0

    async def start(self, trial, run, placement, restore):
        out = await super().start(trial, run, placement, restore)
        self.peak = max(self.peak, len(self.hosted))
        return out


def _run(name: str, lose_worker: bool):
    scheduler = SCHEDULERS[name]()
    search = ListSearch([make_trial(i) for i in range(N_TRIALS)])
    controller = make_controller(
        search_alg=search,
        scheduler=scheduler,
        stop={"training_iteration": MAX_T},
        # A lost worker's trials retry from their newest checkpoint; code that raises every
        # time ends in ERROR after the retries.
        failure_policy=FailurePolicy(max_failures=2),
        checkpoint_policy=CheckpointPolicy(freq=2),
    )
    backend: PeakHosted

    def fault(method, trial):
        hosted = backend.hosted.get(trial.trial_id)
        if method == "train" and hosted is not None:
            if FAILING.get(trial.trial_id) == hosted.iteration + 1:
                raise TrialCodeError("simulated: boom")
            if lose_worker and backend.clock.now() > 5 and "w3" in backend.workers:
                del backend.workers["w3"]  # one worker leaves, for good, mid-run

    backend = PeakHosted(workers(SLOTS), ScriptedTrainable(learning_curve), fault=fault)
    rows = run_loop(controller, backend)
    return scheduler, search, controller, backend, rows


@pytest.mark.parametrize("lose_worker", [False, True], ids=["steady", "worker-lost"])
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_keeps_the_contract(name, lose_worker):
    scheduler, search, controller, backend, rows = _run(name, lose_worker)
    status = {t.trial_id: t.status for t in controller.trials}
    assert len(status) == N_TRIALS
    for trial_id in FAILING:
        assert status.pop(trial_id) == TrialStatus.ERROR
    assert set(status.values()) == {TrialStatus.TERMINATED}, name
    assert not backend.hosted and backend.peak <= SLOTS
    # Every trial's end reached the searcher once.
    ended = sorted(trial_id for trial_id, _, _ in search.completed)
    assert ended == sorted(t.trial_id for t in controller.trials)
    for trial_id, trial_rows in rows.rows.items():
        iterations = [r["training_iteration"] for r in trial_rows]
        assert max(iterations) <= MAX_T, (name, trial_id, iterations)
        if not lose_worker and name not in EXPLOITING:
            # Paused and resumed or not, a trial never starts over or repeats an iteration.
            assert iterations == list(range(1, len(iterations) + 1)), (name, trial_id)
        else:
            # A trial on the lost worker (or one that cloned another's checkpoint) goes on
            # from that checkpoint: it ends at the furthest iteration it reached.
            assert iterations[-1] == max(iterations)
    restored, trials = restore_run_objects(
        run_objects_record(scheduler, controller.trials), type(scheduler)
    ) or (scheduler, controller.trials)
    assert restored.debug_string() and len(trials) == N_TRIALS


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_handles_a_large_population(name):
    """The scheduler's bookkeeping stays cheap: 1,000 trials in simulated time (200 for the
    population-based ones, whose every decision looks at the whole population, as in Ray, and
    PB2's explores each fit a GP)."""
    n = 200 if name in EXPLOITING else 1000
    scheduler = SCHEDULERS[name]()
    controller = make_controller(n, scheduler=scheduler, stop={"training_iteration": MAX_T})
    backend = SimulatedBackend(workers(16), ScriptedTrainable(learning_curve))
    rows = run_loop(controller, backend)
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    assert len(rows.rows) == n
