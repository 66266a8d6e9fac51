"""Trainable and function runner in-process (no cluster)."""

from __future__ import annotations

import os
import threading

import pytest
from trainables import Counter, Guesser, counter_function

import dasktune as tune
from dasktune.function_trainable import FunctionError, wrap_function


def test_underscore_and_modern_names_are_aliases():
    class Modern(tune.Trainable):
        def setup(self, config):
            self.x = config["x"]

        def step(self):
            self.x += 1
            return {"x": self.x}

        def save_checkpoint(self, d):
            path = os.path.join(d, "state")
            with open(path, "w") as f:
                f.write(str(self.x))
            return path

        def load_checkpoint(self, path):
            with open(path) as f:
                self.x = int(f.read())

    t = Modern(config={"x": 1})
    assert t.train()["x"] == 2
    assert Modern.can_checkpoint() and not Guesser.can_checkpoint()
    path = t.save()
    t.train()
    t.restore(path)
    assert t.x == 2 and t.iteration == 1
    assert t.train()["training_iteration"] == 2


def test_setup_gets_a_copy_of_config():
    class Mutator(tune.Trainable):
        def _setup(self, config):
            config["added"] = True

        def _train(self):
            return {}

    t = Mutator(config={"a": 1})
    assert t.config == {"a": 1}


def test_train_must_return_a_dict():
    class Bad(tune.Trainable):
        def _train(self):
            return 3

    with pytest.raises(TypeError, match="Bad._train\\(\\) .* must return a dict.*int"):
        Bad().train()


def test_user_training_iteration_wins_and_timesteps_only_when_reported():
    t = Guesser(config={"guess": 5})
    result = t.train()
    assert result["training_iteration"] == 1 and "timesteps_total" not in result

    class Steps(tune.Trainable):
        def _train(self):
            return {"timesteps_this_iter": 10, "training_iteration": 100}

    s = Steps()
    s.train()
    result = s.train()
    assert result["timesteps_total"] == 20 and result["training_iteration"] == 100


def test_save_restore_dict_and_object():
    t = Counter(config={"step": 2})
    t.train()
    t.train()
    blob = t.save_to_object()
    other = Counter(config={"step": 2})
    other.restore_from_object(blob)
    assert other.value == 4 and other.iteration == 2
    assert other.train()["value"] == 6


def test_save_path_outside_dir_is_rejected(tmp_path):
    class Outside(tune.Trainable):
        def _train(self):
            return {}

        def _save(self, d):
            return str(tmp_path)

    with pytest.raises(ValueError, match="outside the checkpoint dir"):
        Outside().save(str(tmp_path / "ck"))


def test_stop_runs_cleanup_once():
    calls = []

    class C(tune.Trainable):
        def _train(self):
            return {}

        def cleanup(self):
            calls.append(1)

    t = C()
    t.stop()
    t.stop()
    assert calls == [1]


def test_function_runner_reports_and_stops_thread():
    cls = wrap_function(counter_function)
    t = cls(config={"step": 1})
    assert [t.train()["value"] for _ in range(3)] == [1, 2, 3]
    thread = t._thread
    t.stop()
    thread.join(2)
    assert not thread.is_alive()


def test_function_runner_error_and_return():
    def raises(config):
        tune.track.log(a=1)
        raise KeyError("nope")

    t = wrap_function(raises)(config={})
    assert t.train()["a"] == 1
    with pytest.raises(FunctionError, match="KeyError: 'nope'"):
        t.train()

    def returns(config, reporter):
        reporter(a=1)
        assert reporter.logdir

    t = wrap_function(returns)(config={})
    t.train()
    closing = t.train()
    assert closing["done"] is True and closing["__duplicate__"] is True


def _write(directory, value):
    with open(os.path.join(directory, "value.txt"), "w") as f:
        f.write(str(value))


def test_function_checkpoint_flags_the_next_report_once(tmp_path):
    def checkpoints_twice(config, checkpoint_dir=None):
        tune.track.log(a=1)
        with tune.checkpoint_dir(step=1) as d:
            _write(d, 1)
        tune.track.log(a=2)
        tune.track.log(a=3)
        with tune.checkpoint_dir(step=3) as d:
            _write(d, 3)
        tune.track.log(a=4)

    t = wrap_function(checkpoints_twice)(config={})
    results = [t.train() for _ in range(4)]
    assert [r.get("should_checkpoint", False) for r in results] == [False, True, False, True]
    path = t.save(str(tmp_path))
    assert os.path.basename(path) == "checkpoint_4"
    with open(os.path.join(path, "value.txt")) as f:
        assert f.read() == "3"
    closing = t.train()
    # The closing result repeats the last one and is no iteration of its own.
    assert closing["__duplicate__"] and closing["done"] and "should_checkpoint" not in closing
    assert closing["training_iteration"] == 4 and t.iteration == 4
    t.stop()


def test_function_checkpoint_after_the_last_report_is_the_next_iteration(tmp_path):
    def checkpoints_then_returns(config, checkpoint_dir=None):
        with tune.checkpoint_dir(step=1) as d:
            _write(d, 1)
        tune.track.log(a=1)
        with tune.checkpoint_dir(step=2) as d:
            _write(d, 2)

    t = wrap_function(checkpoints_then_returns)(config={})
    assert t.train()["should_checkpoint"] is True
    closing = t.train()
    assert closing["__duplicate__"] and closing["should_checkpoint"] is True
    assert closing["training_iteration"] == 1 and t.iteration == 2
    assert os.path.basename(t.save(str(tmp_path))) == "checkpoint_2"
    t.stop()


def test_function_returning_a_dict_reports_it_as_its_final_result():
    def returns_a_dict(config):
        tune.track.log(score=1)
        return {"score": 42}

    t = wrap_function(returns_a_dict)(config={})
    assert t.train()["done"] is False
    last = t.train()
    assert last["score"] == 42 and last["done"] is True and last["training_iteration"] == 2
    assert "__duplicate__" not in last
    t.stop()


def test_checkpoint_dir_without_the_parameter_is_a_clear_error():
    def no_parameter(config):
        with tune.checkpoint_dir(step=1):
            pass

    t = wrap_function(no_parameter)(config={})
    with pytest.raises(FunctionError, match="has no checkpoint_dir parameter"):
        t.train()


def test_track_log_outside_a_function_is_a_clear_error():
    with pytest.raises(RuntimeError, match="outside a function trainable"):
        tune.track.log(x=1)


def test_track_log_with_several_trials_in_process_needs_the_thread():
    seen = []

    def f(config):
        seen.append(threading.current_thread().name)
        tune.track.log(x=config["x"])

    a = wrap_function(f)(config={"x": 1})
    b = wrap_function(f)(config={"x": 2})
    assert a.train()["x"] == 1 and b.train()["x"] == 2
    with pytest.raises(RuntimeError, match="several trials"):
        tune.track.log(x=3)
    a.stop()
    b.stop()


def every_third(config, checkpoint_dir=None):
    """Counts; writes a checkpoint at every third count only."""
    n = 0
    if checkpoint_dir:
        with open(os.path.join(checkpoint_dir, "value.txt")) as f:
            n = int(f.read())
    while True:
        n += 1
        if n % config["every"] == 0:
            with tune.checkpoint_dir(step=n) as d:
                _write(d, n)
        tune.report(n=n)


@pytest.mark.parametrize("every, resumes_at", [(3, 3), (100, 0)])
def test_a_function_saved_between_its_checkpoints_counts_on_from_its_state(
    tmp_path, every, resumes_at
):
    """A pause or exploit saves a function trial between its own checkpoints: restored, its
    iteration counter goes back to the state it holds (iteration 0 and a fresh start when it
    never checkpointed), instead of Ray's counters ahead of the state (ray#27170)."""
    first = wrap_function(every_third)(config={"every": every})
    assert [first.train()["n"] for _ in range(5)] == [1, 2, 3, 4, 5]
    with pytest.warns(UserWarning, match=f"newest checkpoint is from iteration {resumes_at}"):
        path = first.save(str(tmp_path))
    first.stop()
    second = wrap_function(every_third)(config={"every": every})
    second.restore(path)
    result = second.train()
    # The function's state and the counter agree: the iterations after the state run again.
    assert result["n"] == resumes_at + 1 == result["training_iteration"]
    second.stop()
