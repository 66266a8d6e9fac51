"""Searchers (issue 13): SearchGenerator, ConcurrencyLimiter, Repeater and OptunaSearch, pure
and on the simulated backend (no cluster, simulated time)."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest
from controller_harness import make_controller
from test_simulated_loop import run_loop, workers

import dasktune as tune
from dasktune.backend.protocol import TrialCodeError
from dasktune.backend.simulated import ScriptedTrainable, SimulatedBackend
from dasktune.resources import Resources
from dasktune.search import ConcurrencyLimiter, Repeater, Searcher, SearchGenerator
from dasktune.trial import Trial, TrialStatus


def factory():
    """A trial factory as tune.run's, numbering trials t0, t1..."""
    made: list[Trial] = []

    def make(config, tag):
        i = len(made)
        made.append(
            Trial(
                trial_id=f"t{i}",
                index=i,
                trainable_name="T",
                config=config,
                experiment_tag=f"{i}_{tag}" if tag else str(i),
                dirname=f"T_{i}",
                resources=Resources(),
            )
        )
        return made[-1]

    return make, made


class Scripted(Searcher):
    """Answers from a script: a dict, None (later) or FINISHED; then ``x = 0, 1, 2...``."""

    def __init__(self, script=(), metric="loss", mode="min"):
        super().__init__(metric, mode)
        self.script = list(script)
        self.asked: list[str] = []
        self.results: list[tuple[str, dict]] = []
        self.completed: list[tuple[str, dict | None, bool]] = []
        self.count = 0

    def suggest(self, trial_id):
        self.asked.append(trial_id)
        if self.script:
            return self.script.pop(0)
        self.count += 1
        return {"x": self.count - 1}

    def on_trial_result(self, trial_id, result):
        self.results.append((trial_id, result))

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.completed.append((trial_id, result, error))


def generator(searcher, config=None, num_samples=-1, seed=0):
    gen = SearchGenerator(searcher)
    assert gen.set_search_properties(None, None, config or {})
    make, made = factory()
    gen.setup_experiment(config or {}, num_samples, seed, make)
    return gen, made


# --- SearchGenerator ---------------------------------------------------------------------------


def test_none_means_later_and_finished_ends_an_endless_run():
    searcher = Scripted([None, {"x": 10}, None, {"x": 11}, Searcher.FINISHED])
    gen, made = generator(searcher, num_samples=-1)
    assert gen.next_trial() is None and not gen.is_finished()
    assert gen.next_trial().config == {"x": 10}
    assert gen.next_trial() is None and not gen.is_finished()
    assert gen.next_trial().config == {"x": 11}
    assert gen.next_trial() is None and gen.is_finished()
    assert gen.next_trial() is None and len(searcher.asked) == 5
    assert [t.config for t in made] == [{"x": 10}, {"x": 11}]
    assert gen.total_samples() is None


def test_num_samples_counts_suggestions_not_questions():
    searcher = Scripted([None, None, {"x": 7}])
    gen, made = generator(searcher, num_samples=3)
    trials = []
    while not gen.is_finished():
        trial = gen.next_trial()
        if trial is not None:
            trials.append(trial)
    assert [t.config["x"] for t in trials] == [7, 0, 1]
    assert gen.total_samples() == 3 and gen.next_trial() is None


def test_suggestion_is_merged_over_the_config_and_ids_map_back():
    config = {"const": 1, "model": {"depth": 3, "width": tune.randint(1, 100)}}
    searcher = Scripted([{"model": {"depth": 5}, "lr": 0.1}])
    gen, _ = generator(searcher, config=config, num_samples=2)
    trial = gen.next_trial()
    assert trial.config["const"] == 1 and trial.config["lr"] == 0.1
    assert trial.config["model"]["depth"] == 5
    assert 1 <= trial.config["model"]["width"] < 100  # left out: sampled, seeded
    assert "depth=5" in trial.experiment_tag and "lr=0.1" in trial.experiment_tag
    gen.on_trial_result(trial.trial_id, {"loss": 1})
    gen.on_trial_complete(trial.trial_id, {"loss": 0.5})
    gen.on_trial_complete(trial.trial_id, {"loss": 0.5})  # once only
    sid = searcher.asked[0]
    assert searcher.results == [(sid, {"loss": 1})]
    assert searcher.completed == [(sid, {"loss": 0.5}, False)]


def test_the_searcher_sees_the_trials_id_when_the_factory_knows_it():
    searcher = Scripted([None])
    gen = SearchGenerator(searcher)
    make, made = factory()
    make.next_trial_id = lambda: f"t{len(made)}"  # as tune.run's factory does
    gen.setup_experiment({}, 2, 0, make)
    assert gen.next_trial() is None
    first, second = gen.next_trial(), gen.next_trial()
    gen.on_trial_complete(second.trial_id, {"loss": 1})
    assert searcher.asked == ["t0", "t0", "t1"]  # a "not now" does not use up an id
    assert [first.trial_id, second.trial_id] == ["t0", "t1"]
    assert searcher.completed == [("t1", {"loss": 1}, False)]


def test_tune_run_names_a_search_alg_that_is_neither(tmp_path):
    with pytest.raises(TypeError, match="search algorithm or Searcher"):
        tune.run(lambda config: None, search_alg=object(), local_dir=str(tmp_path))


def test_bad_suggestions_and_grid_searches_are_named():
    gen, _ = generator(Scripted([[1, 2]]))
    with pytest.raises(TypeError, match="must return a dict"):
        gen.next_trial()
    with pytest.raises(ValueError, match="grid_search"):
        generator(Scripted(), config={"a": tune.grid_search([1, 2])})
    with pytest.raises(TypeError, match="Searcher"):
        SearchGenerator(object())


def test_state_round_trip_continues_counts_ids_and_searcher():
    searcher = Scripted()
    gen, _ = generator(searcher, num_samples=4)
    first, second = gen.next_trial(), gen.next_trial()
    gen.on_trial_complete(first.trial_id, {"loss": 1})
    state = gen.get_state()

    again = Scripted()
    gen2, made2 = generator(again, num_samples=4)
    gen2.set_state(state)
    assert again.count == 2 and again.completed == searcher.completed
    gen2.on_trial_complete(second.trial_id, {"loss": 2})  # a resumed trial, known by its id
    assert again.completed[-1] == (searcher.asked[1], {"loss": 2}, False)
    rest = [gen2.next_trial(), gen2.next_trial()]
    assert [t.config["x"] for t in rest] == [2, 3] and gen2.is_finished()
    assert len(set(again.asked)) == len(again.asked)  # no searcher id twice


def test_a_searcher_that_says_later_is_asked_again_while_nothing_runs():
    """Nothing runs and nothing waits: the controller still asks again on its next turn."""
    searcher = Scripted([None, None, None, {"x": 5}, Searcher.FINISHED])
    gen, _ = generator(searcher, num_samples=-1)
    controller = make_controller(search_alg=gen, stop={"training_iteration": 1})
    run_loop(controller, SimulatedBackend(workers(1), ScriptedTrainable()))
    assert [t.config for t in controller.trials] == [{"x": 5}]
    assert controller.trials[0].status == TrialStatus.TERMINATED
    assert len(searcher.asked) >= 5


# --- ConcurrencyLimiter ------------------------------------------------------------------------


class Peak:
    """Tracks the most trials running at once."""

    def __init__(self):
        self.now = 0
        self.peak = 0

    def wrap(self, searcher):
        suggest, complete = searcher.suggest, searcher.on_trial_complete

        def counting_suggest(trial_id):
            out = suggest(trial_id)
            if isinstance(out, dict):
                self.now += 1
                self.peak = max(self.peak, self.now)
            return out

        def counting_complete(trial_id, result=None, error=False):
            self.now -= 1
            complete(trial_id, result, error)

        searcher.suggest, searcher.on_trial_complete = counting_suggest, counting_complete
        return searcher


def test_concurrency_limiter_caps_running_trials():
    peak = Peak()
    inner = peak.wrap(Scripted())
    limiter = ConcurrencyLimiter(inner, max_concurrent=2)
    gen, _ = generator(limiter, num_samples=9)
    controller = make_controller(search_alg=gen, stop={"training_iteration": 3})
    running = []

    backend = SimulatedBackend(workers(8), ScriptedTrainable(step_seconds=1.0))
    original = backend.train

    async def train(trial):
        running.append(controller.num_running)
        return await original(trial)

    backend.train = train
    run_loop(controller, backend)
    assert len(controller.trials) == 9
    assert all(t.status == TrialStatus.TERMINATED for t in controller.trials)
    assert peak.peak == 2 and max(running) == 2
    assert len(inner.completed) == 9


def test_concurrency_limiter_checks_its_arguments():
    with pytest.raises(ValueError, match=">= 1"):
        ConcurrencyLimiter(Scripted(), 0)
    with pytest.raises(TypeError, match="int"):
        ConcurrencyLimiter(Scripted(), 1.5)


# --- Repeater ----------------------------------------------------------------------------------


def test_repeater_reports_each_groups_nanmean_once():
    inner = Scripted(metric="loss", mode="min")
    rep = Repeater(inner, repeat=3)
    configs = [rep.suggest(f"s{i}") for i in range(6)]
    assert [c["__trial_index__"] for c in configs] == [0, 1, 2, 0, 1, 2]
    assert [c["x"] for c in configs] == [0, 0, 0, 1, 1, 1]
    assert inner.asked == ["s0", "s3"]
    rep.on_trial_complete("s0", {"loss": 1.0})
    rep.on_trial_complete("s1", {"loss": 3.0})
    assert inner.completed == []  # the group is not complete yet
    rep.on_trial_complete("s2", {"loss": math.nan})
    assert inner.completed == [("s0", {"loss": 2.0}, False)]
    rep.on_trial_complete("s3", None, error=True)
    rep.on_trial_complete("s4", {"loss": 4.0})
    rep.on_trial_complete("s5", {"loss": 6.0})
    assert inner.completed[-1] == ("s3", {"loss": 5.0}, False)


def test_repeater_group_without_any_score_is_an_error_and_state_round_trips():
    inner = Scripted()
    rep = Repeater(inner, repeat=2, set_index=False)
    a, b = rep.suggest("s0"), rep.suggest("s1")
    assert a == b == {"x": 0}
    state = rep.get_state()
    inner2 = Scripted()
    rep2 = Repeater(inner2, repeat=2)
    rep2.set_state(state)
    rep2.on_trial_complete("s0", None, error=True)
    rep2.on_trial_complete("s1", {"other": 1})
    assert inner2.completed == [("s0", None, True)]
    assert rep2.suggest("s2") == {"x": 1}


# --- OptunaSearch on the simulated backend -----------------------------------------------------

try:
    import optuna

    from dasktune.search.optuna import OptunaSearch
except ImportError:  # the pure tests above still run
    optuna = None
needs_optuna = pytest.mark.skipif(optuna is None, reason="pip install dasktune[optuna]")


def test_without_optuna_the_import_error_names_the_extra():
    code = "import sys; sys.modules['optuna'] = None; import dasktune.search.optuna"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "pip install 'dasktune[optuna]'" in proc.stderr


def toy_loss(config):
    return (math.log10(config["lr"]) + 2.5) ** 2 + (config["layers"] - 3) ** 2 + config["bias"]


SPACE = {"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 8), "bias": 0.0}


def optuna_run(num_samples=40, fail=lambda config: False, seed=0):
    searcher = OptunaSearch(metric="loss", mode="min", seed=seed)
    gen = SearchGenerator(ConcurrencyLimiter(searcher, 2))
    assert gen.set_search_properties(None, None, SPACE)
    make, _ = factory()
    gen.setup_experiment(SPACE, num_samples, seed, make)
    controller = make_controller(search_alg=gen, stop={"training_iteration": 2})

    def fault(method, trial):
        if method == "train" and fail(trial.config):
            raise TrialCodeError("simulated: the objective raised")

    backend = SimulatedBackend(
        workers(4), ScriptedTrainable(lambda c, i: {"loss": toy_loss(c)}), fault=fault
    )
    run_loop(controller, backend)
    return searcher, controller


@needs_optuna
def test_optuna_search_beats_random_on_a_toy_objective():
    searcher, controller = optuna_run(num_samples=40)
    study = searcher.study
    assert len(study.trials) == 40 == len(controller.trials)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    # every completion reached the study once, with the trial's own last loss
    losses = sorted(t.last_result["loss"] for t in controller.trials)
    assert sorted(t.value for t in study.trials) == pytest.approx(losses)
    rng = random.Random(0)
    random_best = []
    for _ in range(20):  # the median best of 20 random searches of the same size
        random_best.append(
            min(
                toy_loss(
                    {"lr": 10 ** rng.uniform(-4, -1), "layers": rng.randrange(1, 8), "bias": 0}
                )
                for _ in range(40)
            )
        )
    assert study.best_value < sorted(random_best)[10]
    # the second half (TPE) does better on average than the first (mostly random start-up)
    values = [t.value for t in study.trials]
    assert sum(values[20:]) < sum(values[:20])


@needs_optuna
def test_optuna_search_tells_errors_as_failed():
    searcher, controller = optuna_run(num_samples=12, fail=lambda c: c["layers"] % 2 == 0)
    states = [t.state for t in searcher.study.trials]
    errored = [t for t in controller.trials if t.status == TrialStatus.ERROR]
    assert errored and len(states) == 12
    assert states.count(optuna.trial.TrialState.FAIL) == len(errored)
    assert states.count(optuna.trial.TrialState.COMPLETE) == 12 - len(errored)
    assert not searcher._live  # every trial told once


@needs_optuna
def test_optuna_search_tells_a_trial_without_the_metric_as_pruned_as_ray_does():
    searcher = OptunaSearch(SPACE, metric="loss", mode="min", seed=0)
    for i in range(4):
        searcher.suggest(f"s{i}")
    searcher.on_trial_complete("s0", {"loss": 1.5})
    searcher.on_trial_complete("s1", {"training_iteration": 1})  # stopped before any loss
    searcher.on_trial_complete("s2", None, error=True)
    searcher.on_trial_complete("s3", {"loss": float("nan")})
    states = [t.state.name for t in searcher.study.trials]
    assert states == ["COMPLETE", "PRUNED", "FAIL", "FAIL"]


@needs_optuna
def test_optuna_search_takes_nested_spaces_distributions_define_by_run_and_points():
    nested = OptunaSearch(
        {
            "opt": {"lr": tune.uniform(0, 1), "q": tune.quniform(0, 1, 0.25)},
            "n": tune.qrandint(0, 10, 5),
        },
        metric="m",
        mode="max",
        points_to_evaluate=[{"opt": {"lr": 0.5, "q": 0.75}, "n": 5}],
        seed=1,
    )
    assert nested.suggest("a") == {"opt": {"lr": 0.5, "q": 0.75}, "n": 5}
    config = nested.suggest("b")
    assert config["opt"]["q"] in (0, 0.25, 0.5, 0.75, 1) and config["n"] in (0, 5, 10)

    dists = OptunaSearch(
        {"x": optuna.distributions.IntDistribution(1, 3)}, metric="m", mode="min", seed=0
    )
    assert dists.suggest("a")["x"] in (1, 2, 3)

    def define(trial):
        trial.suggest_float("model/lr", 1e-3, 1, log=True)
        return {"fixed": 7}

    by_run = OptunaSearch(define, metric="m", mode="min", seed=0)
    config = by_run.suggest("a")
    assert set(config) == {"model", "fixed"} and 1e-3 <= config["model"]["lr"] <= 1

    odd = OptunaSearch({"c": tune.choice([[1], {"a": 2}])}, metric="m", mode="min", seed=0)
    assert odd.suggest("a")["c"] in ([1], {"a": 2})


@needs_optuna
def test_optuna_search_names_bad_input():
    with pytest.raises(ValueError, match="randn"):
        OptunaSearch({"x": tune.randn()})
    with pytest.raises(ValueError, match="grid_search"):
        OptunaSearch({"x": tune.grid_search([1, 2])})
    with pytest.raises(ValueError, match="one place"):
        OptunaSearch({"x": tune.uniform(0, 1)}).set_search_properties(
            "m", "min", {"y": tune.uniform(0, 1)}
        )
    with pytest.raises(ValueError, match="metric and a mode"):
        OptunaSearch({"x": tune.uniform(0, 1)}).suggest("a")
    with pytest.raises(ValueError, match="no search space"):
        OptunaSearch(metric="m", mode="min").suggest("a")
    with pytest.raises(ValueError, match="seed"):
        OptunaSearch(sampler=optuna.samplers.RandomSampler(), seed=1)
    assert not OptunaSearch(metric="a").set_search_properties("b", None, {})
    reused = OptunaSearch(metric="m", mode="min")  # a space from config= can be taken again
    assert reused.set_search_properties(None, None, {"x": tune.uniform(0, 1)})
    assert reused.set_search_properties(None, None, {"y": tune.uniform(0, 1)})
    assert set(reused.suggest("a")) == {"y"}


@needs_optuna
def test_optuna_state_round_trip_continues_the_study():
    a = OptunaSearch(SPACE, metric="loss", mode="min", seed=0)
    first = a.suggest("s0")
    a.suggest("s1")
    a.on_trial_complete("s0", {"loss": toy_loss({"bias": 0.0, **first})})
    b = OptunaSearch(SPACE, metric="loss", mode="min", seed=0)
    b.set_state(a.get_state())
    b.on_trial_complete("s1", {"loss": 1.0})
    b.suggest("s2")
    assert [t.number for t in b.study.trials] == [0, 1, 2]
    assert [t.state.name for t in b.study.trials] == ["COMPLETE", "COMPLETE", "RUNNING"]


@needs_optuna
def test_optuna_search_tells_a_trial_without_the_metric_as_pruned_and_an_error_as_failed():
    searcher = OptunaSearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0)
    for trial_id in ("a", "b", "c", "d"):
        searcher.suggest(trial_id)
    searcher.on_trial_complete("a", {"loss": 0.5})
    searcher.on_trial_complete("b", {"other": 1.0})  # no metric: stopped before reporting it
    searcher.on_trial_complete("c", None, error=True)
    searcher.on_trial_complete("d", {"loss": float("nan")})
    states = [t.state.name for t in searcher.study.trials]
    assert states == ["COMPLETE", "PRUNED", "FAIL", "FAIL"]
