"""Ray's Domain API on dasktune's domains (issue 13): spaces written with ``Float(...)``,
``Integer(...)``, ``Categorical(...)`` at Ray's module paths are the same domains
``tune.uniform(...)`` etc. return, and convert to every searcher."""

from __future__ import annotations

import random

import numpy as np
import pytest

import dasktune as tune
import dasktune.sample as ray1_path
from dasktune.search import generate_variants
from dasktune.search import sample as ray2_path
from dasktune.search.sample import (
    Categorical,
    Choice,
    Domain,
    Float,
    Function,
    Integer,
    LogRandInt,
    LogUniform,
    LogUniformSampler,
    Normal,
    QLogRandInt,
    QLogUniform,
    QRandInt,
    QRandN,
    Quantized,
    QUniform,
    RandInt,
    RandN,
    UniformSampler,
    canonical,
)


def test_ray_1_and_2_module_paths_hold_the_same_classes():
    for name in ("Domain", "Float", "Integer", "Categorical", "Function", "Quantized", "Normal"):
        assert getattr(ray1_path, name) is getattr(ray2_path, name)
    assert tune.sample is ray1_path


def test_float_methods_return_the_tune_domains():
    assert type(Float(0, 1).uniform()) is type(tune.uniform(0, 1))
    log = Float(1e-4, 1e-1).loguniform(base=2)
    assert isinstance(log, LogUniform) and log.base == 2 and isinstance(log, Float)
    q = Float(1e-4, 1e-1).loguniform().quantized(1e-4)
    assert isinstance(q, QLogUniform) and (q.lower, q.upper, q.q) == (1e-4, 1e-1, 1e-4)
    assert isinstance(Float(0, 1).quantized(0.25), QUniform)
    assert isinstance(Float(0, 1).uniform().quantized(0.25), QUniform)
    normal = Float(None, None).normal(3.0, 0.5)
    assert isinstance(normal, RandN) and (normal.mean, normal.sd) == (3.0, 0.5)
    assert normal.lower is None and normal.upper is None
    assert isinstance(normal.quantized(0.5), QRandN)
    assert isinstance(tune.randn(), Float) and isinstance(tune.qrandn(0, 1, 0.5), Float)


def test_integer_and_categorical_methods_return_the_tune_domains():
    assert isinstance(Integer(1, 5).uniform(), RandInt)
    assert isinstance(Integer(1, 5).loguniform(), LogRandInt)
    q = Integer(0, 11).quantized(5)  # upper exclusive: multiples of 5 in 0..10
    assert isinstance(q, QRandInt) and (q.lower, q.upper, q.q) == (0, 10, 5)
    assert set(q.sample(size=300, random_state=0)) == {0, 5, 10}
    assert isinstance(Integer(10, 101).loguniform().quantized(10), QLogRandInt)
    assert isinstance(Categorical(["a", "b"]).uniform(), Choice)
    assert isinstance(tune.choice([1]), Categorical) and isinstance(tune.randint(0, 2), Integer)
    assert isinstance(tune.sample_from(lambda spec: 1), Function)
    assert Categorical([1, 2]).grid() == tune.grid_search([1, 2])


def test_samplers_describe_each_domain_as_ray_does():
    assert tune.uniform(0, 1).sampler == UniformSampler()
    assert tune.loguniform(1e-3, 1, base=2).sampler == LogUniformSampler(2)
    sampler = tune.qloguniform(1e-4, 1e-1, 1e-4).get_sampler()
    assert isinstance(sampler, Quantized) and sampler.q == 1e-4
    assert sampler.get_sampler() == LogUniformSampler(10)
    assert tune.randn(1, 2).sampler == Normal(1, 2)
    assert tune.qrandint(0, 10, 5).sampler == Quantized(UniformSampler(), 5)
    assert Float(0, 1).sampler is None and Float(0, 1).get_sampler() == UniformSampler()
    assert tune.choice([1, 2]).sampler == UniformSampler()
    assert tune.sample_from(lambda: 1).get_sampler() is None
    assert tune.sample_from(lambda: 1).is_function() and not tune.uniform(0, 1).is_function()
    assert not any(d.is_grid() for d in (tune.uniform(0, 1), tune.choice([1]), Integer(0, 3)))


def test_sample_size_and_random_state_as_ray():
    domain = tune.uniform(0, 1)
    assert isinstance(domain.sample(), float)
    values = domain.sample(size=5, random_state=7)
    assert len(values) == 5 and values == domain.sample(size=5, random_state=7)
    assert all(0 <= v < 1 for v in values)
    generator = np.random.default_rng(3)
    first = Integer(0, 100).sample(size=3, random_state=generator)
    assert first != Integer(0, 100).sample(size=3, random_state=generator)  # it advanced
    assert first == Integer(0, 100).sample(size=3, random_state=np.random.default_rng(3))
    legacy = np.random.RandomState(0)
    assert Categorical(["a", "b"]).sample(random_state=legacy) in ("a", "b")
    assert tune.choice([1, 2]).sample(None, random.Random(0)) in (1, 2)  # dasktune's old form
    assert tune.sample_from(lambda spec: spec["x"] * 2).sample({"x": 2}) == 4
    assert Float(2, 3).sample(random_state=1) >= 2


def test_is_valid():
    assert tune.uniform(0, 1).is_valid(0.5) and not tune.uniform(0, 1).is_valid(2)
    assert tune.randn().is_valid(1e9)
    assert tune.randint(0, 3).is_valid(2) and not tune.randint(0, 3).is_valid(3)
    assert tune.qrandint(0, 10, 5).is_valid(10)  # quantized: upper inclusive
    assert not tune.randint(0, 3).is_valid(1.5)
    assert tune.choice(["a", {"b": 1}]).is_valid({"b": 1}) and not tune.choice([1]).is_valid(2)


def test_bare_ray_domains_generate_variants_and_convert():
    config = {"f": Float(0, 1), "i": Integer(1, 3), "c": Categorical(["x", "y"])}
    variant = generate_variants(config, num_samples=1, seed=0)[0].config
    assert 0 <= variant["f"] < 1 and variant["i"] in (1, 2) and variant["c"] in ("x", "y")
    assert type(canonical(Float(0, 1))) is type(tune.uniform(0, 1))
    assert type(canonical(Integer(0, 1))) is RandInt
    assert type(canonical(Categorical([1]))) is Choice
    assert type(canonical(tune.randn())) is RandN


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: tune.uniform(0, 1).loguniform(), "only choose one sampler"),
        (lambda: tune.uniform(0, 1).quantized(0.5).quantized(0.5), "quantized already"),
        (lambda: Float(0, 1).normal(), "use Float\\(None, None\\).normal"),
        (lambda: Float(None, None).uniform(), "needs bounds"),
        (lambda: Float(0, None), "give both bounds"),
        (lambda: Float(1, 0), "lower must be < upper"),
        (lambda: Integer(0, 10).quantized(5), "upper - 1 = 9, is not a multiple"),
        (lambda: Categorical([]), "non-empty"),
        (lambda: tune.uniform(0, 1).sample(size=0), "size"),
        (lambda: tune.uniform(0, 1).sample(random_state="x"), "random_state"),
    ],
)
def test_bad_domain_api_use_is_a_clear_error(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_every_domain_is_a_ray_domain_subclass():
    for domain in (tune.uniform(0, 1), tune.randint(0, 2), tune.choice([1]), tune.randn()):
        assert isinstance(domain, Domain)
        assert domain.domain_str == repr(domain)
