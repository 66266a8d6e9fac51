"""TuneBOHB with HyperBandForBOHB, and GeneticSearch, through tune.run on a real LocalCluster
(issues 12/13): seeded analytic objectives, configs inside the space, better than the first
suggestions."""

from __future__ import annotations

import statistics

import pytest

import dasktune as tune
from dasktune.automl import ContinuousSpace, DiscreteSpace, GeneticSearch, SearchSpace
from dasktune.schedulers import HyperBandForBOHB
from dasktune.suggest.bohb import TuneBOHB

pytestmark = pytest.mark.slow


def objective(config):
    return (config["x"] - 1.0) ** 2 + (config["y"] + 0.5) ** 2


class Curve(tune.Trainable):
    """Loss falls with training toward the config's objective; checkpoints (HyperBand pauses)."""

    def _setup(self, config):
        self.steps = 0

    def _train(self):
        self.steps += 1
        return {"loss": objective(self.config) + 2.0 / self.steps}

    def _save(self, tmp_checkpoint_dir):
        return {"steps": self.steps}

    def _restore(self, checkpoint):
        self.steps = checkpoint["steps"]


def test_bohb_with_hyperband_for_bohb_through_tune_run(client, tmp_path):
    searcher = TuneBOHB(max_concurrent=4, seed=0)
    scheduler = HyperBandForBOHB(max_t=9, reduction_factor=3)
    analysis = tune.run(
        Curve,
        search_alg=searcher,
        scheduler=scheduler,
        metric="loss",
        mode="min",
        num_samples=26,
        config={"x": tune.uniform(-3.0, 3.0), "y": tune.uniform(-3.0, 3.0), "tag": "bohb"},
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    trials = analysis.trials
    assert len(trials) == 26 and {t.status for t in trials} == {"TERMINATED"}
    for trial in trials:
        assert -3 <= trial.config["x"] <= 3 and -3 <= trial.config["y"] <= 3
        assert trial.config["tag"] == "bohb"
    # the first band is 9 + 5 + 3 trials; BOHB heard every milestone result
    assert set(searcher.bohber.configs) == {1, 3, 9}
    assert len(searcher.bohber.configs[1]) >= 9
    assert not searcher.trial_to_params and not searcher.running and not searcher.paused
    values = [objective(t.config) for t in trials]
    first, later = values[:9], values[9:]
    assert statistics.median(later) < statistics.median(first)
    assert min(later) < min(first)


def reward(config):
    bonus = {"relu": 0.0, "tanh": 0.5, "gelu": 1.0}[config["act"]]
    return bonus - (config["model"]["x"] - 1.0) ** 2


def genetic_objective(config):
    tune.report(reward=reward(config))


def test_genetic_search_through_tune_run(client, tmp_path):
    space = SearchSpace(
        [ContinuousSpace("model.x", -2.0, 2.0, 9), DiscreteSpace("act", ["relu", "tanh", "gelu"])]
    )
    search = GeneticSearch(space, "reward", max_generation=2, population_size=6, seed=3)
    analysis = tune.run(
        genetic_objective,
        search_alg=search,
        config={"model": {"depth": 2}},
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    trials = analysis.trials
    assert len(trials) == 6 + 5 and {t.status for t in trials} == {"TERMINATED"}
    assert all(t.config["model"]["depth"] == 2 for t in trials)
    first = sorted(trials[:6], key=lambda t: reward(t.config), reverse=True)
    kept = [(t.config["model"]["x"], t.config["act"]) for t in trials[6:8]]
    assert kept == [(t.config["model"]["x"], t.config["act"]) for t in first[:2]]
    best = max(reward(t.config) for t in trials)
    assert best >= reward(first[0].config)
    assert analysis.get_best_config(metric="reward", mode="max") is not None
