"""The controller alone: events in, instructions out (no cluster, no clock)."""

from __future__ import annotations

import pytest
from controller_harness import (
    Decision,
    ListSearch,
    add_workers,
    calls,
    make_controller,
    make_trial,
    notes,
    of,
    results,
    running,
    start,
    step,
)

from dasktune import events as E
from dasktune import instructions as I
from dasktune.checkpoint_book import RetentionPolicy
from dasktune.controller import (
    PENDING_CAP,
    QUARANTINE_S,
    CheckpointPolicy,
    FailurePolicy,
    StopCriterionError,
)
from dasktune.error import TuneError
from dasktune.resources import Resources
from dasktune.schedulers import FIFOScheduler, TrialScheduler
from dasktune.search.search_algorithm import BasicVariantGenerator
from dasktune.stoppers import Stopper
from dasktune.trial import Trial, TrialStatus


# -- starting trials ---------------------------------------------------------------------------
def test_start_order_and_capacity():
    c = make_controller(5)
    out = add_workers(c, w={"CPU": 2})
    assert calls(out) == [("StartTrial", "t0"), ("StartTrial", "t1")]
    assert [n.kind for n in notes(out)] == ["trial_start", "trial_start"]
    assert c.num_running == 2
    assert all(ins.placement.worker == "w" for ins in of(I.StartTrial, out))
    assert calls(start(c, out)) == [("Train", "t0"), ("Train", "t1")]


def test_trials_are_made_only_as_they_can_start():
    search = BasicVariantGenerator()
    made = []

    def factory(config, tag):
        made.append(make_trial(len(made)))
        return made[-1]

    search.setup_experiment({}, num_samples=10**9, seed=0, factory=factory)
    c = make_controller(search_alg=search)
    add_workers(c, w={"CPU": 4})
    # Four start, a few wait (in case one of another shape could fit): memory does not grow
    # with num_samples.
    assert c.num_running == 4 and c.num_pending == PENDING_CAP
    assert len(made) == 4 + PENDING_CAP


def test_shapes_do_not_block_each_other():
    c = make_controller(trials=[make_trial(0, Resources(gpu=1)), make_trial(1)])
    out = add_workers(c, w={"CPU": 4})
    assert calls(out) == [("StartTrial", "t1")]


def test_max_concurrent_trials():
    c = make_controller(4, max_concurrent_trials=1)
    assert len(of(I.StartTrial, add_workers(c, w={"CPU": 8}))) == 1


# -- results -----------------------------------------------------------------------------------
def test_stop_rule_then_the_trial_completes():
    c = make_controller(1)
    (t,) = running(c)
    assert step(c, t, {"training_iteration": 1}) == Decision(True, False, False)
    assert step(c, t, {"training_iteration": 2}) == Decision(True, False, False)
    assert step(c, t, {"training_iteration": 3}) == Decision(True, False, True)
    out = c.handle(E.TrialStopped(t.trial_id, t.run_number))
    assert [n.kind for n in notes(out)] == ["trial_complete"]
    assert t.status == TrialStatus.TERMINATED and c.is_finished
    assert c.search_alg.completed == [("t0", t.last_result, False)]


def test_the_result_that_ends_a_trial_is_marked_done():
    c = make_controller(1)
    (t,) = running(c)
    rows = [{"training_iteration": i, "done": False} for i in (1, 2, 3)]
    assert [step(c, t, row).stop for row in rows] == [False, False, True]
    # In place, before the driver logs the row; the trial's last result is that row.
    assert [row["done"] for row in rows] == [False, False, True]
    assert t.last_result is rows[-1]


def test_scheduler_stop_and_stop_all_mark_the_result_done():
    class StopAtTwo(FIFOScheduler):
        def on_trial_result(self, trial_runner, trial, result):
            return self.STOP if result["training_iteration"] == 2 else self.CONTINUE

    c = make_controller(1, stop=None, scheduler=StopAtTwo())
    (t,) = running(c)
    first, second = {"training_iteration": 1, "done": False}, {"training_iteration": 2}
    assert not step(c, t, first).stop and first["done"] is False
    assert step(c, t, second).stop and second["done"] is True

    class StopAll(Stopper):
        def __call__(self, trial_id, result):
            return False

        def stop_all(self):
            return True

    c = make_controller(1, stop=StopAll())
    (t,) = running(c)
    row = {"training_iteration": 1, "done": False}
    assert step(c, t, row).stop and row["done"] is True
    assert c.stopping_all


def test_done_and_duplicate_results():
    c = make_controller(1, stop=None)
    (t,) = running(c)
    assert step(c, t, {"x": 1, "done": True}).stop
    c = make_controller(1, stop=None)
    (t,) = running(c)
    step(c, t, {"x": 5, "training_iteration": 1})
    assert step(c, t, {"__duplicate__": True, "done": True}) == Decision(False, False, True)
    assert t.last_result == {"x": 5, "training_iteration": 1, "done": True}
    assert t.num_results == 1


def test_checkpoint_policy():
    c = make_controller(1, stop=None, checkpoint_policy=CheckpointPolicy(freq=2, at_end=True))
    (t,) = running(c)
    flags = [step(c, t, {"training_iteration": i}).checkpoint for i in (1, 2, 3, 4)]
    assert flags == [False, True, False, True]
    assert step(c, t, {"training_iteration": 5, "should_checkpoint": True}).checkpoint
    assert step(c, t, {"training_iteration": 7, "done": True}) == Decision(True, True, True)


def test_checkpoint_at_end_saves_before_stopping():
    c = make_controller(1, checkpoint_policy=CheckpointPolicy(at_end=True))
    (t,) = running(c)
    step(c, t, {"training_iteration": 1})
    step(c, t, {"training_iteration": 2})
    out = results(c, t, {"training_iteration": 3})
    assert calls(out) == [("Save", "t0")]
    out = c.handle(E.CheckpointSaved("t0", t.run_number, 3, [("url/checkpoint_3", 3)]))
    assert calls(out) == [("Stop", "t0")] and of(I.Stop, out)[0].graceful
    assert t.checkpoint == "url/checkpoint_3" and notes(out, I.Note.CHECKPOINT)


def test_duplicate_result_checkpoints_a_fresh_function_checkpoint_once():
    c = make_controller(1, stop=None)
    (t,) = running(c)
    step(c, t, {"training_iteration": 1})
    closing = {"__duplicate__": True, "done": True, "should_checkpoint": True}
    assert step(c, t, closing) == Decision(log=False, checkpoint=True, stop=True)

    at_end = CheckpointPolicy(at_end=True)
    c = make_controller(1, stop=None, checkpoint_policy=at_end)
    (t,) = running(c)
    assert step(c, t, {"training_iteration": 1, "should_checkpoint": True}).checkpoint
    assert not step(c, t, {"__duplicate__": True, "done": True}).checkpoint

    c = make_controller(1, stop=None, checkpoint_policy=at_end)
    (t,) = running(c)
    assert not step(c, t, {"training_iteration": 1}).checkpoint
    assert step(c, t, {"__duplicate__": True, "done": True}).checkpoint


def test_missing_stop_key_is_an_error_of_the_run():
    c = make_controller(1, stop={"acc": 1})
    (t,) = running(c)
    with pytest.raises(StopCriterionError, match="'acc'"):
        results(c, t, {"loss": 1})


def test_a_batch_that_ended_the_trial_on_the_worker_completes_it():
    c = make_controller(1)
    (t,) = running(c)
    rows = [{"training_iteration": i} for i in (1, 2, 3)]
    out = c.handle(E.ResultsArrived("t0", t.run_number, rows, finished=[("u/checkpoint_2", 2)]))
    assert len(notes(out, I.Note.RESULT)) == 3 and not of(I.Stop, out)
    assert t.status == TrialStatus.TERMINATED and t.checkpoint == "u/checkpoint_2"


# -- failures ----------------------------------------------------------------------------------
def fail(c, t, message="boom"):
    out = c.handle(E.CallFailed(t.trial_id, t.run_number, "train", message))
    assert calls(out) == [("Stop", t.trial_id)] and not of(I.Stop, out)[0].graceful
    return c.handle(E.TrialStopped(t.trial_id, t.run_number, host_healthy=True))


def test_a_failure_adopts_a_checkpoint_committed_in_the_background():
    c = make_controller(1, failure_policy=FailurePolicy(max_failures=1), stop=None)
    (t,) = running(c)
    results(c, t, {"training_iteration": 1, "should_checkpoint": True})
    c.handle(E.CheckpointSaved("t0", 1, 1, []))  # its upload has not reported back
    c.handle(E.CallFailed("t0", 1, "train", "boom"))
    out = c.handle(E.TrialStopped("t0", 1, host_healthy=False))
    assert calls(out) == [("FindCheckpoint", "t0")]
    out = c.handle(E.CheckpointFound("t0", 1, ("u/checkpoint_1", 1)))
    assert of(I.StartTrial, out)[0].restore == "u/checkpoint_1"
    assert t.error_msg == "boom"


def test_failures_retry_from_the_newest_checkpoint_then_error():
    c = make_controller(1, failure_policy=FailurePolicy(max_failures=1), stop=None)
    (t,) = running(c)
    results(c, t, {"training_iteration": 1, "should_checkpoint": True})
    c.handle(E.CheckpointSaved("t0", 1, 1, [("url://ckpt_1", 1)]))
    out = fail(c, t)
    # Retried at once: the same slot takes it again, restoring the checkpoint.
    assert [n.info["retried"] for n in notes(out, I.Note.TRIAL_ERROR)] == [True]
    (again,) = of(I.StartTrial, out)
    assert again.trial is t and again.run == 2 and again.restore == "url://ckpt_1"
    assert notes(out, I.Note.TRIAL_RESTORE)
    start(c, out)
    out = fail(c, t)
    assert t.status == TrialStatus.ERROR and c.is_finished and c.errored() == [t]
    assert t.error_msg == "boom" and t.num_failures == 2
    assert c.search_alg.completed == [("t0", None, True)]


def test_unlimited_failures_and_fail_fast():
    c = make_controller(1, failure_policy=FailurePolicy(max_failures=-1))
    (t,) = running(c)
    for _ in range(5):
        out = fail(c, t)
        start(c, out)
    assert t.status == TrialStatus.RUNNING and t.num_failures == 5
    c = make_controller(3, failure_policy=FailurePolicy(fail_fast=True))
    a, b = running(c, cpus=2)
    fail(c, a)
    assert c.stopping_all and a.status == TrialStatus.ERROR
    # The other running trial is stopped at its next reply.
    assert calls(results(c, b, {"training_iteration": 1})) == [("Stop", "t1")]


def test_stale_replies_are_dropped():
    c = make_controller(1, failure_policy=FailurePolicy(max_failures=1), stop=None)
    (t,) = running(c)
    start(c, fail(c, t))  # now run 2
    assert t.run_number == 2
    assert c.handle(E.ResultsArrived("t0", 1, [{"training_iteration": 9}])) == []
    assert c.handle(E.CheckpointSaved("t0", 1, 9, [("old", 9)])) == []
    assert c.handle(E.TrialStopped("t0", 1)) == []
    assert c.handle(E.CallFailed("t0", 1, "train", "late")) == []
    assert c.handle(E.CallFailed("t0", 2, "save", "not the call in flight")) == []
    assert t.last_result == {} and t.checkpoint is None and t.status == TrialStatus.RUNNING
    # A reply about a call that is not the one in flight is stale too.
    assert c.handle(E.CheckpointSaved("t0", 2, 9)) == []


def test_a_lost_worker_adopts_the_newest_committed_checkpoint_and_is_quarantined():
    c = make_controller(1, failure_policy=FailurePolicy(max_failures=1), stop=None)
    add_workers(c, a={"CPU": 1})
    c.handle(E.Tick(0.0))
    (t,) = [t for t in c.trials if t.status == TrialStatus.RUNNING]
    start(c, [I.StartTrial(t, 1, None)])
    results(c, t, {"training_iteration": 1, "should_checkpoint": True})
    c.handle(E.CheckpointSaved("t0", 1, 1, []))  # upload still in the background
    add_workers(c, a={"CPU": 1}, b={"CPU": 1})
    out = c.handle(E.CallFailed("t0", 1, "train", "OSError", worker_lost=True, worker="a"))
    assert calls(out) == [("Abandon", "t0"), ("FindCheckpoint", "t0")]
    assert of(I.FindCheckpoint, out)[0].iterations == frozenset({1})
    assert not c.is_finished
    out = c.handle(E.CheckpointFound("t0", 1, ("url/checkpoint_1", 1)))
    error = notes(out, I.Note.TRIAL_ERROR)[0]
    assert "worker a holding the trial's actor was lost" in error.info["message"]
    assert error.info["retried"] and t.restore_path == "url/checkpoint_1"
    # Worker a is quarantined: the retry goes to b, then a is used again after the quarantine.
    assert {i.placement.worker for i in of(I.StartTrial, out)} == {"b"}
    assert t.status == TrialStatus.RUNNING
    assert not c.can_place(Resources())  # b is busy, a is quarantined
    c.handle(E.Tick(QUARANTINE_S + 1))
    assert c.can_place(Resources())


def test_worker_lost_before_the_trial_started_is_not_a_failure():
    c = make_controller(1)
    add_workers(c, a={"CPU": 1})
    out = c.handle(E.CallFailed("t0", 1, "start", "gone", worker_lost=True, worker="a"))
    (t,) = c.trials
    assert t.num_failures == 0 and t.status == TrialStatus.PENDING
    assert calls(out) == [("Abandon", "t0")]


def test_a_worker_leaving_fails_over_its_trials():
    c = make_controller(2, failure_policy=FailurePolicy(max_failures=1))
    running(c, workers=2, cpus=1)
    out = c.handle(E.WorkersChanged({"w1": {"CPU": 1}}))
    assert ("Abandon", "t0") in calls(out)
    (t0,) = [t for t in c.trials if t.trial_id == "t0"]
    assert t0.num_failures == 1 and "it left the cluster" in t0.error_msg


# -- pausing -----------------------------------------------------------------------------------
class PauseAtTwo(FIFOScheduler):
    """Ray 0.8's signatures: pause every trial at iteration 2 once."""

    def __init__(self):
        self.paused = set()

    def on_trial_result(self, trial_runner, trial, result):
        if result["training_iteration"] == 2 and trial.trial_id not in self.paused:
            self.paused.add(trial.trial_id)
            return self.PAUSE
        return self.CONTINUE


def test_pause_saves_frees_the_slot_and_resumes_from_the_checkpoint():
    c = make_controller(2, scheduler=PauseAtTwo(), stop={"training_iteration": 4})
    (a,) = running(c, cpus=1)
    step(c, a, {"training_iteration": 1})
    assert c.pausing_trial_ids() == []
    out = results(c, a, {"training_iteration": 2})
    assert calls(out) == [("Save", "t0")]
    # Under way while it saves and stops: the experiment state records it as pausing.
    assert c.pausing_trial_ids() == ["t0"]
    out = c.handle(E.CheckpointSaved("t0", 1, 2, []))
    assert calls(out) == [("Stop", "t0")]
    assert c.pausing_trial_ids() == ["t0"]
    out = c.handle(E.TrialStopped("t0", 1, [("u/checkpoint_2", 2)]))
    assert a.status == TrialStatus.PAUSED and a.restore_path == "u/checkpoint_2"
    assert c.pausing_trial_ids() == []
    assert notes(out, I.Note.TRIAL_PAUSE)
    # The freed slot goes to the PENDING trial first (FIFO), the paused one waits.
    assert calls(out) == [("StartTrial", "t1")]
    (b,) = [i.trial for i in of(I.StartTrial, out)]
    start(c, out)
    step(c, b, {"training_iteration": 1})
    step(c, b, {"training_iteration": 2})
    c.handle(E.CheckpointSaved("t1", 1, 2, []))
    out = c.handle(E.TrialStopped("t1", 1, [("u1/checkpoint_2", 2)]))
    (resume,) = of(I.StartTrial, out)
    assert resume.trial is a and resume.restore == "u/checkpoint_2" and resume.run == 2
    assert notes(out, I.Note.TRIAL_RESTORE)


def test_pausing_a_trainable_that_cannot_checkpoint_fails_it_clearly():
    c = make_controller(1, scheduler=PauseAtTwo(), can_checkpoint=False, stop=None)
    (t,) = running(c)
    step(c, t, {"training_iteration": 1})
    out = results(c, t, {"training_iteration": 2})
    assert calls(out) == [("Stop", "t0")]
    c.handle(E.TrialStopped("t0", 1))
    assert t.status == TrialStatus.ERROR and "cannot checkpoint" in t.error_msg


def test_schedulers_act_on_other_trials_through_the_trial_runner():
    class Boss(FIFOScheduler):
        def on_trial_result(self, trial_runner, trial, result):
            others = [t for t in trial_runner.get_trials() if t is not trial]
            for other in others:
                if other.status == TrialStatus.RUNNING:
                    trial_runner.trial_executor.pause_trial(other)
                elif other.status == TrialStatus.PENDING:
                    trial_runner.trial_executor.stop_trial(other)
            return self.CONTINUE

        def on_trial_remove(self, trial_runner, trial):
            self.removed = trial.trial_id

    scheduler = Boss()
    c = make_controller(3, scheduler=scheduler, stop=None)
    a, b = running(c, cpus=2)
    step(c, a, {"training_iteration": 1})
    # t2 was PENDING: stopped at once; t1 runs: paused at its next reply.
    assert c.trials[2].status == TrialStatus.TERMINATED and scheduler.removed == "t2"
    assert calls(results(c, b, {"training_iteration": 1})) == [("Save", "t1")]


def test_a_scheduler_that_starts_nothing_while_nothing_runs_fails_the_run():
    class Never(FIFOScheduler):
        def choose_trial_to_run(self, trial_runner):
            return None

    c = make_controller(1, scheduler=Never())
    with pytest.raises(TuneError, match="Never chose no trial to run"):
        add_workers(c, w={"CPU": 1})


def test_a_scheduler_choosing_a_finished_trial_is_refused():
    class Bad(FIFOScheduler):
        def choose_trial_to_run(self, trial_runner):
            return Trial("x", 0, "T", {}, "0", "d", Resources())

    c = make_controller(1, scheduler=Bad())
    with pytest.raises(TuneError, match="must return a PENDING or PAUSED trial"):
        add_workers(c, w={"CPU": 1})


# -- the rest of a run's life ------------------------------------------------------------------
def test_retention_deletes_the_worst_but_never_the_newest():
    c = make_controller(1, stop=None, retention=RetentionPolicy(keep=1, score_attr="acc"))
    (t,) = running(c)
    results(c, t, {"training_iteration": 1, "acc": 0.9, "should_checkpoint": True})
    c.handle(E.CheckpointSaved("t0", 1, 1, [("u/c1", 1)]))
    results(c, t, {"training_iteration": 2, "acc": 0.1, "should_checkpoint": True})
    out = c.handle(E.CheckpointSaved("t0", 1, 2, [("u/c2", 2)]))
    # c2 scores worse, but it is the newest: recovery restores from it.
    assert [d.url for d in of(I.DeleteCheckpoint, out)] == ["u/c1"]


def test_time_budget_ends_running_and_waiting_trials():
    c = make_controller(3, time_budget_s=10, stop=None)
    c.handle(E.Tick(0.0))
    (t,) = running(c, cpus=1)
    c.handle(E.Tick(11.0))
    assert c.stopping_all
    assert [x.status for x in c.trials[1:]] == [TrialStatus.TERMINATED] * 2
    assert calls(results(c, t, {"training_iteration": 1})) == [("Stop", "t0")]
    c.handle(E.TrialStopped("t0", 1))
    assert c.is_finished and t.status == TrialStatus.TERMINATED


def test_state_is_written_at_once_on_a_timer_and_soon_after_a_trial_ends():
    c = make_controller(1)
    assert len(of(I.WriteState, c.handle(E.Tick(0.0)))) == 1
    (t,) = running(c)
    assert of(I.WriteState, c.handle(E.Tick(0.2))) == []
    for i in (1, 2, 3):
        step(c, t, {"training_iteration": i})
    c.handle(E.TrialStopped("t0", 1))
    # A second after the last write, then not again until the timer.
    assert of(I.WriteState, c.handle(E.Tick(0.5))) == []
    assert len(of(I.WriteState, c.handle(E.Tick(1.1)))) == 1
    assert of(I.WriteState, c.handle(E.Tick(5.0))) == []
    assert len(of(I.WriteState, c.handle(E.Tick(11.2)))) == 1


def test_waiting_for_workers_is_said_once_and_times_out():
    c = make_controller(1, worker_wait_timeout_s=5)
    out = c.handle(E.Tick(0.0))
    assert "no workers" in notes(out, I.Note.WAITING)[0].info["text"]
    assert notes(c.handle(E.Tick(1.0)), I.Note.WAITING) == []
    with pytest.raises(TuneError, match="no workers for 5 s"):
        c.handle(E.Tick(6.0))


def test_usage_is_reported_when_it_changes():
    c = make_controller(3)
    out = c.handle(E.Tick(0.0))
    assert of(I.ReportUsage, out) == [I.ReportUsage(frozenset(), 3)]
    add_workers(c, w={"CPU": 1})
    (usage,) = of(I.ReportUsage, c.handle(E.Tick(1.0)))
    assert usage.workers == {"w"} and usage.demand == 2
    assert of(I.ReportUsage, c.handle(E.Tick(2.0))) == []


def test_infeasible_trials_fail_the_run_when_workers_join():
    c = make_controller(1, infeasible_check=lambda ledger, shape=None: "no GPU anywhere")
    with pytest.raises(TuneError, match="no GPU anywhere"):
        add_workers(c, w={"CPU": 1})


def test_searcher_hears_results_but_not_the_one_that_stops():
    search = ListSearch([make_trial(0)])
    c = make_controller(search_alg=search)
    (t,) = running(c)
    for i in (1, 2, 3):
        step(c, t, {"training_iteration": i})
    assert search.results == ["t0", "t0"]


def test_ray_signature_hooks_get_the_trial_runner():
    seen = []

    class Recorder(TrialScheduler):
        def on_trial_add(self, trial_runner, trial):
            seen.append(("add", trial.trial_id, len(trial_runner.get_trials())))

        def on_trial_result(self, trial_runner, trial, result):
            seen.append(("result", trial.trial_id))
            return self.CONTINUE

        def on_trial_complete(self, trial_runner, trial, result):
            seen.append(("complete", trial.trial_id, result["training_iteration"]))

        def choose_trial_to_run(self, trial_runner):
            for trial in trial_runner.get_trials():
                if trial.status == TrialStatus.PENDING and trial_runner.has_resources(
                    trial.resources
                ):
                    return trial
            return None

    c = make_controller(1, scheduler=Recorder(), stop={"training_iteration": 2})
    (t,) = running(c)
    step(c, t, {"training_iteration": 1})
    step(c, t, {"training_iteration": 2})
    c.handle(E.TrialStopped("t0", 1))
    assert seen == [("add", "t0", 1), ("result", "t0"), ("complete", "t0", 2)]


def test_a_raising_scheduler_hook_fails_the_run_naming_it():
    class Broken(FIFOScheduler):
        def choose_trial_to_run(self, trial_runner):
            raise RuntimeError("oops")

    c = make_controller(1, scheduler=Broken())
    with pytest.raises(
        TuneError, match=r"Broken.choose_trial_to_run\(\) raised RuntimeError: oops"
    ):
        add_workers(c, w={"CPU": 1})


def test_a_trial_stopped_while_it_saves_for_a_pause_ends_instead_of_waiting():
    class PauseAtOne(FIFOScheduler):
        def on_trial_result(self, trial_runner, trial, result):
            return self.PAUSE

    c = make_controller(1, scheduler=PauseAtOne(), stop=None)
    (t,) = running(c)
    assert calls(results(c, t, {"training_iteration": 1})) == [("Save", "t0")]
    c.runner.trial_executor.stop_trial(t)  # while the pause's checkpoint is being saved
    assert calls(c.handle(E.CheckpointSaved("t0", 1, 1, [("u/c1", 1)]))) == [("Stop", "t0")]
    c.handle(E.TrialStopped("t0", 1))
    assert t.status == TrialStatus.TERMINATED and c.is_finished


def test_the_time_budget_ends_a_trial_that_was_pausing():
    class PauseAtOne(FIFOScheduler):
        def on_trial_result(self, trial_runner, trial, result):
            return self.PAUSE

    c = make_controller(1, scheduler=PauseAtOne(), stop=None, time_budget_s=5)
    c.handle(E.Tick(0.0))
    (t,) = running(c)
    results(c, t, {"training_iteration": 1})  # Save for the pause is in flight
    c.handle(E.Tick(6.0))  # the budget is spent
    c.handle(E.CheckpointSaved("t0", 1, 1, [("u/c1", 1)]))
    c.handle(E.TrialStopped("t0", 1))
    assert t.status == TrialStatus.TERMINATED and c.is_finished


# -- resume ------------------------------------------------------------------------------------
class RecordingScheduler(FIFOScheduler):
    """Records the hooks it is called with, by trial id."""

    def __init__(self):
        self.calls = []

    def on_trial_add(self, trial_runner, trial):
        self.calls.append(("add", trial.trial_id))

    def on_trial_complete(self, trial_runner, trial, result):
        self.calls.append(("complete", trial.trial_id))


def test_resumed_trials_with_their_saved_scheduler():
    scheduler = RecordingScheduler()
    search = ListSearch([])
    c = make_controller(search_alg=search, scheduler=scheduler)
    paused, ended, fresh = make_trial(0), make_trial(1), make_trial(2)
    paused.status, paused.restore_path = TrialStatus.PAUSED, "ckpt"
    ended.status, ended.last_result = TrialStatus.RUNNING, {"training_iteration": 3, "done": True}
    c.add_trial(paused, known_to_scheduler=True)
    c.add_trial(ended, known_to_scheduler=True, ended=True)
    c.add_trial(fresh)
    # The saved scheduler already knows the first two: it is told only of the new one, and of
    # the trial that ended after the state was written.
    assert scheduler.calls == [("complete", "t1"), ("add", "t2")]
    assert ended.status == TrialStatus.TERMINATED
    assert search.completed == [("t1", ended.last_result, False)]
    # The paused trial waits PAUSED (the scheduler resumes it); the new one starts first.
    assert paused.status == TrialStatus.PAUSED and c.num_pending == 1
    out = add_workers(c, w={"CPU": 1})
    assert calls(out) == [("StartTrial", "t2")]
