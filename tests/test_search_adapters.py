"""HyperOpt, BayesOpt, Nevergrad, scikit-optimize and ZOOpt searchers (issue 13), driven
directly, without a cluster: spaces converted (nested, quantized, log), suggestions inside the
space and improving, points_to_evaluate first, state round trips, errors and missing metrics,
native spaces, clear errors for what a library cannot search."""

from __future__ import annotations

import importlib
import math
import statistics
import sys

import numpy as np
import pytest

import dasktune as tune

hpo = pytest.importorskip("hyperopt")
ng = pytest.importorskip("nevergrad")
skopt = pytest.importorskip("skopt")
zoopt = pytest.importorskip("zoopt")
pytest.importorskip("bayes_opt")

from dasktune.search.bayesopt import BayesOptSearch  # noqa: E402
from dasktune.search.hyperopt import HyperOptSearch  # noqa: E402
from dasktune.search.nevergrad import NevergradSearch  # noqa: E402
from dasktune.search.skopt import SkOptSearch  # noqa: E402
from dasktune.search.zoopt import ZOOptSearch  # noqa: E402

MIXED = {
    "opt": {"x": tune.uniform(-5, 5), "lr": tune.qloguniform(1e-4, 1e-1, 1e-4)},
    "n": tune.randint(1, 5),
    "c": tune.choice(["a", {"k": 1}]),
    "q": tune.qrandint(0, 10, 5),
}
FLOATS = {
    "opt": {"x": tune.uniform(-5, 5), "lr": tune.qloguniform(1e-4, 1e-1, 1e-4)},
    "y": tune.quniform(-2, 2, 0.5),
}
POINT_MIXED = {"opt": {"x": 1.0, "lr": 0.01}, "n": 3, "c": "a", "q": 5}
POINT_FLOATS = {"opt": {"x": 1.0, "lr": 0.01}, "y": 0.5}


def loss(config):
    """Minimum 0 at x=1, lr=1e-2 (and n=3, c="a", y=0 where present)."""
    value = (config["opt"]["x"] - 1) ** 2 + (math.log10(config["opt"]["lr"]) + 2) ** 2
    if "n" in config:
        value += 0.1 * (config["n"] - 3) ** 2 + (0.5 if config["c"] != "a" else 0)
    return value + config.get("y", 0) ** 2


def make(name, space=None, **kwargs):
    """Each adapter, seeded, on ``space`` (its default one when None)."""
    if name == "hyperopt":
        kwargs.setdefault("random_state_seed", 0)
        return HyperOptSearch(space or MIXED, n_initial_points=8, **kwargs)
    if name == "bayesopt":
        kwargs.setdefault("random_search_steps", 5)
        return BayesOptSearch(space or FLOATS, **kwargs)
    if name == "nevergrad":
        return NevergradSearch(ng.optimizers.OnePlusOne, space or MIXED, **kwargs)
    if name == "skopt":
        return SkOptSearch(space=space or MIXED, **kwargs)
    return ZOOptSearch(budget=60, dim_dict=space or MIXED, parallel_num=2, **kwargs)


def told(searcher):
    """How many results the library itself has been given."""
    if isinstance(searcher, HyperOptSearch):
        return sum(t["state"] == hpo.JOB_STATE_DONE for t in searcher.trials._dynamic_trials)
    if isinstance(searcher, BayesOptSearch):
        return len(searcher.optimizer.space) + len(searcher._buffered) * (
            len(searcher._buffered) < searcher._random_search_steps
        )
    if isinstance(searcher, NevergradSearch):
        return searcher.optimizer.num_tell
    if isinstance(searcher, SkOptSearch):
        return len(searcher.optimizer.yi)
    return searcher.optimizer.complete_num


NAMES = ["hyperopt", "bayesopt", "nevergrad", "skopt", "zoopt"]
# Gaussian-process searchers fit a model per suggestion: fewer steps keep the suite quick.
STEPS = {"hyperopt": 40, "nevergrad": 40, "zoopt": 40, "skopt": 12, "bayesopt": 10}


def space_of(name):
    return FLOATS if name == "bayesopt" else MIXED


def inside(config, space):
    for key, domain in space.items():
        if isinstance(domain, dict):
            inside(config[key], domain)
        else:
            assert domain.is_valid(config[key]), (key, config[key], domain)
            if isinstance(domain, (type(tune.randint(0, 1)), type(tune.qrandint(0, 1)))):
                assert type(config[key]) is int
            elif not isinstance(domain, type(tune.choice([1]))):
                assert type(config[key]) is float


def drive(searcher, n, pending=2, fail=None):
    """Suggest ``n`` configs, keeping ``pending`` trials open at a time; return (configs,
    losses) in suggestion order."""
    configs, losses, live, asked = [], [], [], 0
    while len(configs) < n and asked < 20 * n:
        asked += 1
        suggestion = searcher.suggest(f"t{asked}")
        if isinstance(suggestion, dict):
            live.append((f"t{asked}", suggestion))
            configs.append(suggestion)
        if len(live) >= pending or not isinstance(suggestion, dict):
            if not live:
                continue
            trial_id, config = live.pop(0)
            value = loss(config)
            if fail is not None and fail(len(losses)):
                searcher.on_trial_complete(trial_id, None, error=True)
            else:
                searcher.on_trial_complete(trial_id, {"loss": value})
            losses.append(value)
    for trial_id, config in live:
        losses.append(loss(config))
        searcher.on_trial_complete(trial_id, {"loss": loss(config)})
    return configs, losses


@pytest.mark.parametrize("name", NAMES)
def test_suggestions_lie_in_the_space_and_improve_on_the_first(name):
    np.random.seed(0)  # skopt, Nevergrad and ZOOpt draw from NumPy's global generator
    searcher = make(name, metric="loss", mode="min")
    steps = STEPS[name]
    configs, losses = drive(searcher, steps, pending=2 if steps > 20 else 1)
    assert len(configs) == steps
    for config in configs:
        inside(config, space_of(name))
    assert min(losses[steps // 2 :]) < statistics.median(losses[:5])
    assert told(searcher) == steps


def stored(searcher):
    """The value the library recorded for the (only) result it was told."""
    if isinstance(searcher, HyperOptSearch):
        return searcher.trials.losses()[0]
    if isinstance(searcher, BayesOptSearch):
        return float(searcher.optimizer.space.target[0])
    if isinstance(searcher, NevergradSearch):
        return searcher.optimizer.current_bests["minimum"].mean
    if isinstance(searcher, SkOptSearch):
        return searcher.optimizer.yi[0]
    return searcher.optimizer._data[0].get_value()


@pytest.mark.parametrize("name", NAMES)
def test_mode_max_is_told_with_the_libraries_sign(name):
    np.random.seed(1)
    kwargs = {"random_search_steps": 1} if name == "bayesopt" else {}
    searcher = make(name, metric="score", mode="max", **kwargs)
    config = searcher.suggest("a")
    searcher.on_trial_complete("a", {"score": 2.0, "loss": 5.0})
    # BayesOpt maximises: it keeps the score; the others minimise its negation.
    assert stored(searcher) == (2.0 if name == "bayesopt" else -2.0)
    assert isinstance(config, dict)


def test_a_maximised_metric_improves():
    np.random.seed(1)
    searcher = make("hyperopt", metric="score", mode="max")
    scores = []
    for i in range(30):
        config = searcher.suggest(str(i))
        scores.append(-loss(config))
        searcher.on_trial_complete(str(i), {"score": scores[-1]})
    assert max(scores[15:]) > statistics.median(scores[:5])


@pytest.mark.parametrize("name", NAMES)
def test_points_to_evaluate_are_suggested_first(name):
    np.random.seed(0)
    point = POINT_FLOATS if name == "bayesopt" else POINT_MIXED
    other = {**point, "opt": {"x": -2.0, "lr": 0.001}}
    searcher = make(name, metric="loss", mode="min", points_to_evaluate=[point, other])
    assert searcher.suggest("a") == point
    assert searcher.suggest("b") == other
    assert searcher.suggest("c") not in (point, other)


@pytest.mark.parametrize("name", NAMES)
def test_a_point_missing_a_key_or_outside_the_space_is_refused(name):
    point = dict(POINT_FLOATS if name == "bayesopt" else POINT_MIXED)
    point["opt"] = {"x": 1.0}
    with pytest.raises(ValueError, match="no value for 'opt/lr'"):
        make(name, metric="loss", mode="min", points_to_evaluate=[point]).suggest("a")
    point["opt"] = {"x": 99.0, "lr": 0.01}
    with pytest.raises(ValueError, match=r"points_to_evaluate\[0\]\['opt/x'\] = 99.0"):
        make(name, metric="loss", mode="min", points_to_evaluate=[point]).suggest("a")


@pytest.mark.parametrize("name", NAMES)
def test_state_round_trip_keeps_history_and_live_trials(name):
    np.random.seed(0)
    searcher = make(name, metric="loss", mode="min")
    drive(searcher, 6)
    live = searcher.suggest("open")
    assert isinstance(live, dict)
    state = searcher.get_state()
    restored = make(name, metric="loss", mode="min")
    restored.set_state(state)
    assert told(restored) == told(searcher) == 6
    restored.on_trial_complete("open", {"loss": loss(live)})  # a trial live at the save
    assert told(restored) == 7
    configs, _ = drive(restored, 2)
    for config in configs:
        inside(config, space_of(name))
    if name == "hyperopt":  # its own generator is in the state: the same next suggestion
        searcher.on_trial_complete("open", {"loss": loss(live)})
        again = make(name, metric="loss", mode="min")
        again.set_state(searcher.get_state())
        assert searcher.suggest("n") == again.suggest("n")


@pytest.mark.parametrize("name", NAMES)
def test_errors_and_missing_metrics_are_handled_as_ray(name):
    np.random.seed(0)
    searcher = make(name, metric="loss", mode="min")
    ids = [f"t{i}" for i in range(3)]
    for trial_id in ids:
        assert isinstance(searcher.suggest(trial_id), dict)
    before = told(searcher)
    searcher.on_trial_complete("t0", None, error=True)
    searcher.on_trial_complete("t1", {"other": 1.0})
    searcher.on_trial_complete("t2", {"loss": float("nan")})
    searcher.on_trial_complete("never-suggested", {"loss": 1.0})  # ignored
    searcher.on_trial_complete("t0", {"loss": 1.0})  # told once only
    if name == "zoopt":  # RACOS needs every suggestion back: told as the worst value
        assert told(searcher) == before + 3
        assert all(s.get_value() == math.inf for s in searcher.optimizer._data[-3:])
    elif name == "nevergrad":  # told as the worst loss: sequential optimizers wait for it
        assert told(searcher) == before + 3
    elif name == "hyperopt":  # marked failed in HyperOpt's Trials
        states = [t["state"] for t in searcher.trials._dynamic_trials]
        assert states.count(hpo.JOB_STATE_ERROR) == 3
        assert told(searcher) == before
    else:  # these libraries have no failed state: nothing is told
        assert told(searcher) == before
    assert not searcher._live
    drive(searcher, 3)  # the search goes on


@pytest.mark.parametrize("name", NAMES)
def test_space_metric_and_mode_from_tune_run(name):
    np.random.seed(0)
    bare = make(name) if name != "hyperopt" else HyperOptSearch()
    if name == "bayesopt":
        bare = BayesOptSearch()
    elif name == "nevergrad":
        bare = NevergradSearch(ng.optimizers.OnePlusOne)
    elif name == "skopt":
        bare = SkOptSearch()
    elif name == "zoopt":
        bare = ZOOptSearch(budget=20)
    with pytest.raises(ValueError, match="has no search space"):
        bare.suggest("a")
    assert bare.set_search_properties("loss", "min", {**space_of(name), "constant": 1})
    assert (bare.metric, bare.mode) == ("loss", "min")
    inside(bare.suggest("a"), space_of(name))
    own = make(name)
    with pytest.raises(ValueError, match="put the whole space in one place"):
        own.set_search_properties("loss", "min", {"z": tune.uniform(0, 1)})
    assert not make(name, metric="acc", mode="max").set_search_properties("loss", "min", {})
    with pytest.raises(ValueError, match="needs a metric and a mode"):
        make(name).suggest("a")


UNSUPPORTED = {
    "hyperopt": ("s", tune.sample_from(lambda spec: 1), "sample_from"),
    "bayesopt": ("n", tune.randint(1, 5), "continuous box"),
    "nevergrad": ("r", tune.randn(), "Give the key bounds"),
    "skopt": ("r", tune.randn(), "bounded"),
    "zoopt": ("r", tune.qrandn(0, 1, 0.5), "Give the key bounds"),
}


@pytest.mark.parametrize("name", NAMES)
def test_what_a_library_cannot_search_is_a_clear_error_naming_the_key(name):
    key, domain, hint = UNSUPPORTED[name]
    with pytest.raises(ValueError, match=f"^{key}: .*{hint}"):
        make(
            name, {"nested": {"ok": tune.uniform(0, 1)}, key: domain}, metric="m", mode="min"
        ).suggest("a")
    with pytest.raises(ValueError, match="nested/g: .*grid_search.*tune.choice"):
        make(name, {"nested": {"g": tune.grid_search([1, 2])}}, metric="m", mode="min").suggest("a")


def test_bayesopt_refuses_choices_as_ray_does():
    with pytest.raises(ValueError, match="c: BayesOptSearch cannot search choice"):
        BayesOptSearch({"c": tune.choice([1, 2])}, metric="m", mode="min").suggest("a")


def test_ray_style_float_integer_categorical_spaces_convert_to_every_adapter():
    from dasktune.search.sample import Categorical, Float, Integer

    ray_style = {
        "opt": {"x": Float(-5, 5).uniform(), "lr": Float(1e-4, 1e-1).loguniform().quantized(1e-4)},
        "n": Integer(1, 5),
        "c": Categorical(["a", {"k": 1}]).uniform(),
        "q": Integer(0, 11).quantized(5),
    }
    for name in NAMES:
        np.random.seed(0)
        space = {"opt": ray_style["opt"], "y": Float(-2, 2)} if name == "bayesopt" else ray_style
        configs, _ = drive(make(name, space, metric="loss", mode="min"), 6)
        for config in configs:
            inside(config, space_of(name))


def test_native_spaces():
    hp_space = {"opt": {"x": hpo.hp.uniform("x", -5, 5), "lr": hpo.hp.loguniform("lr", -9, -2)}}
    searcher = HyperOptSearch(
        hp_space,
        metric="loss",
        mode="min",
        random_state_seed=0,
        points_to_evaluate=[{"x": 1.0, "lr": 0.01}],
    )
    assert searcher.suggest("a") == {"opt": {"x": 1.0, "lr": 0.01}}
    assert -5 <= searcher.suggest("b")["opt"]["x"] <= 5

    np.random.seed(0)
    sk = SkOptSearch(space={"x": (-5.0, 5.0), "c": ["a", "b"]}, metric="loss", mode="min")
    config = sk.suggest("a")
    assert -5 <= config["x"] <= 5 and config["c"] in ("a", "b") and type(config["x"]) is float
    opt = skopt.Optimizer([(-5.0, 5.0), (1, 4)], random_state=0)
    sk = SkOptSearch(
        opt,
        ["a/x", "n"],
        metric="loss",
        mode="min",
        points_to_evaluate=[{"a/x": 0.0, "n": 2}],
        evaluated_rewards=[3.0],
    )
    assert len(opt.yi) == 0 and sk.suggest("a")["a"]["x"] != 0.0 and opt.yi == [3.0]

    ng_space = ng.p.Dict(x=ng.p.Scalar(lower=0, upper=1), c=ng.p.Choice(["a", "b"]))
    ngs = NevergradSearch(ng.optimizers.OnePlusOne, ng_space, metric="m", mode="max")
    config = ngs.suggest("a")
    assert 0 <= config["x"] <= 1 and config["c"] in ("a", "b")
    instance = ng.optimizers.OnePlusOne(parametrization=ng.p.Dict(x=ng.p.Scalar(lower=0, upper=1)))
    ngs = NevergradSearch(instance, metric="m", mode="max")
    ngs.suggest("a")
    ngs.on_trial_complete("a", {"m": 1.0})
    assert instance.num_tell == 1

    bo = BayesOptSearch({"x": (0, 1)}, metric="m", mode="max")
    assert 0 <= bo.suggest("a")["x"] <= 1

    zo = ZOOptSearch(
        budget=10,
        dim_dict={
            "x": (zoopt.ValueType.CONTINUOUS, [0, 1], 1e-2),
            "n": (zoopt.ValueType.DISCRETE, [1, 4], True),
            "c": (zoopt.ValueType.GRID, ["a", "b"]),
        },
        metric="m",
        mode="min",
    )
    config = zo.suggest("a")
    assert 0 <= config["x"] <= 1 and config["n"] in range(1, 5) and config["c"] in ("a", "b")


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda: HyperOptSearch(n_initial_points=0), "n_initial_points must be >= 1"),
        (lambda: HyperOptSearch(space=[1]), "takes a dict"),
        (lambda: BayesOptSearch(utility_kwargs={"kind": "bad"}), "ucb, ei or poi"),
        (lambda: BayesOptSearch(utility_kwargs={"kapa": 1}), "unknown \\['kapa'\\]"),
        (lambda: NevergradSearch(), "needs an optimizer"),
        (lambda: NevergradSearch("OnePlusOne"), "Nevergrad optimizer class"),
        (
            lambda: NevergradSearch(ng.optimizers.OnePlusOne(parametrization=1), {"x": 1}),
            "has its parametrization",
        ),
        (
            lambda: SkOptSearch(skopt.Optimizer([(0.0, 1.0)]), {"x": tune.uniform(0, 1)}),
            "list of names|names of those",
        ),
        (
            lambda: SkOptSearch(space={"x": tune.uniform(0, 1)}, evaluated_rewards=[1.0]),
            "needs points_to_evaluate",
        ),
        (
            lambda: SkOptSearch(
                space={"x": tune.uniform(0, 1)},
                points_to_evaluate=[{"x": 0.5}],
                evaluated_rewards=[1, 2],
            ),
            "one reward per point",
        ),
        (lambda: ZOOptSearch(budget=None), "needs budget"),
        (lambda: ZOOptSearch(algo="racos", budget=5), "'asracos' or 'sracos'"),
        (lambda: ZOOptSearch(budget=5, init_samples=[]), "must not set 'init_samples'"),
        (
            lambda: ZOOptSearch(budget=5, dim_dict=MIXED, metric="m", mode="min", bogus=1).suggest(
                "a"
            ),
            "bogus",
        ),
        (lambda: HyperOptSearch(points_to_evaluate={"x": 1}), "list of dicts"),
    ],
)
def test_bad_arguments_are_clear_errors(make_bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make_bad()


def test_both_import_paths_hold_the_same_classes():
    for lib, cls in [
        ("hyperopt", HyperOptSearch),
        ("bayesopt", BayesOptSearch),
        ("nevergrad", NevergradSearch),
        ("skopt", SkOptSearch),
        ("zoopt", ZOOptSearch),
    ]:
        assert getattr(importlib.import_module(f"dasktune.suggest.{lib}"), cls.__name__) is cls
        assert getattr(importlib.import_module(f"dasktune.search.{lib}"), cls.__name__) is cls


@pytest.mark.parametrize(
    "module, library, extra",
    [
        ("hyperopt", "hyperopt", "hyperopt"),
        ("bayesopt", "bayes_opt", "bayesopt"),
        ("nevergrad", "nevergrad", "nevergrad"),
        ("skopt", "skopt", "skopt"),
        ("zoopt", "zoopt", "zoopt"),
    ],
)
def test_a_missing_library_names_the_extra(monkeypatch, module, library, extra):
    monkeypatch.setitem(sys.modules, library, None)
    monkeypatch.delitem(sys.modules, f"dasktune.search.{module}")
    with pytest.raises(ImportError, match=rf"pip install 'dasktune\[{extra}\]'"):
        importlib.import_module(f"dasktune.search.{module}")


def test_nevergrad_sequential_optimizer_never_blocks_the_driver():
    """NelderMead gives one candidate at a time: a second suggestion waits (None) instead of
    blocking in ask(), an errored trial is told (so it does not wait forever), and
    points_to_evaluate reach the trial exactly."""
    import nevergrad as ng

    from dasktune.search.nevergrad import NevergradSearch

    searcher = NevergradSearch(
        optimizer=ng.optimizers.NelderMead,
        space={"a": tune.uniform(0, 1), "b": tune.loguniform(1e-3, 1)},
        metric="loss",
        mode="min",
        points_to_evaluate=[{"a": 0.3, "b": 0.01}],
        optimizer_kwargs={"budget": 20},
    )
    assert searcher.suggest("0") == {"a": 0.3, "b": 0.01}
    assert searcher.suggest("1") is None
    searcher.on_trial_complete("0", error=True)
    second = searcher.suggest("2")
    assert second is not None and 0 <= second["a"] <= 1
    searcher.on_trial_complete("2", {"loss": 1.0})
    assert searcher.suggest("3") is not None
    with pytest.raises(ValueError, match="need a budget"):
        NevergradSearch(
            optimizer=ng.optimizers.NGOpt,
            space={"a": tune.uniform(0, 1)},
            metric="loss",
            mode="min",
        ).suggest("0")


def test_bayesopt_busy_slots_do_not_end_the_search():
    """With trials still running, BayesOpt proposes the same point again; that is not the
    model converging (Ray counts it, and ends the search after `patience` such asks)."""
    searcher = BayesOptSearch(
        space={"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)},
        metric="loss",
        mode="min",
        random_state=0,
    )
    for i in range(10):
        config = searcher.suggest(str(i))
        searcher.on_trial_complete(str(i), {"loss": (config["x"] - 0.3) ** 2 + config["y"]})
    asks = [searcher.suggest(str(i)) for i in range(10, 30)]
    from dasktune.search import Searcher

    assert Searcher.FINISHED not in asks
    assert any(isinstance(a, dict) for a in asks)
