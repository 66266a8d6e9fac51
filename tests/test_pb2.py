"""PB2 (Population Based Bandits) in simulated time: Ray's arguments, bounds kept, the
bandit's choices improve on the population's starting rates, and Ray's pb2_* policy files."""

from __future__ import annotations

import json

import pytest
from controller_harness import make_controller, make_trial
from test_pbt import BAD_LRS, Rows, check_continuity, exploits_of, gain, run, toy, workers

from dasktune.backend.simulated import SimulatedBackend
from dasktune.error import TuneError
from dasktune.schedulers import PB2
from dasktune.schedulers import pb2 as pb2_module
from dasktune.trial import TrialStatus

BOUNDS = {"lr": [0.0001, 0.2]}


def pb2_population(n, lrs, iterations=40, **kwargs):
    trials = [make_trial(i) for i in range(n)]
    for trial, lr in zip(trials, lrs, strict=True):
        trial.config = {"lr": lr}
    scheduler = PB2(
        time_attr="training_iteration",
        metric="mean_accuracy",
        mode="max",
        perturbation_interval=4,
        hyperparam_bounds=kwargs.pop("hyperparam_bounds", BOUNDS),
        seed=kwargs.pop("seed", 2),
        **kwargs,
    )
    controller = make_controller(
        trials=trials, scheduler=scheduler, stop={"training_iteration": iterations}
    )
    return controller, scheduler, trials


def test_ray_path_arguments_and_errors():
    assert pb2_module.PB2 is PB2
    scheduler = PB2(hyperparam_bounds={"lr": [0, 1]})
    assert scheduler._time_attr == "time_total_s" and scheduler._quantile_fraction == 0.25
    assert scheduler._perturbation_interval == 60.0 and scheduler._resample_probability == 0
    with pytest.raises(TuneError, match="hyperparam_bounds"):
        PB2()
    with pytest.raises(ValueError, match=r"'lr'.*\[min, max\]"):
        PB2(hyperparam_bounds={"lr": [0, 1, 2]})
    with pytest.raises(ValueError, match="'opt/momentum'.*min must be below max"):
        PB2(hyperparam_bounds={"opt": {"momentum": [0.9, 0.1]}})
    with pytest.raises(ValueError, match="categorical"):
        PB2(hyperparam_bounds={"act": ["relu", "tanh"]})


def test_keys_the_config_lacks_are_sampled_within_bounds():
    controller, scheduler, trials = pb2_population(
        4, [0.01] * 4, hyperparam_bounds={"lr": [0.001, 0.1], "opt": {"momentum": [0.5, 0.9]}}
    )
    for trial in trials:
        scheduler.on_trial_add(None, trial)
        assert 0.5 <= trial.config["opt"]["momentum"] <= 0.9


def test_pb2_explores_with_the_bandit_and_beats_the_starting_rates(tmp_path):
    controller, scheduler, trials = pb2_population(8, BAD_LRS, iterations=40)
    backend = SimulatedBackend(workers(4), toy())
    rows = Rows()
    run(controller, backend, tmp_path, rows)
    assert {t.status for t in trials} == {TrialStatus.TERMINATED}
    exploits = exploits_of(backend, trials)
    assert len(exploits) >= 5
    assert check_continuity(backend, rows.rows) >= len(exploits)
    # Every chosen value inside the bounds; the bandit moves away from the donors' values
    # (PBT's x0.8 / x1.2 would keep them near the bad starting rates).
    chosen = [config["lr"] for _, _, _, config, _ in exploits]
    assert all(0.0001 <= lr <= 0.2 for lr in chosen)
    assert max(chosen) > 2 * max(BAD_LRS)
    # Ray's policy files, under PB2's names.
    glob = (tmp_path / "pb2_global.txt").read_text().splitlines()
    assert len(glob) == len(exploits) and not (tmp_path / "pbt_global.txt").exists()
    assert all(len(json.loads(line)) == 6 for line in glob)
    best_fixed = max(sum(gain(lr, i) for i in range(1, 41)) for lr in BAD_LRS)
    assert max(t.last_result["mean_accuracy"] for t in trials) > best_fixed


def test_integer_hyperparameters_stay_integers(tmp_path):
    controller, scheduler, trials = pb2_population(
        6, BAD_LRS[:6], iterations=24, hyperparam_bounds={"lr": [0.0001, 0.2], "batch": [8, 64]}
    )
    for trial in trials:
        trial.config["batch"] = 16
    backend = SimulatedBackend(workers(3), toy())
    run(controller, backend, tmp_path, Rows())
    exploits = exploits_of(backend, trials)
    assert exploits
    for *_, config, _how in exploits:
        assert isinstance(config["batch"], int) and 8 <= config["batch"] <= 64
