"""PB2's GP bandit on its own: the data it learns from, the GP, and the explore choice."""

from __future__ import annotations

import numpy as np
import pytest

from dasktune.schedulers.pb2_bandit import (
    MAX_ROWS,
    ImprovementData,
    TimeVaryingGP,
    select_hyperparameters,
)


def test_rows_are_reward_change_per_time_under_unchanged_hyperparameters():
    data = ImprovementData(names=("lr",))
    data.report("a", 0, 0.0, [0.1])
    data.report("a", 2, 1.0, [0.1])  # +1 over 2 time units
    data.report("a", 3, 4.0, [0.2])  # hyperparameters changed: no row
    data.report("a", 3, 5.0, [0.2])  # no time passed: no row
    data.report("a", 5, 9.0, [0.2])  # from (3, 5.0): +4 over 2
    X, y = data.arrays()
    assert X.tolist() == [[2.0, 0.0, 0.1], [5.0, 5.0, 0.2]]
    assert y.tolist() == [0.5, 2.0]


def test_restart_measures_new_hyperparameters_from_the_cloned_weights():
    data = ImprovementData(names=("lr",))
    data.report("a", 1, 1.0, [0.1])
    data.restart("a", 4, 10.0, [0.3])  # cloned the donor's weights at time 4, reward 10
    data.report("a", 6, 14.0, [0.3])
    X, y = data.arrays()
    assert X.tolist() == [[6.0, 10.0, 0.3]]
    assert y.tolist() == [2.0]


def test_only_the_most_recent_rows_are_kept():
    data = ImprovementData(names=("lr",))
    for t in range(MAX_ROWS + 50):
        data.report("a", t, float(t), [0.1])
    X, _ = data.arrays()
    assert len(X) == MAX_ROWS
    assert X[-1, 0] == MAX_ROWS + 49


def test_likelihood_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(15, 3))
    y = np.sin(3 * X[:, 1]) + 0.1 * rng.normal(size=15)
    gp = TimeVaryingGP(X, y)
    theta = np.array([0.3, -0.4, 0.2, -2.0])
    _, grad = gp._neg_log_likelihood(theta.copy())
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-5
        up, _ = gp._neg_log_likelihood(theta + step)
        down, _ = gp._neg_log_likelihood(theta - step)
        assert grad[i] == pytest.approx((up - down) / 2e-5, rel=1e-3, abs=1e-5)


def test_gp_fits_a_smooth_function_and_is_unsure_far_from_data():
    X = np.column_stack([np.zeros(12), np.linspace(0, 0.5, 12)])
    y = np.sin(4 * X[:, 1])
    gp = TimeVaryingGP(X, y).fit(seed=1)
    mean, var = gp.predict(np.array([[0.0, 0.25], [0.0, 3.0]]))
    assert mean[0] == pytest.approx(np.sin(1.0), abs=0.05)
    assert var[1] > 10 * var[0]


def _population_history(best_lr: float, seed: int) -> ImprovementData:
    """Reward grows fastest at ``best_lr`` (a triangle, as in PBT's toy problem)."""
    rng = np.random.default_rng(seed)
    data = ImprovementData(names=("lr",))
    for trial in range(8):
        lr = rng.uniform(0, 1)
        reward = 0.0
        for t in range(6):
            data.report(str(trial), t, reward, [lr])
            reward += max(0.0, 1 - abs(lr - best_lr) / 0.5)
    return data


def test_explore_picks_hyperparameters_near_the_fastest_improvement():
    data = _population_history(best_lr=0.3, seed=3)
    chosen, kernel = select_hyperparameters(data, {"lr": (0.0, 1.0)}, time=5, reward=3.0, seed=0)
    assert chosen is not None and kernel is not None
    assert 0.0 <= chosen["lr"] <= 1.0
    assert abs(chosen["lr"] - 0.3) < 0.15


def test_pending_choices_push_the_next_one_elsewhere():
    data = _population_history(best_lr=0.3, seed=3)
    first, kernel = select_hyperparameters(data, {"lr": (0.0, 1.0)}, time=5, reward=3.0, seed=0)
    many = [[first["lr"]]] * 6
    second, _ = select_hyperparameters(
        data, {"lr": (0.0, 1.0)}, time=5, reward=3.0, pending=many, seed=0, warm_start=kernel
    )
    assert second is not None
    assert second["lr"] != pytest.approx(first["lr"], abs=1e-3)


def test_no_rows_yet_means_no_choice():
    data = ImprovementData(names=("lr",))
    data.report("a", 0, 0.0, [0.1])
    assert select_hyperparameters(data, {"lr": (0.0, 1.0)}, time=0, reward=0.0) == (None, None)
