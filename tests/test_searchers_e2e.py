"""OptunaSearch through tune.run on a real LocalCluster (issue 13): a run, and a resume after a
stop-all that continues the same study."""

from __future__ import annotations

import math

import pytest
from helpers import StopAllAfter

import dasktune as tune
from dasktune.search import Searcher

optuna = pytest.importorskip("optuna")
from dasktune.search.optuna import OptunaSearch  # noqa: E402

pytestmark = pytest.mark.slow

SPACE = {"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 5)}


def objective(config):
    tune.report(loss=(math.log10(config["lr"]) + 2.5) ** 2 + (config["layers"] - 3) ** 2)


def test_optuna_search_through_tune_run(client, tmp_path):
    searcher = OptunaSearch(metric="loss", mode="min", seed=0)
    analysis = tune.run(
        objective,
        search_alg=searcher,
        num_samples=20,
        config=SPACE,
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    trials = analysis.trials
    assert len(trials) == 20 and {t.status for t in trials} == {"TERMINATED"}
    study = searcher.study
    assert len(study.trials) == 20
    assert {t.state.name for t in study.trials} == {"COMPLETE"}
    best = analysis.get_best_config(metric="loss", mode="min")
    assert best["lr"] == pytest.approx(study.best_params["lr"])
    assert best["layers"] == study.best_params["layers"]


class Recording(Searcher):
    """Suggests x = 0, 1, 2...; records the ids it is asked under and told about."""

    def __init__(self):
        super().__init__()
        self.asked, self.completed = [], []

    def suggest(self, trial_id):
        self.asked.append(trial_id)
        return {"lr": 10 ** -(len(self.asked)), "layers": 3}

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.completed.append((trial_id, result["loss"], error))


def test_a_bare_searcher_sees_the_trials_own_ids(client, tmp_path):
    searcher = Recording()
    analysis = tune.run(
        objective,
        search_alg=searcher,
        num_samples=3,
        config={"constant": 1},
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    ids = [t.trial_id for t in analysis.trials]
    assert searcher.asked == ids
    assert sorted(c[0] for c in searcher.completed) == sorted(ids)
    assert all(t.config["constant"] == 1 for t in analysis.trials)


def test_resume_after_a_stop_all_continues_the_same_study(client, tmp_path):
    common = dict(
        config=SPACE,
        num_samples=8,
        max_concurrent_trials=1,
        client=client,
        local_dir=str(tmp_path),
        name="exp",
        verbose=0,
    )
    first = tune.run(
        objective,
        search_alg=OptunaSearch(metric="loss", mode="min", seed=3),
        stop=StopAllAfter(3),
        **common,
    )
    made_first = [t.config for t in first.trials]
    assert 3 <= len(made_first) < 8
    searcher = OptunaSearch(metric="loss", mode="min", seed=3)
    second = tune.run(objective, search_alg=searcher, resume=True, **common)
    configs = [t.config for t in second.trials]
    assert len(configs) == 8
    assert configs[: len(made_first)] == made_first
    assert len({(c["lr"], c["layers"]) for c in configs}) == 8  # no config twice
    study = searcher.study
    assert len(study.trials) == 8  # the same study went on: 8 trials in all, not 8 more
    assert {t.state.name for t in study.trials} == {"COMPLETE"}
    assert sorted(t.params["lr"] for t in study.trials) == sorted(c["lr"] for c in configs)
