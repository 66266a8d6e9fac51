"""GeneticSearch (Ray 0.8's ``ray.tune.automl``), pure and on the simulated backend (no cluster,
simulated time)."""

from __future__ import annotations

import random

import pytest
from controller_harness import make_controller
from test_searchers import factory
from test_simulated_loop import Rows, run_loop, workers

import dasktune as tune
from dasktune.automl import ContinuousSpace, DiscreteSpace, GeneticSearch, SearchSpace
from dasktune.backend.protocol import TrialCodeError
from dasktune.backend.simulated import ScriptedTrainable, SimulatedBackend
from dasktune.trial import TrialStatus

SPACE = SearchSpace(
    [
        ContinuousSpace("model.x", -2.0, 2.0, 9),
        ContinuousSpace("model.y", -2.0, 2.0, 9),
        DiscreteSpace("act", ["relu", "tanh", "gelu"]),
    ]
)


def reward(config):
    bonus = {"relu": 0.0, "tanh": 0.5, "gelu": 1.0}[config["act"]]
    return bonus - (config["model"]["x"] - 1.0) ** 2 - (config["model"]["y"] + 0.5) ** 2


def genetic_run(search, config=None, fail=lambda c: False, slots=3):
    config = {"model": {"depth": 2}, "noise": tune.uniform(0, 1)} if config is None else config
    assert search.set_search_properties("reward", "max", config)
    make, made = factory()
    search.setup_experiment(config, 1, 0, make)
    controller = make_controller(search_alg=search, stop={"training_iteration": 2})

    def fault(method, trial):
        if method == "train" and fail(trial.config):
            raise TrialCodeError("simulated: the objective raised")

    rows = Rows()
    backend = SimulatedBackend(
        workers(slots), ScriptedTrainable(lambda c, i: {"reward": reward(c)}), fault=fault
    )
    run_loop(controller, backend, [rows])
    return controller, made, rows


def test_generations_shrink_keep_their_best_and_do_not_get_worse():
    search = GeneticSearch(
        SPACE, "reward", max_generation=3, population_size=10, population_decay=0.8, seed=1
    )
    controller, made, _ = genetic_run(search)
    assert search.is_finished() and search.generation == 4
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    # 10, then max(int(10 * .8), 3) = 8, then int(8 * .8) = 6
    assert len(made) == 24
    gens = [made[:10], made[10:18], made[18:]]
    # the configs are the run's config with the searched values at their paths
    for trial in made:
        assert trial.config["model"]["depth"] == 2 and 0 <= trial.config["noise"] <= 1
        assert trial.config["model"]["x"] in SPACE.param_list[0].choices
        assert trial.config["act"] in ("relu", "tanh", "gelu")
    # each generation starts with the top 2 of the one before (keep_top_ratio 0.2 -> 2)
    for before, after in zip(gens, gens[1:], strict=False):
        ranked = sorted(before, key=lambda t: reward(t.config), reverse=True)
        assert [searched(t) for t in after[:2]] == [searched(t) for t in ranked[:2]]
    best = [max(reward(t.config) for t in g) for g in gens]
    assert best[0] <= best[1] <= best[2]
    assert search.best_config is not None
    assert reward_of(search.best_config) == pytest.approx(best[2])
    assert reward(search.get_best_trial().config) == pytest.approx(best[2])


def searched(trial):
    return trial.config["model"]["x"], trial.config["model"]["y"], trial.config["act"]


def reward_of(params):
    config = {"model": {"x": params["model.x"], "y": params["model.y"]}, "act": params["act"]}
    return reward(config)


def test_a_generation_waits_for_the_last_trial_of_the_one_before():
    search = GeneticSearch(SPACE, "reward", max_generation=2, population_size=4, seed=0)
    controller, made, rows = genetic_run(search, slots=8)
    # 8 slots but 4 members: the second generation starts after the first ended
    assert len(made) == 4 + 3
    starts = [rows.rows[t.trial_id][0]["timestamp"] for t in made]
    ends = [rows.rows[t.trial_id][-1]["timestamp"] for t in made]
    assert min(starts[4:]) >= max(ends[:4])


def test_failed_trials_rank_last_and_the_search_goes_on():
    search = GeneticSearch(SPACE, "reward", max_generation=2, population_size=6, seed=2)
    controller, made, _ = genetic_run(search, fail=lambda c: c["act"] == "gelu")
    assert len(made) == 6 + 5
    gen1 = made[:6]
    ok = [t for t in gen1 if t.config["act"] != "gelu"]
    if len(ok) >= 2:  # the kept top 2 did not fail
        assert all(t.config["act"] != "gelu" for t in made[6:8])
    assert any(t.status == TrialStatus.ERROR for t in controller.trials)


def test_operators_stay_in_the_space_and_leave_parents_alone():
    search = GeneticSearch(SPACE, "reward", seed=3)
    rng = random.Random(0)
    parents = [SPACE.random_gene(rng) for _ in range(3)]
    frozen = [list(p) for p in parents]
    counts = [p.choices_count() for p in SPACE.param_list]
    for _ in range(200):
        for child in (
            search._selection(parents),
            search._crossover(parents),
            search._mutation(parents),
        ):
            assert len(child) == 3 and all(0 <= g < n for g, n in zip(child, counts, strict=True))
    assert parents == frozen
    # selection differs from its first parent in at most one place; crossover takes a prefix
    child = search._selection([[0, 0, 0], [1, 1, 1]])
    assert sum(child) in (0, 1, 2, 3) and (child.count(1) <= 1 or child.count(0) <= 1)
    cross = search._crossover([[0, 0, 0], [1, 1, 1]])
    assert cross == sorted(cross) or cross == sorted(cross, reverse=True)


def test_state_round_trip_mid_generation_continues_the_same_search():
    def drive(search, make, stop_after=None):
        done = 0
        while not search.is_finished():
            live = []
            while (trial := search.next_trial()) is not None:
                live.append(trial)
            for trial in live:
                search.on_trial_complete(trial.trial_id, {"reward": reward(trial.config)})
                done += 1
                if stop_after is not None and done == stop_after:
                    return
        return

    a = GeneticSearch(SPACE, "reward", max_generation=3, population_size=6, seed=4)
    make_a, made_a = factory()
    a.setup_experiment({}, 1, None, make_a)
    drive(a, make_a, stop_after=8)  # inside generation 2
    b = GeneticSearch(SPACE, "reward", max_generation=3, population_size=6, seed=4)
    make_b, made_b = factory()
    b.setup_experiment({}, 1, None, make_b)
    b.set_state(a.get_state())
    # the live members of generation 2 finish in b (the resumed run's trials keep their ids)
    for member in b._round:
        if member.trial_id is not None and not member.done:
            trial = next(t for t in made_a if t.trial_id == member.trial_id)
            b.on_trial_complete(member.trial_id, {"reward": reward(trial.config)})
            a.on_trial_complete(member.trial_id, {"reward": reward(trial.config)})
    drive(a, make_a)
    drive(b, make_b)
    assert a.is_finished() and b.is_finished()
    assert [t.config for t in made_b] == [t.config for t in made_a[len(made_a) - len(made_b) :]]


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="SearchSpace"):
        GeneticSearch({"x": [1, 2]}, "reward")
    with pytest.raises(ValueError, match="selection_bound \\+ crossover_bound"):
        GeneticSearch(SPACE, "reward", selection_bound=0.7, crossover_bound=0.5)
    with pytest.raises(ValueError, match="population_size"):
        GeneticSearch(SPACE, "reward", population_size=0)
    with pytest.raises(ValueError, match="only 'linear'"):
        ContinuousSpace("x", 0, 1, 3, distribution="log")
    with pytest.raises(ValueError, match="appears twice"):
        SearchSpace([DiscreteSpace("a", [1]), DiscreteSpace("a", [2])])
    search = GeneticSearch(SPACE, "reward")
    assert not search.set_search_properties("loss", "min", {})
    assert not search.set_search_properties("reward", "min", {})
    make, _ = factory()
    with pytest.raises(ValueError, match="num_samples"):
        search.setup_experiment({}, 10, None, make)
    with pytest.raises(ValueError, match="not a dict"):
        search.setup_experiment({"model": 3}, 1, None, make)
    with pytest.raises(ValueError, match="grid_search"):
        search.setup_experiment({"g": tune.grid_search([1, 2])}, 1, None, make)
