"""Bad arguments to run() fail before any cluster or actor starts, naming the fix."""

from __future__ import annotations

import time

import pytest
from trainables import Counter, Guesser

import dasktune as tune

# A scheduler address nobody listens on: reaching it would hang or fail differently.
NOWHERE = "tcp://127.0.0.1:9"


def run_fast(*args, **kwargs):
    started = time.time()
    try:
        tune.run(*args, address=NOWHERE, verbose=0, **kwargs)
    finally:
        assert time.time() - started < 5


def test_unknown_keyword_suggests_the_right_one():
    with pytest.raises(TypeError, match="'stopp' \\(did you mean 'stop'\\?\\)"):
        run_fast(Counter, stopp={"training_iteration": 1})


def test_non_callable_trainable():
    with pytest.raises(TypeError, match="must be a tune.Trainable subclass, a function"):
        run_fast(42)
    with pytest.raises(TypeError, match="not a dasktune.Trainable subclass"):
        run_fast(dict)
    with pytest.raises(ValueError, match="register_trainable\\('nope'"):
        run_fast("nope")


def test_nested_stop_dict():
    with pytest.raises(ValueError, match="nested dict.*slash-joined"):
        run_fast(Counter, stop={"a": {"b": 1}})
    with pytest.raises(TypeError, match="stop must be a dict, a function"):
        run_fast(Counter, stop=3)


def test_num_samples_must_be_positive():
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        run_fast(Counter, num_samples=0)
    with pytest.raises(TypeError, match="num_samples must be an int"):
        run_fast(Counter, num_samples=2.5)


def test_domain_where_it_cannot_be_sampled():
    with pytest.raises(ValueError, match=r'config\["layers"\]'):
        run_fast(Counter, config={"layers": (tune.randint(1, 3), 4)})


def test_bad_resources():
    with pytest.raises(ValueError, match="unknown key"):
        run_fast(Counter, resources_per_trial={"cpus": 1})


def test_checkpoint_freq_without_save():
    with pytest.raises(ValueError, match="need a trainable that can checkpoint"):
        run_fast(Guesser, checkpoint_freq=1, config={"guess": 1})


def test_default_resource_request_and_resources_per_trial_conflict():
    class Asks(tune.Trainable):
        @classmethod
        def default_resource_request(cls, config):
            return {"cpu": 2}

        def _train(self):
            return {}

    with pytest.raises(ValueError, match="remove resources_per_trial"):
        run_fast(Asks, resources_per_trial={"cpu": 1})


def test_bad_mode_and_scheduler():
    with pytest.raises(ValueError, match="mode must be"):
        run_fast(Counter, mode="maximum")
    with pytest.raises(TypeError, match="scheduler= must be"):
        run_fast(Counter, scheduler="asha")


def test_ignored_ray_argument_warns(client, results_dir):
    with pytest.warns(UserWarning, match="with_server.*no effect"):
        tune.run(
            Counter,
            with_server=True,
            stop={"training_iteration": 1},
            client=client,
            local_dir=results_dir,
            verbose=0,
        )


def test_ray_arguments_that_carry_code_dasktune_cannot_run_are_refused():
    with pytest.raises(ValueError, match="trial_executor=.*tune.Callback"):
        run_fast(Counter, trial_executor=object())
    with pytest.raises(ValueError, match="sync_to_cloud=<function>.*fsspec"):
        run_fast(Counter, sync_to_cloud=lambda source, target: None)
