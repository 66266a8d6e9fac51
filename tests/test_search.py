"""Tests for dasktune.search: domains, grid_search, sample_from and variant generation."""

from __future__ import annotations

import copy
import math
import random
import re

import pytest

import dasktune.search as tune
from dasktune.search import (
    Domain,
    Variant,
    contains_domains,
    count_variants,
    generate_variants,
    iter_variants,
)

N = 2000  # draws per distribution test: enough to hit every value of a small integer range


def draws(domain: Domain, n: int = N, seed: int = 0) -> list:
    rng = random.Random(seed)
    return [domain.sample(None, rng) for _ in range(n)]


def configs(config: dict, num_samples: int = 1, seed: int | None = 0) -> list[dict]:
    return [variant.config for variant in generate_variants(config, num_samples, seed)]


# --- domains ----------------------------------------------------------------------------------


def test_uniform_stays_in_half_open_range():
    values = draws(tune.uniform(-1, 2))
    assert all(isinstance(v, float) and -1 <= v < 2 for v in values)
    assert min(values) < -0.9 and max(values) > 1.9


def test_uniform_never_returns_upper_even_when_rounding_would():
    class AlwaysOne(random.Random):
        def random(self) -> float:
            return 1.0

    assert tune.uniform(0.0, 0.1).sample(None, AlwaysOne()) < 0.1


def test_loguniform_range_and_log_spread():
    values = draws(tune.loguniform(1e-4, 1e-1))
    assert all(1e-4 <= v < 1e-1 for v in values)
    decades = {math.floor(math.log10(v)) for v in values}
    assert decades == {-4, -3, -2}
    # Roughly a third per decade, where a plain uniform would put ~90% in the top decade.
    low = sum(v < 1e-3 for v in values) / len(values)
    assert 0.25 < low < 0.42


def test_loguniform_base_does_not_change_range():
    values = draws(tune.loguniform(1, 1024, base=2))
    assert all(1 <= v < 1024 for v in values)


def test_quniform_values_are_multiples_of_q_within_inclusive_bounds():
    values = draws(tune.quniform(0, 1, 0.1))
    assert all(isinstance(v, float) for v in values)
    expected = {round(i * 0.1, 10) for i in range(11)}
    assert set(values) == expected  # exact decimals (0.3, not 0.30000000000000004); 1.0 reached


def test_quniform_integer_quantum():
    values = draws(tune.quniform(10, 50, 10))
    assert set(values) == {10.0, 20.0, 30.0, 40.0, 50.0}


def test_randint_upper_bound_is_exclusive():
    values = draws(tune.randint(0, 5))
    assert set(values) == {0, 1, 2, 3, 4}
    assert all(type(v) is int for v in values)


def test_randint_single_value_range():
    assert set(draws(tune.randint(7, 8), n=50)) == {7}


def test_qrandint_upper_bound_is_inclusive():
    values = draws(tune.qrandint(0, 10, 5))
    assert set(values) == {0, 5, 10}
    assert all(type(v) is int for v in values)
    # Each multiple equally likely, the end values included.
    assert min(values.count(x) for x in (0, 5, 10)) > N / 3 * 0.8


def test_qrandint_default_q_includes_upper():
    assert set(draws(tune.qrandint(-2, 2))) == {-2, -1, 0, 1, 2}


def test_qrandint_docstring_says_upper_is_inclusive():
    assert "INCLUSIVE" in tune.qrandint.__doc__
    assert "EXCLUSIVE" in tune.randint.__doc__


def test_randn_mean_and_sd():
    values = draws(tune.randn(5.0, 2.0), n=5000)
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    assert abs(mean - 5.0) < 0.15
    assert abs(sd - 2.0) < 0.15


def test_choice_returns_every_category():
    assert set(draws(tune.choice(["a", "b", "c"]))) == {"a", "b", "c"}
    assert set(draws(tune.choice((1, 2)))) == {1, 2}


def test_sample_without_rng_works():
    assert 0 <= tune.uniform(0, 1).sample() < 1


def test_grid_search_is_rays_plain_dict():
    assert tune.grid_search([1, 2]) == {"grid_search": [1, 2]}
    assert tune.grid_search((1, 2)) == {"grid_search": [1, 2]}
    assert type(tune.grid_search((1,))["grid_search"]) is list


@pytest.mark.parametrize(
    ("domain", "text"),
    [
        (tune.uniform(0.1, 1), "uniform(0.1, 1)"),
        (tune.loguniform(1e-05, 0.1), "loguniform(1e-05, 0.1, base=10)"),
        (tune.quniform(0, 1, 0.5), "quniform(0, 1, 0.5)"),
        (tune.randint(0, 3), "randint(0, 3)"),
        (tune.qrandint(0, 10, 5), "qrandint(0, 10, q=5)"),
        (tune.randn(), "randn(0.0, 1.0)"),
        (tune.choice(["a", 1]), "choice(['a', 1])"),
    ],
)
def test_repr_reads_like_the_constructor_call(domain, text):
    assert repr(domain) == text


def test_sample_from_repr_names_the_function():
    def double_lr(spec):
        return 1

    assert "double_lr" in repr(tune.sample_from(double_lr))


# --- constructor argument errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: tune.uniform(1, 1), ValueError, ["uniform()", "lower", "upper"]),
        (lambda: tune.uniform(2, 1), ValueError, ["uniform()", "lower must be < upper"]),
        (lambda: tune.uniform("0", 1), TypeError, ["uniform()", "lower", "real number"]),
        (lambda: tune.uniform(0, math.inf), ValueError, ["uniform()", "upper", "finite"]),
        (lambda: tune.uniform(True, 2), TypeError, ["uniform()", "lower"]),
        (lambda: tune.loguniform(0, 1), ValueError, ["loguniform()", "lower must be > 0"]),
        (lambda: tune.loguniform(-1, 1), ValueError, ["loguniform()", "lower must be > 0"]),
        (lambda: tune.loguniform(1, 0.5), ValueError, ["loguniform()", "lower must be < upper"]),
        (lambda: tune.loguniform(1, 10, base=1), ValueError, ["loguniform()", "base"]),
        (lambda: tune.loguniform(1, 10, base=0), ValueError, ["loguniform()", "base"]),
        (lambda: tune.quniform(0, 1, 0), ValueError, ["quniform()", "q must be > 0"]),
        (lambda: tune.quniform(0, 1, -0.1), ValueError, ["quniform()", "q must be > 0"]),
        (lambda: tune.quniform(1, 0, 0.1), ValueError, ["quniform()", "lower must be < upper"]),
        (lambda: tune.quniform(0, 1, 0.3), ValueError, ["quniform()", "upper", "multiple of q"]),
        (lambda: tune.randint(3, 3), ValueError, ["randint()", "lower must be < upper"]),
        (lambda: tune.randint(0, 2.5), TypeError, ["randint()", "upper", "int"]),
        (lambda: tune.randint(0.0, 2), TypeError, ["randint()", "lower", "int"]),
        (lambda: tune.qrandint(5, 5, 5), ValueError, ["qrandint()", "lower must be < upper"]),
        (lambda: tune.qrandint(0, 10, 0), ValueError, ["qrandint()", "q must be > 0"]),
        (lambda: tune.qrandint(0, 10, -5), ValueError, ["qrandint()", "q must be > 0"]),
        (lambda: tune.qrandint(1, 10, 5), ValueError, ["qrandint()", "lower", "multiple of q"]),
        (lambda: tune.qrandint(0, 10, 2.5), TypeError, ["qrandint()", "q", "int"]),
        (lambda: tune.randn(0, 0), ValueError, ["randn()", "sd must be > 0"]),
        (lambda: tune.randn(0, -1), ValueError, ["randn()", "sd must be > 0"]),
        (lambda: tune.randn(math.nan, 1), ValueError, ["randn()", "mean", "finite"]),
        (lambda: tune.choice([]), ValueError, ["choice()", "categories", "non-empty"]),
        (lambda: tune.choice(()), ValueError, ["choice()", "categories", "non-empty"]),
        (lambda: tune.choice("abc"), TypeError, ["choice()", "categories", "list or tuple"]),
        (lambda: tune.choice({"a": 1}), TypeError, ["choice()", "categories"]),
        (lambda: tune.choice({1, 2}), TypeError, ["choice()", "categories"]),
        (lambda: tune.choice(5), TypeError, ["choice()", "categories"]),
        (lambda: tune.sample_from(5), TypeError, ["sample_from()", "func", "callable"]),
        (lambda: tune.sample_from(None), TypeError, ["sample_from()", "func", "callable"]),
        (lambda: tune.sample_from(lambda a, b: 1), TypeError, ["sample_from()", "one argument"]),
        (lambda: tune.grid_search([]), ValueError, ["grid_search()", "values", "non-empty"]),
        (lambda: tune.grid_search(range(3)), TypeError, ["grid_search()", "values", "list"]),
        (lambda: tune.grid_search("ab"), TypeError, ["grid_search()", "values", "list"]),
        (lambda: tune.grid_search(None), TypeError, ["grid_search()", "values", "list"]),
    ],
)
def test_bad_constructor_arguments_are_named(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_sample_from_accepts_zero_argument_functions():
    assert tune.sample_from(lambda: 3).sample(None) == 3
    assert configs({"x": tune.sample_from(lambda: "fixed")}) == [{"x": "fixed"}]


def test_domain_with_a_domain_argument_cannot_be_sampled_directly():
    domain = tune.uniform(tune.randint(0, 3), 5)
    with pytest.raises(ValueError, match="lower is itself a search-space object"):
        domain.sample()


def test_contains_domains():
    assert contains_domains(tune.uniform(0, 1))
    assert contains_domains(tune.grid_search([1]))
    assert contains_domains({"a": [1, {"b": tune.choice([1])}]})
    assert contains_domains((1, tune.randn()))
    assert contains_domains(frozenset({tune.randn()}))
    assert not contains_domains({"a": [1, 2, (3,)], "grid_search": [1], "other": 2})
    assert not contains_domains("grid_search")
    looped: list = [1]
    looped.append(looped)
    assert not contains_domains(looped)


# --- variant generation: grid ---------------------------------------------------------------------


def test_no_search_space_gives_num_samples_identical_copies():
    config = {"a": 1, "b": {"c": [1, 2]}}
    variants = generate_variants(config, num_samples=3)
    assert [v.config for v in variants] == [config] * 3
    assert [v.tag for v in variants] == [""] * 3
    assert variants[0].config is not config
    assert variants[0].config["b"] is not variants[1].config["b"]


def test_empty_config():
    assert generate_variants({}) == [Variant(config={}, tag="")]


def test_grid_order_matches_ray_first_sorted_key_varies_fastest():
    # Same config and expected order as Ray 1.x's test_var.py::testGridSearch.
    config = {"bar": tune.grid_search([True, False]), "foo": tune.grid_search([1, 2, 3])}
    variants = generate_variants({**config, "baz": "asdf"})
    assert [v.config for v in variants] == [
        {"bar": True, "foo": 1, "baz": "asdf"},
        {"bar": False, "foo": 1, "baz": "asdf"},
        {"bar": True, "foo": 2, "baz": "asdf"},
        {"bar": False, "foo": 2, "baz": "asdf"},
        {"bar": True, "foo": 3, "baz": "asdf"},
        {"bar": False, "foo": 3, "baz": "asdf"},
    ]
    assert variants[0].tag == "bar=True,foo=1"


def test_grid_order_is_by_sorted_key_path_not_insertion():
    config = {"z": tune.grid_search([1, 2]), "a": tune.grid_search(["x", "y"])}
    assert [(c["a"], c["z"]) for c in configs(config)] == [
        ("x", 1),
        ("y", 1),
        ("x", 2),
        ("y", 2),
    ]


def test_grid_times_num_samples_count_and_order():
    config = {"lr": tune.grid_search([0.1, 0.01]), "seed": tune.randint(0, 10**9)}
    variants = generate_variants(config, num_samples=3, seed=1)
    assert len(variants) == 6 == count_variants(config, 3)
    # The whole grid is repeated, like Ray's BasicVariantGenerator.
    assert [v.config["lr"] for v in variants] == [0.1, 0.01] * 3
    # Random domains are drawn afresh for every variant.
    assert len({v.config["seed"] for v in variants}) == 6


def test_nested_grid_searches_in_dicts_and_lists():
    config = {
        "model": {"width": tune.grid_search([32, 64]), "act": "relu"},
        "layers": [tune.grid_search([1, 2]), 5],
    }
    result = configs(config)
    assert len(result) == 4 == count_variants(config, 1)
    # Sorted paths: ("layers", 0) before ("model", "width"); the first varies fastest.
    assert result == [
        {"model": {"width": 32, "act": "relu"}, "layers": [1, 5]},
        {"model": {"width": 32, "act": "relu"}, "layers": [2, 5]},
        {"model": {"width": 64, "act": "relu"}, "layers": [1, 5]},
        {"model": {"width": 64, "act": "relu"}, "layers": [2, 5]},
    ]


def test_grid_values_can_hold_grid_searches_and_domains():
    config = {
        "model": tune.grid_search(
            [
                {"type": "cnn", "kernel": tune.grid_search([3, 5]), "dropout": tune.uniform(0, 1)},
                {"type": "mlp"},
            ]
        ),
        "opt": tune.grid_search(["sgd", "adam"]),
    }
    result = configs(config, num_samples=2)
    assert len(result) == count_variants(config, 2) == (2 + 1) * 2 * 2
    types = [(c["model"]["type"], c["model"].get("kernel"), c["opt"]) for c in result[:6]]
    assert types == [
        ("cnn", 3, "sgd"),
        ("cnn", 5, "sgd"),
        ("mlp", None, "sgd"),
        ("cnn", 3, "adam"),
        ("cnn", 5, "adam"),
        ("mlp", None, "adam"),
    ]
    assert all(0 <= c["model"]["dropout"] < 1 for c in result if c["model"]["type"] == "cnn")
    assert not any(contains_domains(c) for c in result)


def test_grid_search_of_grid_search_is_flattened():
    config = {"a": tune.grid_search([tune.grid_search([1, 2]), 3])}
    variants = generate_variants(config)
    assert [v.config["a"] for v in variants] == [1, 2, 3]
    assert count_variants(config) == 3
    assert [v.tag for v in variants] == ["a=1", "a=2", "a=3"]


def test_hand_written_grid_dict_is_a_grid_but_a_dict_with_more_keys_is_not():
    assert [c["a"] for c in configs({"a": {"grid_search": [1, 2]}})] == [1, 2]
    plain = {"a": {"grid_search": [1, 2], "other": 0}}
    assert configs(plain) == [plain]


def test_grid_values_are_deep_copied_per_variant():
    shared = {"nested": [1]}
    variants = configs({"a": tune.grid_search([shared]), "b": tune.grid_search([1, 2])})
    variants[0]["a"]["nested"].append(2)
    assert variants[1]["a"] == {"nested": [1]}
    assert shared == {"nested": [1]}


def test_input_config_is_not_modified():
    config = {"a": tune.grid_search([1, 2]), "b": {"c": tune.uniform(0, 1)}}
    before = copy.deepcopy(config)
    generate_variants(config, num_samples=2)
    assert repr(config) == repr(before)
    assert isinstance(config["b"]["c"], Domain)


def test_count_variants_matches_generation():
    config = {
        "a": tune.grid_search([1, 2, 3]),
        "b": [
            tune.grid_search(["x", "y"]),
            {"c": tune.grid_search([{"d": tune.grid_search([0, 1])}, 5])},
        ],
        "r": tune.randn(),
    }
    for num_samples in (1, 4):
        assert count_variants(config, num_samples) == len(generate_variants(config, num_samples))
    assert count_variants(config, 1) == 3 * 2 * 3


def test_iter_variants_is_lazy_and_matches_generate_variants():
    config = {"a": tune.grid_search([1, 2]), "b": tune.uniform(0, 1)}
    iterator = iter_variants(config, num_samples=2, seed=5)
    assert not isinstance(iterator, list)
    assert list(iterator) == generate_variants(config, num_samples=2, seed=5)


def test_iter_variants_checks_placement_before_iterating():
    with pytest.raises(ValueError, match=re.escape('config["a"]')):
        iter_variants({"a": (tune.uniform(0, 1),)})


# --- variant generation: sampling -----------------------------------------------------------------


def test_domains_in_nested_dicts_and_lists_are_resolved():
    config = {
        "opt": {"lr": tune.loguniform(1e-4, 1e-1), "name": tune.choice(["sgd", "adam"])},
        "layers": [tune.randint(1, 4), {"width": tune.qrandint(8, 64, 8)}, 7],
    }
    for c in configs(config, num_samples=20):
        assert 1e-4 <= c["opt"]["lr"] < 1e-1
        assert c["opt"]["name"] in ("sgd", "adam")
        assert c["layers"][0] in (1, 2, 3)
        assert c["layers"][1]["width"] % 8 == 0 and 8 <= c["layers"][1]["width"] <= 64
        assert c["layers"][2] == 7
        assert not contains_domains(c)


def test_seed_makes_output_reproducible():
    config = {
        "a": tune.uniform(0, 1),
        "b": tune.grid_search([1, 2]),
        "c": tune.choice(list(range(100))),
        "d": tune.sample_from(lambda spec: spec.rng.random()),
    }
    first = generate_variants(config, num_samples=3, seed=42)
    assert first == generate_variants(config, num_samples=3, seed=42)
    assert first != generate_variants(config, num_samples=3, seed=43)


def test_no_seed_gives_different_draws():
    config = {"a": tune.uniform(0, 1)}
    assert configs(config, seed=None) != configs(config, seed=None)


def test_choice_results_are_not_shared_between_variants():
    variants = configs({"a": tune.choice([{"x": [1]}])}, num_samples=2)
    variants[0]["a"]["x"].append(2)
    assert variants[1]["a"] == {"x": [1]}


# --- sample_from ------------------------------------------------------------------------------


def test_sample_from_sees_grid_and_domain_values_with_attribute_and_item_access():
    config = {
        "lr": tune.grid_search([0.1, 1.0]),
        "model": {"width": tune.randint(1, 100)},
        "double_lr": tune.sample_from(lambda spec: spec.config.lr * 2),
        "width_copy": tune.sample_from(lambda spec: spec.config["model"]["width"]),
        "width_attr": tune.sample_from(lambda spec: spec.config.model.width),
        "via_spec_item": tune.sample_from(lambda spec: spec["config"]["lr"]),
    }
    for c in configs(config, num_samples=3):
        assert c["double_lr"] == c["lr"] * 2
        assert c["width_copy"] == c["width_attr"] == c["model"]["width"]
        assert c["via_spec_item"] == c["lr"]


def test_sample_from_chain_resolves_in_passes_regardless_of_key_order():
    # Ray 1.x test_var.py::testNestedValues, plus a chain written in reverse order.
    config = {
        "z": tune.sample_from(lambda spec: spec.config.y * 10),
        "y": tune.sample_from(lambda spec: spec.config.x.y.z * 100),
        "x": {"y": {"z": tune.sample_from(lambda spec: 2)}},
        "last": tune.sample_from(lambda spec: spec.config.z + spec.config.w),
        "w": tune.sample_from(lambda spec: spec.config["z"] - 1),
    }
    assert configs(config) == [
        {"z": 2000, "y": 200, "x": {"y": {"z": 2}}, "last": 3999, "w": 1999},
    ]


def test_sample_from_reading_list_items_and_methods():
    config = {
        "widths": [tune.randint(1, 5), tune.sample_from(lambda spec: 10)],
        "total": tune.sample_from(lambda spec: sum(spec.config.widths)),
        "first_two": tune.sample_from(lambda spec: spec.config.widths[:2]),
        "names": tune.sample_from(lambda spec: sorted(spec.config)),
        "sub": {"p": 1, "q": tune.randint(2, 3)},
        "pairs": tune.sample_from(lambda spec: sorted(spec.config.sub.items())),
        "maybe": tune.sample_from(lambda spec: spec.config.get("missing", "default")),
        "has": tune.sample_from(lambda spec: "total" in spec.config),
    }
    (c,) = configs(config)
    assert c["total"] == c["widths"][0] + 10
    assert c["first_two"] == c["widths"] and type(c["first_two"]) is list
    assert c["names"] == sorted(config)  # iterating reads keys only, never a pending value
    assert c["pairs"] == [("p", 1), ("q", 2)]
    assert c["maybe"] == "default"
    assert c["has"] is True


def test_sample_from_returning_a_config_part_gets_a_plain_independent_copy():
    config = {
        "model": {"width": tune.choice([8]), "extra": {"a": [1]}},
        "copy": tune.sample_from(lambda spec: spec.config.model),
    }
    (c,) = configs(config)
    assert c["copy"] == {"width": 8, "extra": {"a": [1]}}
    assert type(c["copy"]) is dict
    c["copy"]["extra"]["a"].append(2)
    assert c["model"]["extra"]["a"] == [1]


def test_sample_from_waits_for_values_copied_past_the_view():
    config = {
        "snapshot": tune.sample_from(lambda spec: dict(spec.config)["late"]),
        "late": tune.sample_from(lambda spec: 5),
    }
    assert configs(config) == [{"snapshot": 5, "late": 5}]


def test_sample_from_key_named_like_a_dict_method_wins_as_in_ray():
    config = {"items": 3, "out": tune.sample_from(lambda spec: spec.config.items * 2)}
    assert configs(config)[0]["out"] == 6


def test_sample_from_is_evaluated_per_variant():
    calls = []

    def record(spec):
        calls.append(spec.config.a)
        return spec.config.a

    config = {"a": tune.grid_search([1, 2]), "b": tune.sample_from(record)}
    configs(config, num_samples=2)
    assert calls == [1, 2, 1, 2]


def test_sample_from_cycle_is_an_error_naming_the_keys():
    config = {
        "a": tune.sample_from(lambda spec: spec.config.b + 1),
        "b": tune.sample_from(lambda spec: spec.config.a + 1),
        "ok": tune.sample_from(lambda spec: 1),
    }
    with pytest.raises(ValueError, match="cycle") as info:
        generate_variants(config)
    message = str(info.value)
    assert 'config["a"] needs config["b"]' in message
    assert 'config["b"] needs config["a"]' in message
    assert 'config["ok"]' not in message


def test_sample_from_self_reference_is_a_cycle():
    config = {"m": {"a": tune.sample_from(lambda spec: spec.config.m.a)}}
    with pytest.raises(ValueError, match=re.escape('config["m"]["a"] needs config["m"]["a"]')):
        generate_variants(config)


def test_failing_sample_from_is_an_error_naming_the_key_and_the_cause():
    config = {"net": {"bad": tune.sample_from(lambda spec: 1 / 0)}, "ok": tune.uniform(0, 1)}
    with pytest.raises(ValueError) as info:
        generate_variants(config)
    assert 'config["net"]["bad"]' in str(info.value)
    assert "ZeroDivisionError" in str(info.value)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_sample_from_reading_a_missing_key_is_an_error():
    config = {"a": tune.sample_from(lambda spec: spec.config.nope)}
    with pytest.raises(ValueError, match=re.escape('config["a"] failed: AttributeError')):
        generate_variants(config)


def test_sample_from_failing_only_until_a_dependency_resolves_is_fine():
    def needs_b(spec):
        # Fails (with a real error, not a guarded read) while b is unresolved.
        return int(str(dict(spec.config)["b"])) + 1

    config = {"a": tune.sample_from(needs_b), "b": tune.sample_from(lambda spec: 41)}
    assert configs(config) == [{"a": 42, "b": 41}]


def test_sample_from_returning_a_domain_is_an_error():
    config = {"x": {"y": tune.sample_from(lambda spec: tune.uniform(0, 1))}}
    with pytest.raises(ValueError, match=re.escape('config["x"]["y"]')) as info:
        generate_variants(config)
    assert "concrete value" in str(info.value)


# --- placement errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "path", "hint"),
    [
        (
            {"model": {"layers": [1, 2, (3, tune.uniform(0, 1))]}},
            'config["model"]["layers"][2][1]',
            "use a list",
        ),
        ({"shape": (tune.randint(1, 3), 4)}, 'config["shape"][0]', "sample_from"),
        ({"s": {tune.choice([1, 2])}}, 'config["s"]', "use a list"),
        ({"s": frozenset([tune.randn()])}, 'config["s"]', "frozenset"),
        ({"t": ({"g": tune.grid_search([1])},)}, 'config["t"][0]["g"]', "tuple"),
        ({"d": {tune.uniform(0, 1): 1}}, 'config["d"]', "dict key"),
        ({"x": tune.uniform(tune.randint(0, 3), 5)}, 'config["x"]', "sample_from"),
        ({"x": [tune.loguniform(1e-3, tune.choice([1, 2]))]}, 'config["x"][0]', "upper"),
        ({"x": tune.choice([1, tune.uniform(0, 1)])}, 'config["x"]', "categories[1]"),
        ({"x": tune.choice([{"a": tune.grid_search([1])}])}, 'config["x"]', "grid_search"),
        ({"x": tune.randint(0, tune.grid_search([3, 4]))}, 'config["x"]', "upper"),
        ({"g": {"grid_search": []}}, 'config["g"]', "non-empty list"),
        ({"g": {"grid_search": 3}}, 'config["g"]', "tune.grid_search"),
        ({"g": tune.grid_search([(tune.randn(),)])}, 'config["g"]["grid_search"][0][0]', "tuple"),
    ],
)
def test_unresolvable_placement_names_the_key_path(config, path, hint):
    with pytest.raises(ValueError) as info:
        generate_variants(config)
    message = str(info.value)
    assert path in message
    assert hint in message
    with pytest.raises(ValueError, match=re.escape(path)):
        count_variants(config, 1)


def test_tuples_and_sets_without_domains_are_fine():
    config = {"shape": (1, 2), "tags": {"a"}, "frozen": frozenset({1}), "lr": tune.uniform(0, 1)}
    (c,) = configs(config)
    assert c["shape"] == (1, 2) and c["tags"] == {"a"} and c["frozen"] == frozenset({1})


# --- argument errors --------------------------------------------------------------------------


@pytest.mark.parametrize("num_samples", [0, -1, 1.5, "2", None, True])
def test_bad_num_samples(num_samples):
    with pytest.raises(ValueError, match="num_samples"):
        generate_variants({"a": 1}, num_samples=num_samples)
    with pytest.raises(ValueError, match="num_samples"):
        count_variants({"a": 1}, num_samples)


@pytest.mark.parametrize("config", [[1, 2], None, "lr", ({"a": 1},)])
def test_config_must_be_a_dict(config):
    with pytest.raises(TypeError, match="config must be a dict"):
        generate_variants(config)
    with pytest.raises(TypeError, match="config must be a dict"):
        count_variants(config, 1)


def test_config_itself_cannot_be_a_grid_search():
    with pytest.raises(ValueError, match="config itself is a grid_search"):
        generate_variants(tune.grid_search([{"a": 1}]))


@pytest.mark.parametrize("seed", [1.5, "x", True])
def test_bad_seed(seed):
    with pytest.raises(TypeError, match="seed"):
        generate_variants({}, seed=seed)


# --- tags -------------------------------------------------------------------------------------


def test_tag_of_one_value():
    (variant,) = generate_variants({"guess": tune.sample_from(lambda spec: 5123)})
    assert variant.tag == "guess=5123"


def test_tag_is_sorted_by_path_and_uses_last_key():
    config = {
        "momentum": tune.grid_search([0.9]),
        "opt": {"lr": tune.grid_search([0.1])},
        "fixed": 3,
    }
    (variant,) = generate_variants(config)
    assert variant.tag == "momentum=0.9,lr=0.1"


def test_tag_names_include_list_indices_like_ray():
    config = {
        "layers": [tune.grid_search([16]), 8],
        "blocks": [{"width": tune.grid_search([4])}],
    }
    (variant,) = generate_variants(config)
    assert variant.tag == "0_width=4,layers_0=16"


def test_tag_floats_have_five_significant_digits():
    config = {
        "a": tune.grid_search([0.123456789]),
        "b": tune.grid_search([1e-7]),
        "c": tune.grid_search([123456.0]),
        "d": tune.grid_search([2.0]),
    }
    (variant,) = generate_variants(config)
    assert variant.tag == "a=0.12346,b=1e-07,c=1.2346e+05,d=2.0"


def test_tag_replaces_characters_unsafe_in_directory_names():
    config = {"path": tune.grid_search(['a/b\\c:d*e?f"g<h>i|j k\tl'])}
    (variant,) = generate_variants(config)
    assert variant.tag == "path=a_b_c_d_e_f_g_h_i_j_k_l"
    assert variant.config["path"] == 'a/b\\c:d*e?f"g<h>i|j k\tl'


def test_tag_includes_grid_domains_and_sample_from_but_not_fixed_values():
    config = {
        "g": tune.grid_search(["x"]),
        "c": tune.choice([True]),
        "f": tune.sample_from(lambda spec: None),
        "fixed": 1,
    }
    (variant,) = generate_variants(config)
    assert variant.tag == "c=True,f=None,g=x"


def test_variant_is_frozen():
    (variant,) = generate_variants({})
    with pytest.raises(AttributeError):
        variant.tag = "x"  # type: ignore[misc]
