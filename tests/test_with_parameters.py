"""``tune.with_parameters`` (Ray 1.x): arguments that are not part of the config reach every
trial, each trial with its own copy; functions (with and without ``checkpoint_dir``) and
Trainable classes (``setup`` and Ray 0.8's ``_setup``); bad input named early."""

from __future__ import annotations

import threading

import pytest
from scripts import run_script

import dasktune as tune
from dasktune.utils.trainable import with_parameters


def sums(config, data=None):
    data.append(config["x"])  # in place: another trial must not see it
    tune.report(total=sum(data), n=len(data))


def sums_checkpointing(config, checkpoint_dir=None, data=None):
    tune.report(total=sum(data) + config["x"], resumed=checkpoint_dir is not None)


class Modern(tune.Trainable):
    def setup(self, config, data=None, scale=1):
        self.value = sum(data) * scale + config["x"]

    def step(self):
        return {"total": self.value, "done": True}


class Legacy(tune.Trainable):
    def _setup(self, config, data=None):
        self.value = sum(data) + config["x"]

    def _train(self):
        return {"total": self.value, "done": True}


def test_the_same_object_as_ray_exports():
    assert tune.with_parameters is with_parameters


@pytest.mark.parametrize("fn", [sums, sums_checkpointing], ids=["plain", "checkpoint_dir"])
def test_a_function_gets_its_parameters_and_each_trial_its_own_copy(client, tmp_path, fn):
    analysis = tune.run(
        tune.with_parameters(fn, data=[10, 20]),
        config={"x": tune.grid_search([1, 2, 3, 4])},
        client=client,
        local_dir=str(tmp_path),
        max_concurrent_trials=1,  # trials follow each other on the same workers
        verbose=0,
    )
    totals = sorted(t.last_result["total"] for t in analysis.trials)
    assert totals == [31, 32, 33, 34]
    if fn is sums:
        assert {t.last_result["n"] for t in analysis.trials} == {3}
    # The trials keep the function's name, as in Ray; the data is not in the config.
    assert all(t.trial_id and "sums" in str(t) for t in analysis.trials)
    assert all(set(t.config) == {"x"} for t in analysis.trials)


@pytest.mark.parametrize("cls", [Modern, Legacy])
def test_a_trainable_class_gets_them_in_setup(client, tmp_path, cls):
    bound = tune.with_parameters(cls, data=[1, 2, 3])
    assert issubclass(bound, cls) and bound.__name__ == cls.__name__
    analysis = tune.run(
        bound,
        config={"x": tune.grid_search([0, 100])},
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    assert sorted(t.last_result["total"] for t in analysis.trials) == [6, 106]


def test_bad_input_is_named_before_anything_runs():
    with pytest.raises(
        ValueError, match=r"sums\(\) has no parameter named 'dataset'.*dataset=None"
    ):
        tune.with_parameters(sums, dataset=[1])
    with pytest.raises(ValueError, match=r"Modern.setup\(\) has no parameter named 'rows'"):
        tune.with_parameters(Modern, rows=[1])
    with pytest.raises(
        TypeError, match=r"parameters\['data'\] \(a _thread.lock\) cannot be pickled"
    ):
        tune.with_parameters(sums, data=threading.Lock())
    with pytest.raises(TypeError, match="not a tune.Trainable"):
        tune.with_parameters(dict, data=[1])
    with pytest.raises(TypeError, match="takes a function or a tune.Trainable subclass"):
        tune.with_parameters(42, data=[1])


SCRIPT = """
import numpy as np
import dasktune as tune

def train(config, checkpoint_dir=None, features=None, labels=None):
    error = float(np.mean((features @ np.array([config["w"], 1.0]) - labels) ** 2))
    tune.report(mse=error)

rng = np.random.default_rng(0)
features = rng.normal(size=(2000, 2))
labels = features @ np.array([3.0, 1.0])
analysis = tune.run(tune.with_parameters(train, features=features, labels=labels),
                    config={"w": tune.grid_search([1.0, 3.0, 5.0])}, metric="mse", mode="min",
                    verbose=0)
print("BEST", analysis.best_config["w"], [t.trainable_name for t in analysis.trials][0])
"""


def test_a_ray_script_with_numpy_data_runs_unchanged(tmp_path):
    done = run_script(tmp_path, SCRIPT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BEST 3.0 train" in done.stdout


def test_a_function_from_a_module_the_workers_cannot_import(client, tmp_path, monkeypatch):
    # A helper module next to the user's script: on the driver's path only. The wrapper is
    # dasktune's, so shipping must follow it to the user's function and send that by value.
    (tmp_path / "wp_helper_mod.py").write_text(
        "import dasktune as tune\n\n"
        "def train(config, data=None):\n"
        "    tune.report(total=sum(data) + config['x'])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import wp_helper_mod

    analysis = tune.run(
        tune.with_parameters(wp_helper_mod.train, data=[1, 2]),
        config={"x": tune.grid_search([0, 1])},
        client=client,
        local_dir=str(tmp_path / "results"),
        verbose=0,
    )
    assert sorted(t.last_result["total"] for t in analysis.trials) == [3, 4]
