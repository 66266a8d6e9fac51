"""Result batching: hosts train several steps per round trip, but never past a driver decision;
and lock-step (the default), where the call that delivers a trial's last result also ends it."""

from __future__ import annotations

import asyncio
import os
import random

import dask
import pytest
from controller_harness import make_controller, running, step
from helpers import read_rows
from trainables import StepRecorder, checkpointing_function, step_recording_function

import dasktune as tune
from dasktune import result as R
from dasktune.backend.host import TrialHost
from dasktune.controller import CheckpointPolicy, Controller
from dasktune.function_trainable import wrap_function
from dasktune.result_batching import BatchPolicy
from dasktune.schedulers import FIFOScheduler, TrialScheduler
from dasktune.shipping import dumps_trainable
from dasktune.stoppers import Stopper
from dasktune.trial import Trial
from dasktune.trial_info import TrialInfo


def _controller(stop, freq=0, at_end=False, scheduler=None) -> Controller:
    return make_controller(
        1,
        stop=stop,
        checkpoint_policy=CheckpointPolicy(freq=freq, at_end=at_end),
        scheduler=scheduler,
    )


def _running_trial(controller: Controller) -> Trial:
    (trial,) = running(controller)
    return trial


@pytest.mark.parametrize("seed", range(20))
def test_policy_agrees_with_the_controller_on_every_result(seed):
    """Wherever the driver would checkpoint or stop, the host ends its batch there; it finishes
    the trial itself exactly when the driver stops without a checkpoint."""
    rng = random.Random(seed)
    stop = rng.choice([None, {"metric": rng.randint(5, 60)}, {"training_iteration": 40}])
    controller = _controller(stop, freq=rng.choice([0, 1, 3, 7]), at_end=rng.random() < 0.5)
    policy = controller.batch_policy(0.1)
    assert policy is not None
    trial = _running_trial(controller)
    for i in range(1, 80):
        result = {
            R.TRAINING_ITERATION: i,
            "metric": rng.randint(0, 70),
            R.DONE: rng.random() < 0.02,
            R.SHOULD_CHECKPOINT: rng.random() < 0.05,
        }
        decision = step(controller, trial, result)
        if decision.stop or decision.checkpoint:
            assert policy.ends_batch(result), (result, decision)
        else:
            assert not policy.ends_batch(result), (result, decision)
        assert policy.finishes(result) == (decision.stop and not decision.checkpoint)
        # The row the driver logs says whether the trial ended on it.
        assert result[R.DONE] == decision.stop
        if decision.stop:
            break


def test_policy_defers_a_missing_stop_key_to_the_driver():
    policy = _controller({"accuracy": 0.9}).batch_policy(0.1)
    assert policy.stops({"loss": 1.0}) is None
    assert policy.ends_batch({"loss": 1.0}) and not policy.finishes({"loss": 1.0})


def test_duplicate_closing_result_checkpoints_only_at_end():
    closing = {R.RESULT_DUPLICATE: True, R.TRAINING_ITERATION: 3}
    assert _controller(None).batch_policy(0.1).finishes(closing)
    assert not _controller(None, at_end=True).batch_policy(0.1).finishes(closing)


def test_duplicate_closing_result_with_a_function_checkpoint_is_saved_first():
    closing = {R.RESULT_DUPLICATE: True, R.DONE: True, R.SHOULD_CHECKPOINT: True}
    policy = _controller(None).batch_policy(0.1)
    assert policy.ends_batch(closing) and not policy.finishes(closing)


class _CustomScheduler(FIFOScheduler):
    def on_trial_result(self, trial_runner, trial, result):
        return TrialScheduler.STOP if result["metric"] > 3 else TrialScheduler.CONTINUE


class _Never(Stopper):
    def __call__(self, trial_id, result):
        return False


@pytest.mark.parametrize(
    "controller, criteria",
    [
        pytest.param(_controller(lambda trial_id, result: False), {}, id="stop-function"),
        pytest.param(_controller(_Never()), {}, id="stopper-object"),
        pytest.param(
            _controller({"metric": 5}, scheduler=_CustomScheduler()),
            {"metric": 5},
            id="scheduler",
        ),
    ],
)
def test_lock_step_when_a_decision_needs_the_driver(controller, criteria):
    policy = controller.batch_policy(0.1)
    assert policy.max_results == 1 and policy.stop_criteria == criteria


@pytest.mark.parametrize("seed", range(10))
def test_lock_step_host_never_ends_a_trial_the_driver_keeps(seed):
    """With a stop rule only the driver knows, the host ends a trial only on ``done``."""
    rng = random.Random(seed)
    stop = rng.choice([lambda trial_id, result: result["metric"] > 60, _Never()])
    controller = _controller(stop, freq=rng.choice([0, 3]), scheduler=_CustomScheduler())
    policy = controller.batch_policy(0.1)
    trial = _running_trial(controller)
    for i in range(1, 80):
        result = {R.TRAINING_ITERATION: i, "metric": rng.randint(0, 70), R.DONE: i == 79}
        decision = step(controller, trial, result)
        if policy.finishes(result):
            assert decision.stop and not decision.checkpoint
        if decision.stop:
            break


def test_lock_step_is_the_default_policy():
    policy = _controller({"training_iteration": 3}).batch_policy(0.0)
    assert policy.max_results == 1 and policy.stop_criteria == {"training_iteration": 3}


# -- the host, in this process ---------------------------------------------------------------


def _host_run(config, policy, calls=1, trainable=StepRecorder):
    """Start ``trainable`` (a class, or a function to wrap) in a TrialHost here with ``policy``;
    make ``calls`` train_batch calls. Returns the host and the ``(ok, value)`` of those calls
    (a host's reply carries what the trial printed third: these trainables print nothing)."""
    cls = trainable if isinstance(trainable, type) else wrap_function(trainable)

    async def go():
        host = TrialHost()
        ok, how, _ = await host.start(
            "k", dumps_trainable(cls), config, TrialInfo(trial_id="h"), policy=policy
        )
        assert ok, how
        replies = [await host.train_batch() for _ in range(calls)]
        assert all(output is None for _, _, output in replies)
        return host, [(ok, value) for ok, value, _ in replies]

    return asyncio.run(go())


def test_host_batches_fast_steps_and_stops_exactly_at_the_rule(tmp_path):
    policy = BatchPolicy(max_seconds=5.0, stop_criteria={"steps": 250})
    host, replies = _host_run({"trace_dir": str(tmp_path)}, policy)
    ok, batch = replies[0]
    assert ok, batch
    assert [r["steps"] for r in batch.results] == list(range(1, 251))
    assert batch.error is None
    # The trial ended on the worker: the trainable was stopped in the same call.
    assert batch.finished == []
    assert host._trainable is None
    assert (tmp_path / "h.steps").read_text() == "250"


def test_host_ends_a_batch_at_checkpoint_steps_and_after_max_results():
    policy = BatchPolicy(max_seconds=5.0, checkpoint_freq=40, max_results=25)
    _, replies = _host_run({}, policy, calls=3)
    lengths = [len(batch.results) for ok, batch in replies]
    assert lengths == [25, 15, 25]  # 1-25, 26-40 (checkpoint due at 40), 41-65
    assert all(batch.finished is None for _, batch in replies)


def test_lock_step_host_ends_the_trial_in_the_call_of_its_last_result(tmp_path):
    policy = BatchPolicy(max_seconds=0, max_results=1, stop_criteria={"steps": 3})
    host, replies = _host_run({"trace_dir": str(tmp_path)}, policy, calls=3)
    batches = [batch for _, batch in replies]
    assert [[r["steps"] for r in b.results] for b in batches] == [[1], [2], [3]]
    assert [b.finished for b in batches] == [None, None, []]
    assert host._trainable is None and (tmp_path / "h.steps").read_text() == "3"


def test_host_sends_slow_results_one_by_one():
    _, replies = _host_run({"sleep": 0.02}, BatchPolicy(max_seconds=0.01), calls=3)
    assert [len(batch.results) for _, batch in replies] == [1, 1, 1]


def test_host_returns_the_results_made_before_a_step_raised():
    policy = BatchPolicy(max_seconds=5.0)
    _, replies = _host_run({"fail_at": 30}, policy)
    ok, batch = replies[0]
    assert ok
    assert [r["steps"] for r in batch.results] == list(range(1, 30))
    assert "ValueError: boom at step 30" in batch.error
    # A step that raises first is an ordinary failed call.
    _, replies = _host_run({"fail_at": 1}, policy)
    ok, text = replies[0]
    assert not ok and "boom at step 1" in text


def test_host_returns_the_last_results_when_ending_the_trial_fails():
    policy = BatchPolicy(max_seconds=0, max_results=1, stop_criteria={"steps": 1})
    host, replies = _host_run({"cleanup_raises": True}, policy)
    ok, batch = replies[0]
    assert ok and [r["steps"] for r in batch.results] == [1]
    assert "RuntimeError: cleanup failed" in batch.error and batch.finished is None


def _function_host_run(fn, config, calls):
    policy = BatchPolicy(max_seconds=0, max_results=1, stop_criteria={"steps": 3})
    return _host_run(config, policy, calls, trainable=fn)


def test_lock_step_function_reports_reach_the_loop_directly(tmp_path):
    host, replies = _function_host_run(step_recording_function, {"trace_dir": str(tmp_path)}, 3)
    batches = [batch for _, batch in replies]
    assert [[r["steps"] for r in b.results] for b in batches] == [[1], [2], [3]]
    assert [b.results[0]["training_iteration"] for b in batches] == [1, 2, 3]
    # The third report meets the stop rule: the function's thread was stopped in that call.
    assert batches[2].finished == [] and host._trainable is None
    assert (tmp_path / "h.steps").read_text() == "3"


def _raises_at_second_report(config):
    tune.track.log(steps=1)
    raise ValueError("function broke")


def _returns_after_one_report(config):
    tune.track.log(steps=1)


def test_lock_step_function_errors_and_returns():
    _, replies = _function_host_run(_raises_at_second_report, {}, 2)
    assert replies[0][0] and replies[0][1].results[0]["steps"] == 1
    ok, text = replies[1]
    assert not ok and "ValueError: function broke" in text
    host, replies = _function_host_run(_returns_after_one_report, {}, 2)
    closing = replies[1][1]
    assert closing.results[0][R.RESULT_DUPLICATE] and closing.results[0][R.DONE]
    assert closing.finished == [] and host._trainable is None


def test_host_ends_a_batch_at_each_function_checkpoint():
    """Every tune.checkpoint_dir block flags the next report, which the driver must see (to
    save it) before the function goes on; the last one is saved before the trial ends."""
    policy = BatchPolicy(max_seconds=5.0, stop_criteria={R.TRAINING_ITERATION: 3})
    host, replies = _host_run({}, policy, calls=3, trainable=checkpointing_function)
    batches = [batch for _, batch in replies]
    assert [[r["value"] for r in b.results] for b in batches] == [[1], [2], [3]]
    assert all(b.results[0][R.SHOULD_CHECKPOINT] for b in batches)
    assert batches[2].finished is None and host._trainable is not None
    asyncio.run(host.stop())


def test_host_without_a_policy_trains_lock_step():
    _, replies = _host_run({}, None, calls=2)
    assert [[r["steps"] for r in batch.results] for _, batch in replies] == [[1], [2]]


# -- end to end on a real cluster ------------------------------------------------------------


def _run_step_recorder(trace, tmp_path, client):
    return tune.run(
        StepRecorder,
        config={"trace_dir": str(trace), "scale": tune.grid_search([1, 3])},
        stop={"metric": 300},
        checkpoint_freq=7,
        local_dir=str(tmp_path / "results"),
        verbose=0,
        client=client,
    )


def _steps_run(trace_dir) -> dict[str, int]:
    return {
        name.removesuffix(".steps"): int((trace_dir / name).read_text())
        for name in os.listdir(trace_dir)
    }


BATCHING_ON = {"dasktune.result-batch-time": "100ms"}


def test_batched_run_matches_the_rules_exactly(client, tmp_path):
    """Fast trials batch their results, yet each stops at exactly the stop rule and
    checkpoints at exactly checkpoint_freq: no step is trained past a decision."""
    trace = tmp_path / "trace"
    trace.mkdir()
    with dask.config.set(BATCHING_ON):
        analysis = _run_step_recorder(trace, tmp_path, client)
    steps = _steps_run(trace)
    by_scale = {t.config["scale"]: t for t in analysis.trials}
    assert steps[by_scale[1].trial_id] == 300
    assert steps[by_scale[3].trial_id] == 100
    for scale, expected in ((1, 300), (3, 100)):
        trial = by_scale[scale]
        rows = read_rows(trial.logdir)
        assert [r["steps"] for r in rows] == list(range(1, expected + 1))
        # The newest checkpoint was taken exactly at its iteration.
        assert trial.checkpoint_iteration == expected - expected % 7
        with open(os.path.join(trial.checkpoint, "steps.txt")) as f:
            assert int(f.read()) == trial.checkpoint_iteration


def test_batched_function_trainable_stops_at_the_rule(client, tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    with dask.config.set(BATCHING_ON):
        analysis = tune.run(
            step_recording_function,
            config={"trace_dir": str(trace)},
            stop={"training_iteration": 500},
            local_dir=str(tmp_path / "results"),
            verbose=0,
            client=client,
        )
    (trial,) = analysis.trials
    assert _steps_run(trace) == {trial.trial_id: 500}
    assert len(read_rows(trial.logdir)) == 500


def test_failure_inside_a_batch_keeps_the_earlier_results(client, tmp_path):
    with dask.config.set(BATCHING_ON):
        analysis = tune.run(
            StepRecorder,
            config={"fail_at": 40},
            stop={"training_iteration": 100},
            local_dir=str(tmp_path),
            verbose=0,
            raise_on_failed_trial=False,
            client=client,
        )
    (trial,) = analysis.trials
    assert trial.status == "ERROR"
    assert [r["steps"] for r in read_rows(trial.logdir)] == list(range(1, 40))
    assert "boom at step 40" in trial.error_msg


def test_failing_cleanup_keeps_the_last_result_and_fails_the_trial(client, tmp_path):
    analysis = tune.run(
        StepRecorder,
        config={"cleanup_raises": True},
        stop={"training_iteration": 5},
        local_dir=str(tmp_path),
        verbose=0,
        raise_on_failed_trial=False,
        client=client,
    )
    (trial,) = analysis.trials
    assert [r["steps"] for r in read_rows(trial.logdir)] == [1, 2, 3, 4, 5]
    assert trial.status == "ERROR" and "cleanup failed" in trial.error_msg


def test_lock_step_run_gives_the_same_rows_and_steps(client, tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    analysis = _run_step_recorder(trace, tmp_path, client)
    steps = _steps_run(trace)
    for trial in analysis.trials:
        expected = 300 // trial.config["scale"]
        assert steps[trial.trial_id] == expected
        assert [r["steps"] for r in read_rows(trial.logdir)] == list(range(1, expected + 1))
        assert trial.checkpoint_iteration == expected - expected % 7
