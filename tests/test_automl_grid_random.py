"""Ray 0.8's one-round AutoML searchers, ``dasktune.automl.GridSearch`` and ``RandomSearch``,
through the real controller in simulated time, and as a module-level script."""

from __future__ import annotations

import pytest
from scripts import run_script
from test_genetic import SPACE, genetic_run, reward
from test_searchers import factory

from dasktune.automl import (
    ContinuousSpace,
    DiscreteSpace,
    GridSearch,
    RandomSearch,
    SearchSpace,
)
from dasktune.trial import TrialStatus


def test_grid_search_runs_every_combination_once_then_ends():
    search = GridSearch(SPACE, "reward")
    controller, made, _ = genetic_run(search)
    assert search.is_finished()
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    assert len(made) == 9 * 9 * 3
    points = [(t.config["model"]["x"], t.config["model"]["y"], t.config["act"]) for t in made]
    xs, ys, acts = (p.choices for p in SPACE.param_list)
    assert sorted(points) == sorted((x, y, a) for x in xs for y in ys for a in acts)
    # The first parameter varies fastest, as in Ray's grid expansion.
    assert [p[0] for p in points[:9]] == xs and {p[1:] for p in points[:9]} == {(-2.0, "relu")}
    # The rest of the run's config is kept and its own domains drawn.
    assert all(t.config["model"]["depth"] == 2 and 0 <= t.config["noise"] <= 1 for t in made)
    best = max(made, key=lambda t: reward(t.config))
    assert (best.config["model"]["x"], best.config["model"]["y"], best.config["act"]) == (
        1.0,
        -0.5,
        "gelu",
    )
    assert search.get_best_trial() is best


def test_random_search_draws_repeat_configs_inside_the_space_then_ends():
    search = RandomSearch(SPACE, "reward", 12, seed=3)
    controller, made, _ = genetic_run(search)
    assert search.is_finished() and len(made) == 12
    xs = [t.config["model"]["x"] for t in made]
    assert all(-2.0 <= x <= 2.0 for x in xs)
    # Continuous parameters are drawn anywhere in [start, end], not only at the grid points.
    assert any(x not in SPACE.param_list[0].choices for x in xs)
    assert {t.config["act"] for t in made} <= {"relu", "tanh", "gelu"}
    assert search.best_config is not None


def test_random_search_repeats_with_the_same_seed_and_differs_with_another():
    def drawn(seed):
        _, made, _ = genetic_run(RandomSearch(SPACE, "reward", 5, seed=seed))
        return [(t.config["model"]["x"], t.config["act"]) for t in made]

    assert drawn(7) == drawn(7)
    assert drawn(7) != drawn(8)


def test_random_search_state_round_trip_continues_the_same_round():
    space = SearchSpace([ContinuousSpace("lr", 0.0, 1.0, 3), DiscreteSpace("n", [1, 2])])
    first = RandomSearch(space, "reward", 4, seed=0)
    make, made = factory()
    first.setup_experiment({}, 1, None, make)
    a = first.next_trial()
    second = RandomSearch(space, "reward", 4)
    second.setup_experiment({}, 1, None, factory()[0])
    second.set_state(first.get_state())
    rest_first = [first.next_trial().config for _ in range(3)]
    rest_second = [second.next_trial().config for _ in range(3)]
    assert rest_first == rest_second
    assert a.config not in rest_first  # drawn once: the round goes on, not over


@pytest.mark.parametrize("repeat", [0, -1, 1.5, True])
def test_random_search_refuses_a_bad_repeat(repeat):
    with pytest.raises(ValueError, match="repeat"):
        RandomSearch(SPACE, "reward", repeat)


SCRIPT = """
import dasktune as tune
from dasktune.automl import ContinuousSpace, DiscreteSpace, GridSearch, RandomSearch, SearchSpace

space = SearchSpace([ContinuousSpace("model.x", -2.0, 2.0, 5), DiscreteSpace("act", ["a", "b"])])

def objective(config):
    tune.report(reward=-(config["model"]["x"] - 1.0) ** 2 + (config["act"] == "b"))

for search in (GridSearch(space, "reward"), RandomSearch(space, "reward", 4, seed=1)):
    analysis = tune.run(objective, search_alg=search, config={"model": {"depth": 2}}, verbose=0)
    best = analysis.get_best_config(metric="reward", mode="max")
    print(type(search).__name__, len(analysis.trials), best["model"]["x"], best["act"])
"""


@pytest.mark.slow
def test_grid_and_random_search_in_a_module_level_script(tmp_path):
    done = run_script(tmp_path, SCRIPT, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    grid, random_ = (line.split() for line in done.stdout.splitlines()[-2:])
    assert grid == ["GridSearch", "10", "1.0", "b"]
    assert random_[:2] == ["RandomSearch", "4"] and -2.0 <= float(random_[2]) <= 2.0
