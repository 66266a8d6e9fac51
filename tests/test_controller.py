"""The controller's rules, without Dask or I/O."""

from __future__ import annotations

import pytest

from dasktune.controller import (
    CheckpointPolicy,
    Controller,
    FailurePolicy,
    ResultDecision,
    StopCriterionError,
)
from dasktune.error import TuneError
from dasktune.resources import Resources
from dasktune.schedulers import TrialScheduler
from dasktune.stoppers import Stopper, make_stopper
from dasktune.trial import Trial, TrialStatus


def trial(i, resources=None):
    return Trial(
        trial_id=f"t{i}",
        index=i,
        trainable_name="T",
        config={},
        experiment_tag=str(i),
        dirname=f"T_{i}",
        resources=resources or Resources(),
    )


def controller(n=3, **kwargs):
    stop = kwargs.pop("stop", {"training_iteration": 3})
    c = Controller(stopper=make_stopper(stop), **kwargs)
    for i in range(n):
        c.add_trial(trial(i))
    return c


def start_all(c, slots=100):
    free = [slots]

    def place(t):
        if free[0] <= 0:
            return None
        free[0] -= 1
        return "slot"

    return [t for t, _ in c.start_trials(place)]


def test_start_order_and_capacity():
    c = controller(5)
    started = start_all(c, slots=2)
    assert [t.trial_id for t in started] == ["t0", "t1"]
    assert c.num_running == 2 and c.num_pending == 3
    assert all(t.status == TrialStatus.RUNNING for t in started)


def test_shapes_do_not_block_each_other():
    c = Controller(stopper=make_stopper(None))
    c.add_trial(trial(0, Resources(gpu=1)))
    c.add_trial(trial(1, Resources(cpu=1)))
    started = c.start_trials(lambda t: "ok" if t.resources.gpu == 0 else None)
    assert [t.trial_id for t, _ in started] == ["t1"]


def test_max_concurrent_trials():
    c = controller(4, max_concurrent_trials=1)
    assert len(start_all(c)) == 1


def test_stop_rules_and_finish():
    c = controller(1)
    (t,) = start_all(c)
    for i in (1, 2):
        d = c.on_result(t, {"training_iteration": i})
        assert d.log and not d.stop
    d = c.on_result(t, {"training_iteration": 3})
    assert d.stop
    c.on_trial_stopped(t)
    assert t.status == TrialStatus.TERMINATED and c.is_finished


def test_done_and_duplicate_results():
    c = controller(1, stop=None)
    (t,) = start_all(c)
    assert c.on_result(t, {"x": 1, "done": True}).stop
    c2 = controller(1, stop=None)
    (t2,) = start_all(c2)
    c2.on_result(t2, {"x": 5, "training_iteration": 1})
    d = c2.on_result(t2, {"__duplicate__": True, "done": True})
    assert d.stop and not d.log
    assert t2.last_result == {"x": 5, "training_iteration": 1, "done": True}
    assert t2.num_results == 1


def test_the_result_that_ends_a_trial_is_marked_done():
    c = controller(1)  # stop={"training_iteration": 3}
    (t,) = start_all(c)
    rows = [{"training_iteration": i, "done": False} for i in (1, 2, 3)]
    assert [c.on_result(t, row).stop for row in rows] == [False, False, True]
    # In place, before the driver logs the row; the trial's last result is that row.
    assert [row["done"] for row in rows] == [False, False, True]
    assert t.last_result is rows[-1]


def test_scheduler_stop_and_stop_all_mark_the_result_done():
    class StopAtTwo(TrialScheduler):
        def on_trial_result(self, trial, result):
            return self.STOP if result["training_iteration"] == 2 else self.CONTINUE

    c = controller(1, stop=None, scheduler=StopAtTwo())
    (t,) = start_all(c)
    first, second = {"training_iteration": 1, "done": False}, {"training_iteration": 2}
    assert not c.on_result(t, first).stop and first["done"] is False
    assert c.on_result(t, second).stop and second["done"] is True

    class StopAll(Stopper):
        def __call__(self, trial_id, result):
            return False

        def stop_all(self):
            return True

    c = controller(1, stop=StopAll())
    (t,) = start_all(c)
    row = {"training_iteration": 1, "done": False}
    assert c.on_result(t, row).stop and row["done"] is True


def test_checkpoint_at_end_result_is_done_and_checkpointed():
    c = controller(1, checkpoint_policy=CheckpointPolicy(at_end=True))
    (t,) = start_all(c)
    rows = [{"training_iteration": i} for i in (1, 2, 3)]
    decisions = [c.on_result(t, row) for row in rows]
    assert [(d.checkpoint, d.stop) for d in decisions] == [(False, False)] * 2 + [(True, True)]
    assert [row.get("done") for row in rows] == [None, None, True]


def test_duplicate_result_checkpoints_a_fresh_function_checkpoint_once():
    """A function that checkpointed and then returned: its closing result carries
    should_checkpoint; at_end adds no second save of an already checkpointed last result."""
    c = controller(1, stop=None)
    (t,) = start_all(c)
    c.on_result(t, {"training_iteration": 1})
    closing = {"__duplicate__": True, "done": True, "should_checkpoint": True}
    assert c.on_result(t, closing) == ResultDecision(log=False, checkpoint=True, stop=True)

    at_end = CheckpointPolicy(at_end=True)
    c = controller(1, stop=None, checkpoint_policy=at_end)
    (t,) = start_all(c)
    assert c.on_result(t, {"training_iteration": 1, "should_checkpoint": True}).checkpoint
    assert not c.on_result(t, {"__duplicate__": True, "done": True}).checkpoint

    c = controller(1, stop=None, checkpoint_policy=at_end)
    (t,) = start_all(c)
    assert not c.on_result(t, {"training_iteration": 1}).checkpoint
    assert c.on_result(t, {"__duplicate__": True, "done": True}).checkpoint


def test_missing_stop_key():
    c = controller(1, stop={"acc": 1})
    (t,) = start_all(c)
    with pytest.raises(StopCriterionError, match="'acc'"):
        c.on_result(t, {"loss": 1})


def test_checkpoint_policy():
    c = controller(1, stop=None, checkpoint_policy=CheckpointPolicy(freq=2, at_end=True))
    (t,) = start_all(c)
    flags = [c.on_result(t, {"training_iteration": i}).checkpoint for i in (1, 2, 3, 4)]
    assert flags == [False, True, False, True]
    assert c.on_result(t, {"training_iteration": 5, "should_checkpoint": True}).checkpoint
    assert c.on_result(t, {"training_iteration": 7, "done": True}).checkpoint  # at end


def test_failures_retry_then_error():
    c = controller(1, failure_policy=FailurePolicy(max_failures=1))
    (t,) = start_all(c)
    c.on_checkpoint(t, "url://ckpt_2", 2)
    assert c.on_trial_error(t, "boom") is True
    assert t.status == TrialStatus.PENDING and t.restore_path == "url://ckpt_2"
    (t_again,) = start_all(c)
    assert t_again is t and t.run_number == 2
    assert c.on_trial_error(t, "boom") is False
    assert t.status == TrialStatus.ERROR and c.is_finished
    assert c.errored() == [t]


def test_unlimited_failures_and_fail_fast():
    c = controller(1, failure_policy=FailurePolicy(max_failures=-1))
    for _ in range(5):
        (t,) = start_all(c)
        assert c.on_trial_error(t, "x")
    c = controller(3, failure_policy=FailurePolicy(fail_fast=True))
    (a, b, _) = start_all(c, slots=3)
    c.on_trial_error(a, "x")
    assert c.stopping_all
    assert start_all(c) == []
    c.on_trial_stopped(b)


def test_scheduler_decisions_are_honoured():
    class StopOdd(TrialScheduler):
        def on_trial_result(self, trial, result):
            return self.STOP if trial.index % 2 else self.CONTINUE

    c = controller(2, stop=None, scheduler=StopOdd())
    a, b = start_all(c)
    assert not c.on_result(a, {"training_iteration": 1}).stop
    assert c.on_result(b, {"training_iteration": 1}).stop


def test_pause_is_refused_clearly():
    class Pauser(TrialScheduler):
        def on_trial_result(self, trial, result):
            return self.PAUSE

    c = controller(1, stop=None, scheduler=Pauser())
    (t,) = start_all(c)
    with pytest.raises(TuneError, match="pausing trials is not supported yet"):
        c.on_result(t, {"training_iteration": 1})


def test_on_events_for_non_running_trial_is_an_error():
    c = controller(1)
    with pytest.raises(ValueError, match="not RUNNING"):
        c.on_trial_stopped(c.trials[0])
