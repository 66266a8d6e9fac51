"""BOHB (issues 12/13): TuneBOHB's bookkeeping and HyperBandForBOHB, pure and on the simulated
backend (no cluster, simulated time)."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import ConfigSpace
import numpy as np
import pytest
from controller_harness import make_controller
from test_searchers import factory
from test_simulated_loop import Rows, run_loop, workers

import dasktune as tune
from dasktune.backend.simulated import ScriptedTrainable, SimulatedBackend
from dasktune.schedulers import HyperBandForBOHB
from dasktune.schedulers.hb_bohb import HyperBandForBOHB as FromModule
from dasktune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchGenerator
from dasktune.search.bohb import TuneBOHB
from dasktune.suggest.bohb import TuneBOHB as Ray1TuneBOHB
from dasktune.trial import TrialStatus

SPACE = {
    "x": tune.uniform(-4.0, 4.0),
    "opt": {"lr": tune.loguniform(1e-4, 1e-1), "q": tune.quniform(0.0, 1.0, 0.25)},
    "n": tune.randint(1, 5),
    "k": tune.qrandint(2, 10, 2),
    "m": tune.lograndint(1, 100),
    "ql": tune.qloguniform(1.0, 100.0, 0.5),
    "act": tune.choice(["relu", "tanh"]),
    "shape": tune.choice([[1, 2], [3]]),
    "const": 7,
}


def inside(config):
    assert -4 <= config["x"] <= 4
    assert 1e-4 <= config["opt"]["lr"] <= 1e-1
    assert config["opt"]["q"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert config["n"] in range(1, 5) and isinstance(config["n"], int)
    assert config["k"] in (2, 4, 6, 8, 10)
    assert config["m"] in range(1, 100)
    assert 1 <= config["ql"] <= 100 and (config["ql"] * 2) == int(config["ql"] * 2)
    assert config["act"] in ("relu", "tanh") and config["shape"] in ([1, 2], [3])
    assert "const" not in config  # constants come from tune.run's config


def test_both_import_paths_and_the_scheduler_paths():
    assert Ray1TuneBOHB is TuneBOHB
    assert FromModule is HyperBandForBOHB is tune.schedulers.HyperBandForBOHB


def test_converts_a_dasktune_space_and_suggests_inside_it():
    searcher = TuneBOHB(SPACE, metric="loss", mode="min", seed=0)
    names = sorted(searcher._space)
    assert names == ["act", "k", "m", "n", "opt/lr", "opt/q", "ql", "shape", "x"]
    for i in range(40):
        config = searcher.suggest(f"t{i}")
        inside(config)
        searcher.on_trial_result(
            f"t{i}", {"loss": config["x"] ** 2, "hyperband_info": {"budget": 1}}
        )
        searcher.on_trial_complete(f"t{i}", {"loss": config["x"] ** 2})
    # BOHB's model was fitted on the budget-1 results and now makes most suggestions
    assert len(searcher.bohber.configs[1]) == 40 and 1 in searcher.bohber.kde_models


def test_takes_a_configspace_space_and_names_bad_input():
    cs = ConfigSpace.ConfigurationSpace()
    cs.add(ConfigSpace.UniformFloatHyperparameter("a", 0.0, 1.0))
    searcher = TuneBOHB(cs, metric="loss", mode="max", seed=1)
    assert 0 <= searcher.suggest("t0")["a"] <= 1
    with pytest.raises(ValueError, match="cannot search"):
        TuneBOHB({"r": tune.randn(0, 1)})
    with pytest.raises(ValueError, match="grid_search"):
        TuneBOHB({"g": tune.grid_search([1, 2])})
    with pytest.raises(ValueError, match="does not take"):
        TuneBOHB(SPACE, bohb_config={"num_sample": 3})
    with pytest.raises(ValueError, match="not a complete config"):
        TuneBOHB(SPACE, points_to_evaluate=[{"x": 9.0}])
    with pytest.raises(TypeError, match="max_concurrent"):
        TuneBOHB(SPACE, max_concurrent=1.5)
    with pytest.raises(ValueError, match="needs a metric and a mode"):
        TuneBOHB(SPACE).suggest("t0")
    with pytest.raises(ValueError, match="no search space"):
        TuneBOHB(metric="loss", mode="min").suggest("t0")


def test_points_to_evaluate_come_first():
    point = {
        "x": 1.5,
        "opt": {"lr": 0.01, "q": 0.5},
        "n": 2,
        "k": 4,
        "m": 10,
        "ql": 2.5,
        "act": "tanh",
        "shape": [3],
    }
    searcher = TuneBOHB(SPACE, metric="loss", mode="min", points_to_evaluate=[point], seed=0)
    assert searcher.suggest("t0") == point
    assert searcher.suggest("t1") != point


def test_max_concurrent_counts_running_trials_not_paused_ones():
    searcher = TuneBOHB(SPACE, metric="loss", mode="min", max_concurrent=2, seed=0)
    assert searcher.suggest("t0") and searcher.suggest("t1")
    assert searcher.suggest("t2") is None
    searcher.on_pause("t0")
    assert searcher.suggest("t2") is not None
    assert searcher.suggest("t3") is None
    searcher.on_unpause("t0")  # resumed: counts again
    searcher.on_trial_complete("t1", {"loss": 1.0})
    searcher.on_trial_complete("t2", {"loss": 1.0})
    assert searcher.running == {"t0"} and not searcher.paused
    assert searcher.suggest("t3") is not None


def test_results_are_told_per_budget_once_and_a_stopped_trials_last_one_too():
    searcher = TuneBOHB(SPACE, metric="acc", mode="max", seed=0)
    searcher.suggest("t0")
    searcher.on_trial_result("t0", {"acc": 0.5, "hyperband_info": {}})  # between milestones
    searcher.on_trial_result("t0", {"acc": 0.6, "hyperband_info": {"budget": 1}})
    searcher.on_trial_result("t0", {"acc": 0.6, "hyperband_info": {"budget": 1}})
    assert searcher.bohber.losses == {1: [-0.6]}  # max: BOHB minimises the negated metric
    # stopped at the milestone of budget 3: the searcher hears it only on completion
    searcher.on_trial_complete("t0", {"acc": 0.7, "hyperband_info": {"budget": 3}})
    assert searcher.bohber.losses == {1: [-0.6], 3: [-0.7]}
    assert not searcher.trial_to_params and not searcher.running


def test_without_hyperband_for_bohb_it_warns_once():
    searcher = TuneBOHB(SPACE, metric="loss", mode="min", seed=0)
    searcher.suggest("t0")
    with pytest.warns(UserWarning, match="HyperBandForBOHB") as record:
        searcher.on_trial_result("t0", {"loss": 1.0})
        searcher.on_trial_result("t0", {"loss": 1.0})
    assert len([w for w in record if "hyperband_info" in str(w.message)]) == 1


def test_seeded_suggestions_repeat_and_leave_numpys_global_state_alone():
    def run():
        searcher = TuneBOHB(SPACE, metric="loss", mode="min", seed=3)
        out = []
        for i in range(25):
            config = searcher.suggest(f"t{i}")
            out.append(config)
            searcher.on_trial_complete(
                f"t{i}", {"loss": config["x"] ** 2, "hyperband_info": {"budget": 1}}
            )
        return out

    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    assert run() == run()
    assert (np.random.get_state()[1] == before).all()


def test_state_round_trip_continues_the_same_model(tmp_path):
    def feed(searcher, start, stop):
        out = []
        for i in range(start, stop):
            config = searcher.suggest(f"t{i}")
            out.append(config)
            searcher.on_trial_complete(
                f"t{i}", {"loss": config["x"] ** 2, "hyperband_info": {"budget": 1}}
            )
        return out

    a = TuneBOHB(SPACE, metric="loss", mode="min", seed=5)
    feed(a, 0, 15)
    b = TuneBOHB(SPACE, metric="loss", mode="min", seed=5)
    b.set_state(a.get_state())
    c = TuneBOHB(SPACE, metric="loss", mode="min", seed=5)  # Ray's file API
    a.save(str(tmp_path / "bohb.pkl"))
    c.restore(str(tmp_path / "bohb.pkl"))
    expected = feed(a, 15, 25)
    assert feed(b, 15, 25) == expected == feed(c, 15, 25)
    assert len(b.bohber.configs[1]) == 25


def test_without_the_extra_the_import_error_names_it():
    code = "import sys; sys.modules['hpbandster'] = None; import dasktune.search.bohb"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "pip install 'dasktune[bohb]'" in proc.stderr


# -- HyperBandForBOHB --------------------------------------------------------------------------


def objective(config):
    return (config["x"] - 1.0) ** 2 + (config["y"] + 0.5) ** 2


def curve(config, iteration):
    """Loss falls with training toward the config's objective value."""
    return {"loss": objective(config) + 2.0 / iteration}


def bohb_run(num_samples, max_concurrent=0, seed=0, slots=3):
    space = {"x": tune.uniform(-3.0, 3.0), "y": tune.uniform(-3.0, 3.0)}
    searcher = TuneBOHB(metric="loss", mode="min", max_concurrent=max_concurrent, seed=seed)
    gen = SearchGenerator(searcher)
    assert gen.set_search_properties(None, None, space)
    make, made = factory()
    gen.setup_experiment(space, num_samples, seed, make)
    scheduler = HyperBandForBOHB(max_t=9, reduction_factor=3)
    assert scheduler.set_search_properties("loss", "min")
    controller = make_controller(search_alg=gen, scheduler=scheduler, stop=None)
    rows = Rows()
    run_loop(controller, SimulatedBackend(workers(slots), ScriptedTrainable(curve)), [rows])
    return searcher, scheduler, controller, rows


def test_brackets_fill_largest_first_and_bohb_hears_every_budget():
    searcher, scheduler, controller, rows = bohb_run(17, max_concurrent=2)
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    ends = {t: r[-1]["training_iteration"] for t, r in rows.rows.items()}
    # max_t 9, eta 3: 9 trials to 1 (3 go to 3, 1 to 9), then 5 to 3 (2 to 9), then 3 to 9
    first = sorted(ends[f"t{i}"] for i in range(9))
    assert first == [1] * 6 + [3, 3, 9]
    assert sorted(ends[f"t{i}"] for i in range(9, 14)) == [3, 3, 3, 9, 9]
    assert [ends[f"t{i}"] for i in range(14, 17)] == [9, 9, 9]
    # milestone results carry the budget; BOHB heard each trial at each milestone it reached
    budgets = [r["hyperband_info"].get("budget") for rs in rows.rows.values() for r in rs]
    assert all(r["hyperband_info"] is not None for rs in rows.rows.values() for r in rs)
    heard = {b: len(v) for b, v in searcher.bohber.configs.items()}
    assert heard == {1: 9, 3: 3 + 5, 9: 1 + 2 + 3}
    assert budgets.count(1) == 9 and budgets.count(9) == 6
    # everything paused was resumed or stopped; the searcher forgot every trial
    assert not searcher.running and not searcher.paused and not searcher.trial_to_params
    assert "Using HyperBandForBOHB" in scheduler.debug_string()


def test_bohb_with_hyperband_improves_on_its_first_suggestions():
    searcher, _, controller, _ = bohb_run(60, seed=1, slots=4)
    values = [objective(t.config) for t in controller.trials]
    assert len(values) == 60
    assert min(values[30:]) < min(values[:15])
    assert sorted(values[30:])[7] < sorted(values[:30])[7]  # the better quarter is better


def test_an_unfilled_bracket_is_halved_when_nothing_runs_or_waits():
    """5 trials of a bracket of 9 (max_t 9): once no more come, they are halved as the full
    bracket would be: the best 3 go on to 3, the best of those to 9."""
    searcher, _, controller, rows = bohb_run(5, max_concurrent=2)
    ends = sorted(r[-1]["training_iteration"] for r in rows.rows.values())
    assert ends == [1, 1, 3, 3, 9]
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}


def test_hyperband_for_bohb_names_a_search_alg_it_cannot_pair_with():
    gen = BasicVariantGenerator()
    make, _ = factory()
    gen.setup_experiment({"x": tune.uniform(0, 1)}, 3, 0, make)
    scheduler = HyperBandForBOHB(metric="loss", mode="min", max_t=9)
    controller = make_controller(search_alg=gen, scheduler=scheduler, stop=None)
    backend = SimulatedBackend(workers(2), ScriptedTrainable(curve))
    with pytest.raises(ValueError, match="HyperBandForBOHB works with the TuneBOHB searcher"):
        run_loop(controller, backend)


def test_a_wrapped_tune_bohb_is_found():
    space = {"x": tune.uniform(-3.0, 3.0), "y": tune.uniform(-3.0, 3.0)}
    searcher = TuneBOHB(metric="loss", mode="min", seed=0)
    gen = SearchGenerator(ConcurrencyLimiter(searcher, 3))
    assert gen.set_search_properties(None, None, space)
    make, _ = factory()
    gen.setup_experiment(space, 9, 0, make)
    scheduler = HyperBandForBOHB(metric="loss", mode="min", max_t=3, reduction_factor=3)
    controller = make_controller(search_alg=gen, scheduler=scheduler, stop=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "no hyperband_info" warning
        run_loop(controller, SimulatedBackend(workers(3), ScriptedTrainable(curve)))
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    assert set(searcher.bohber.configs) == {1, 3}
    assert not math.isnan(min(searcher.bohber.losses[1]))


def test_ray_domain_objects_convert():
    """Spaces written with Ray's Domain API convert, as for every other adapter."""
    from dasktune.search.bohb import TuneBOHB
    from dasktune.search.sample import Categorical, Float, Integer

    searcher = TuneBOHB(
        space={
            "a": Float(0.0, 1.0),
            "b": Integer(1, 5),
            "c": Categorical(["x", "y"]),
            "d": Float(1e-3, 1.0).loguniform(),
        },
        metric="loss",
        mode="min",
        seed=0,
    )
    for i in range(5):
        config = searcher.suggest(str(i))
        assert 0 <= config["a"] <= 1 and 1 <= config["b"] <= 4 and config["c"] in ("x", "y")
        assert 1e-3 <= config["d"] <= 1
