"""Ray 1.x's remaining domains (issue 13): qloguniform, qrandn, lograndint, qlograndint."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

import dasktune as tune
from dasktune.experiment_state import search_space_fingerprint
from dasktune.search import generate_variants

N = 3000


def draws(domain, n=N, seed=0):
    rng = random.Random(seed)
    return [domain.sample(None, rng) for _ in range(n)]


def test_qloguniform_multiples_of_q_log_spread_upper_inclusive():
    values = draws(tune.qloguniform(1e-4, 1e-1, 1e-4))
    assert all(1e-4 <= v <= 1e-1 for v in values)
    assert all(math.isclose(v / 1e-4, round(v / 1e-4), abs_tol=1e-9) for v in values)
    assert all(isinstance(v, float) for v in values)
    assert 0.25 < sum(v < 1e-3 for v in values) / N < 0.42  # a third per decade
    assert max(draws(tune.qloguniform(1, 2, 1), n=200)) == 2  # rounding reaches upper


def test_qrandn_rounds_normal_draws():
    values = draws(tune.qrandn(5.0, 2.0, 0.5))
    assert all(v * 2 == round(v * 2) for v in values)
    assert abs(sum(values) / N - 5.0) < 0.15
    assert draws(tune.qrandn(0, 1, 0.1), n=50)[0] == round(draws(tune.qrandn(0, 1, 0.1), 1)[0], 1)


def test_lograndint_upper_exclusive_and_log_spread():
    values = draws(tune.lograndint(1, 1000))
    assert all(isinstance(v, int) and 1 <= v < 1000 for v in values)
    assert 0.25 < sum(v < 10 for v in values) / N < 0.42
    assert set(draws(tune.lograndint(1, 3), n=300)) == {1, 2}


def test_qlograndint_multiples_of_q_upper_inclusive():
    values = draws(tune.qlograndint(10, 1000, 10))
    assert all(isinstance(v, int) and 10 <= v <= 1000 and v % 10 == 0 for v in values)
    counts = Counter(draws(tune.qlograndint(1, 4, 1), n=1000))
    assert set(counts) == {1, 2, 3, 4} and counts[1] > counts[4]


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: tune.qloguniform(0, 1, 0.1), ValueError, ["qloguniform()", "lower must be > 0"]),
        (lambda: tune.qloguniform(0.1, 1, 0.3), ValueError, ["multiple of q"]),
        (lambda: tune.qloguniform(1, 2, 1, base=1), ValueError, ["base"]),
        (lambda: tune.qrandn(0, 0, 1), ValueError, ["qrandn()", "sd must be > 0"]),
        (lambda: tune.qrandn(0, 1, 0), ValueError, ["q must be > 0"]),
        (lambda: tune.qrandn(0, 1, "a"), TypeError, ["q must be a real number"]),
        (lambda: tune.lograndint(0, 10), ValueError, ["lograndint()", "lower must be > 0"]),
        (lambda: tune.lograndint(5, 5), ValueError, ["upper is exclusive"]),
        (lambda: tune.lograndint(1.5, 5), TypeError, ["must be an int"]),
        (lambda: tune.qlograndint(10, 95, 10), ValueError, ["upper must be a multiple of q"]),
        (lambda: tune.qlograndint(10, 100, 0), ValueError, ["q must be > 0"]),
    ],
)
def test_bad_arguments_are_named(make, error, words):
    with pytest.raises(error) as info:
        make()
    assert all(w in str(info.value) for w in words), str(info.value)


def test_repr_variants_and_fingerprint():
    config = {
        "a": tune.qloguniform(1e-3, 1, 1e-3),
        "b": tune.qrandn(0, 1, 0.25),
        "c": tune.lograndint(1, 100),
        "d": tune.qlograndint(2, 64, 2, base=2),
    }
    assert repr(config["d"]) == "qlograndint(2, 64, 2, base=2)"
    assert repr(config["b"]) == "qrandn(0, 1, 0.25)"
    first, second = (generate_variants(config, 2, seed=1) for _ in range(2))
    assert [v.config for v in first] == [v.config for v in second]
    assert "c=" in first[0].tag and "d=" in first[0].tag
    other = {**config, "d": tune.qlograndint(4, 64, 4)}
    assert search_space_fingerprint(config, 2) != search_space_fingerprint(other, 2)


optuna = pytest.importorskip("optuna")


def test_optuna_search_takes_the_log_domains_and_refuses_qrandn():
    from dasktune.search.optuna import OptunaSearch

    space = {
        "a": tune.qloguniform(1e-3, 1, 1e-3),
        "c": tune.lograndint(1, 100),
        "d": tune.qlograndint(2, 64, 2),
    }
    searcher = OptunaSearch(space, metric="m", mode="min", seed=0)
    for i in range(20):
        config = searcher.suggest(f"s{i}")
        assert math.isclose(config["a"] * 1000, round(config["a"] * 1000), abs_tol=1e-6)
        assert 1 <= config["c"] < 100 and 2 <= config["d"] <= 64 and config["d"] % 2 == 0
    with pytest.raises(ValueError, match="qrandn"):
        OptunaSearch({"b": tune.qrandn(0, 1, 0.5)})
