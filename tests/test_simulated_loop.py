"""The whole loop (controller, driver, listeners) on the simulated backend: no cluster, simulated
time, thousands of trials in seconds."""

from __future__ import annotations

import asyncio
import tracemalloc

from controller_harness import make_controller, make_trial

from dasktune.backend.protocol import WorkerLost
from dasktune.backend.simulated import ScriptedTrainable, SimulatedBackend
from dasktune.callback import Callback, CallbackListener
from dasktune.controller import FailurePolicy
from dasktune.driver import Driver
from dasktune.listeners import Listeners
from dasktune.schedulers import FIFOScheduler
from dasktune.search.search_algorithm import BasicVariantGenerator
from dasktune.trial import Trial, TrialStatus


def run_loop(controller, backend, callbacks=()):
    driver = Driver(
        controller,
        backend,
        storage=None,
        listeners=Listeners([CallbackListener(list(callbacks))]),
        build_state=dict,
        clock=backend.clock,
    )
    asyncio.run(driver.run())
    return driver


def workers(n, cpus=1):
    return {f"w{i}": {"CPU": cpus} for i in range(n)}


class Rows(Callback):
    """Records every result, per trial, as the driver hands them to callbacks."""

    def __init__(self):
        self.rows: dict[str, list[dict]] = {}
        self.ends: list[str] = []

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.rows.setdefault(trial.trial_id, []).append(result)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.ends.append(trial.trial_id)


def test_ten_thousand_trials_in_simulated_time():
    trials = [make_trial(i) for i in range(10_000)]
    controller = make_controller(trials=trials, stop={"training_iteration": 2})
    backend = SimulatedBackend(workers(8, cpus=4), ScriptedTrainable(lambda c, i: {"x": i}))
    rows = Rows()
    run_loop(controller, backend, [rows])
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    assert len(rows.ends) == 10_000
    assert all([r["training_iteration"] for r in v] == [1, 2] for v in rows.rows.values())
    assert backend.closed and not backend.hosted


def test_driver_memory_stays_flat_with_a_billion_samples_and_a_time_budget():
    search = BasicVariantGenerator()
    made: list[Trial] = []

    def factory(config, tag):
        made.append(make_trial(len(made)))
        return made[-1]

    search.setup_experiment({}, num_samples=10**9, seed=0, factory=factory)
    controller = make_controller(search_alg=search, stop={"training_iteration": 1})
    controller.time_budget_s = 500  # simulated seconds
    backend = SimulatedBackend(workers(4), ScriptedTrainable(step_seconds=1.0))
    tracemalloc.start()
    run_loop(controller, backend)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert controller.stopping_all
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    # Only the trials that could run were made: thousands, not a billion.
    assert 500 < len(made) < 5_000
    assert peak < 200 * 2**20


class PauseAllAtTwoResumeInReverse(FIFOScheduler):
    """Written with Ray 0.8's signatures: every trial pauses at iteration 2; once every trial
    has paused, they resume one at a time, newest first."""

    def __init__(self):
        self.paused_once: set[str] = set()
        self.resumed: list[str] = []

    def on_trial_result(self, trial_runner, trial, result):
        if result["training_iteration"] == 2 and trial.trial_id not in self.paused_once:
            self.paused_once.add(trial.trial_id)
            return self.PAUSE
        return self.CONTINUE

    def choose_trial_to_run(self, trial_runner):
        trials = trial_runner.get_trials()
        for trial in trials:
            if trial.status == TrialStatus.PENDING and trial_runner.has_resources(trial.resources):
                return trial
        if any(t.status == TrialStatus.RUNNING for t in trials):
            return None
        for trial in reversed(trials):
            if trial.status == TrialStatus.PAUSED and trial_runner.has_resources(trial.resources):
                self.resumed.append(trial.trial_id)
                return trial
        return None


def test_a_scheduler_pauses_every_trial_and_resumes_them_in_reverse_order():
    scheduler = PauseAllAtTwoResumeInReverse()
    controller = make_controller(20, scheduler=scheduler, stop={"training_iteration": 4})
    backend = SimulatedBackend(workers(2), ScriptedTrainable())
    rows = Rows()
    run_loop(controller, backend, [rows])
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    assert scheduler.resumed == [f"t{i}" for i in range(19, -1, -1)]
    for trial_id, trial_rows in rows.rows.items():
        # The paused trial went on from its checkpoint: iterations 1, 2, then 3, 4.
        assert [r["training_iteration"] for r in trial_rows] == [1, 2, 3, 4], trial_id
        assert [r["iterations_since_restore"] for r in trial_rows] == [1, 2, 1, 2]
    assert not backend.hosted  # every host was released


def test_replies_of_an_abandoned_run_never_reach_the_trial():
    """A worker leaves while a train call is in flight there; the call is abandoned and the
    trial restarts elsewhere; the old call's late reply is dropped."""
    release = asyncio.Event()
    state = {"removed": False}
    backend: SimulatedBackend

    class Slow(SimulatedBackend):
        async def train(self, trial):
            if trial.trial_id == "t0" and trial.run_number == 1 and not state["removed"]:
                state["removed"] = True
                del self.workers["w0"]  # the next poll sees it gone
                await release.wait()  # never answers before being abandoned
            return await super().train(trial)

    backend = Slow(workers(2), ScriptedTrainable())
    controller = make_controller(
        2, stop={"training_iteration": 3}, failure_policy=FailurePolicy(max_failures=1)
    )
    rows = Rows()
    run_loop(controller, backend, [rows])
    t0 = controller.trials[0]
    assert t0.status == TrialStatus.TERMINATED and t0.num_failures == 1
    assert ("abandon", "t0", 1) in backend.history
    assert [r["training_iteration"] for r in rows.rows["t0"]] == [1, 2, 3]


def _lose_worker_once(method, trial_id, when):
    fired = set()

    def fault(name, trial):
        if name == method and trial.trial_id == trial_id and when(trial) and not fired:
            fired.add(True)
            raise WorkerLost("w0", "simulated crash")

    return fault


def test_worker_lost_during_a_save_retries_from_the_newest_checkpoint():
    controller = make_controller(
        1, stop={"training_iteration": 4}, failure_policy=FailurePolicy(max_failures=1)
    )
    controller.checkpoint_policy = type(controller.checkpoint_policy)(freq=1)
    backend = SimulatedBackend(
        workers(1),
        ScriptedTrainable(),
        fault=_lose_worker_once("save", "t0", lambda t: bool(t.checkpoint)),
    )
    rows = Rows()
    run_loop(controller, backend, [rows])
    (t,) = controller.trials
    assert t.status == TrialStatus.TERMINATED and t.num_failures == 1
    # Saved at 1, lost while saving 2: it went on from checkpoint 1.
    assert [r["training_iteration"] for r in rows.rows["t0"]] == [1, 2, 2, 3, 4]


def test_worker_lost_during_a_pause_and_during_a_resume():
    for method, when in (
        ("save", lambda t: t.training_iteration == 2),  # the save that pauses it
        ("start", lambda t: t.restore_path is not None),  # the start that resumes it
    ):
        scheduler = PauseAllAtTwoResumeInReverse()
        controller = make_controller(
            2,
            scheduler=scheduler,
            stop={"training_iteration": 4},
            failure_policy=FailurePolicy(max_failures=2),
        )
        backend = SimulatedBackend(
            workers(1), ScriptedTrainable(), fault=_lose_worker_once(method, "t0", when)
        )
        rows = Rows()
        run_loop(controller, backend, [rows])
        assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}, method
        assert rows.rows["t0"][-1]["training_iteration"] == 4, method
