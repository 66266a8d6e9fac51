"""Ray 0.8/1.x names around reading and running experiments: ``ExperimentAnalysis`` on a real
finished experiment (trials, best trial/checkpoint, results, stats), ``tune.Analysis``,
``filter_nan_and_inf``, ``track.init``/``shutdown`` outside ``tune.run``,
``tune.get_trial_dir/name/id``, and ``tune.Experiment``/``tune.run_experiments``."""

from __future__ import annotations

import json
import math
import os

import fsspec
import pytest
from finished_experiment import CHECKPOINT_FREQ, ITERATIONS, QS, expected_loss, local_experiment
from scripts import run_script

import dasktune as tune
from dasktune.experiment import Experiment, convert_to_experiment_list
from dasktune.trial import Trial


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> str:
    return local_experiment(tmp_path_factory)[1]


def _q(logdir: str) -> float:
    return float(logdir.rsplit("q=", 1)[1])


@pytest.mark.slow
def test_experiment_analysis_of_a_finished_run(exp):
    analysis = tune.ExperimentAnalysis(exp, default_metric="loss", default_mode="min")
    trials = analysis.trials
    assert [t.status for t in trials] == ["TERMINATED"] * len(QS)
    assert [t.config for t in trials] == [{"q": q} for q in QS]
    assert all(t.training_iteration == ITERATIONS for t in trials)
    assert [t.last_result["trial_id"] for t in trials] == [t.trial_id for t in trials]

    best = analysis.best_trial
    assert best.config == {"q": 0.1} and analysis.best_config == {"q": 0.1}
    assert analysis.best_logdir == best.logdir == f"{exp}/{best.dirname}"
    assert analysis.best_result == best.last_result
    assert analysis.best_result["loss"] == pytest.approx(expected_loss(0.1, ITERATIONS))
    assert analysis.best_result["config"] == {"q": 0.1}
    assert list(analysis.best_result_df.index) == [best.trial_id]
    assert analysis.get_best_trial("loss", "max").config == {"q": 0.5}
    assert analysis.get_best_trial("acc", "max", scope="avg").config == {"q": 0.1}

    # Checkpoints every CHECKPOINT_FREQ iterations, each paired with that iteration's loss.
    paths = analysis.get_trial_checkpoints_paths(best, "loss")
    steps = list(range(CHECKPOINT_FREQ, ITERATIONS + 1, CHECKPOINT_FREQ))
    assert [p for p, _ in paths] == [f"{best.logdir}/checkpoint_{s}" for s in steps]
    assert [v for _, v in paths] == pytest.approx([expected_loss(0.1, s) for s in steps])
    assert analysis.get_trial_checkpoints_paths(best.logdir) == [
        [p, s] for (p, _), s in zip(paths, steps, strict=True)
    ]
    # The default metric and mode: lowest loss is the newest checkpoint; max loss the oldest.
    assert analysis.best_checkpoint == paths[-1][0]
    assert analysis.get_best_checkpoint(best, "loss", "max") == paths[0][0]
    assert analysis.get_last_checkpoint(best) == paths[-1][0]
    # Without a trial: the one that ran the most iterations (all did: the first on a tie).
    assert analysis.get_last_checkpoint() == f"{trials[0].logdir}/checkpoint_{ITERATIONS}"
    for path, _ in paths:  # each is a committed checkpoint folder tune.run(restore=) takes
        assert os.path.exists(os.path.join(path, ".dasktune_manifest.json"))

    assert set(analysis.results) == {t.trial_id for t in trials}
    frame = analysis.results_df
    assert sorted(frame.index) == sorted(t.trial_id for t in trials)
    assert frame.loc[best.trial_id, "config/q"] == 0.1
    stats = analysis.stats()
    assert stats["start_time"] <= stats["timestamp"]

    # Ray's name for the path, and its file form.
    by_state = tune.ExperimentAnalysis(
        experiment_checkpoint_path=f"{exp}/experiment_state.json",
        default_metric="loss",
        default_mode="min",
    )
    assert by_state.best_config == {"q": 0.1}
    # tune.Analysis: the folders only; scope "all" (every trial's best value).
    plain = tune.Analysis(exp)
    assert plain.get_best_config("loss", "min") == {"q": 0.1}
    assert tune.Analysis(exp, "loss", "max").get_best_config() == {"q": 0.5}  # Ray's order
    assert _q(plain.get_best_logdir("loss", "max")) == 0.5
    assert len(plain.dataframe("loss", "min")) == len(QS)
    assert not hasattr(plain, "trials")


def test_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="exactly once"):
        tune.ExperimentAnalysis()
    with pytest.raises(TypeError, match="storage_options= by name"):
        tune.ExperimentAnalysis(str(tmp_path), {"anon": True})
    with pytest.raises(TypeError, match="storage_options="):
        tune.Analysis(str(tmp_path), {"anon": True})
    root = _write(tmp_path, {"T_0": [1.0]})
    analysis = tune.ExperimentAnalysis(root)
    with pytest.raises(ValueError, match="is not a trial of the experiment"):
        analysis.get_trial_checkpoints_paths(f"{root}/T_9")
    with pytest.raises(ValueError, match="metric=.*mode="):
        _ = analysis.best_trial
    with pytest.raises(ValueError, match="needs a metric and a mode"):
        analysis.get_best_checkpoint("T_0", metric="m")
    with pytest.warns(UserWarning, match="No checkpoints"):
        assert analysis.get_best_checkpoint(f"{root}/T_0") is None


def _write(tmp_path, losses: dict[str, list[float]]) -> str:
    fs = fsspec.filesystem("file")
    root = str(tmp_path / "exp")
    for name, values in losses.items():
        fs.makedirs(f"{root}/{name}", exist_ok=True)
        rows = [{"training_iteration": i + 1, "m": v} for i, v in enumerate(values)]
        fs.pipe_file(f"{root}/{name}/params.json", json.dumps({"n": name}).encode())
        fs.pipe_file(f"{root}/{name}/result.json", "\n".join(map(json.dumps, rows)).encode())
    return root


def test_filter_nan_and_inf(tmp_path):
    inf, nan = math.inf, math.nan
    root = _write(
        tmp_path,
        {"T_0": [3.0, 2.0], "T_1": [5.0, -inf], "T_2": [0.5, nan], "T_3": [nan, nan]},
    )
    analysis = tune.ExperimentAnalysis(root)
    best = analysis.get_best_trial
    # Filtered (default): -inf is left out, as is the NaN; T_2's last number is 0.5.
    assert best("m", "min").dirname == "T_2"
    # Unfiltered: -inf is the lowest last value; T_2's last value is NaN, ranked below numbers.
    assert best("m", "min", filter_nan_and_inf=False).dirname == "T_1"
    assert best("m", "max", filter_nan_and_inf=False).dirname == "T_0"
    assert best("m", "min", scope="avg", filter_nan_and_inf=False).dirname == "T_1"
    assert best("m", "max", scope="avg", filter_nan_and_inf=False).dirname == "T_0"
    assert best("m", "max", scope="avg").dirname == "T_1"  # only its 5.0 is left
    # A trial that never reported a trial id or state record is still a Trial.
    trial = best("m", "min")
    assert isinstance(trial, Trial) and trial.status == "UNKNOWN"
    assert trial.config == {"n": "T_2"}


def test_trials_given_by_the_run_are_the_trials(tmp_path):
    root = _write(tmp_path, {"T_0": [1.0], "T_1": [2.0]})
    trials = [
        Trial(
            trial_id=f"id{i}",
            index=i,
            trainable_name="f",
            config={"n": f"T_{i}"},
            experiment_tag=str(i),
            dirname=f"T_{i}",
            resources=tune.Resources(),
            status="TERMINATED",
            logdir=f"{root}/T_{i}",
        )
        for i in range(2)
    ]
    analysis = tune.ExperimentAnalysis(root, trials, "m", "max")
    assert analysis.best_trial is trials[1]
    assert list(analysis.results) == ["id0", "id1"]


def test_experiment_specs():
    def train(config):
        tune.track.log(x=1)

    exp = Experiment("e", train, stop={"training_iteration": 2}, local_dir="/tmp/x")
    assert exp.checkpoint_dir == "/tmp/x/e"
    assert exp.run_arguments() == {
        "run_or_experiment": train,
        "name": "e",
        "stop": {"training_iteration": 2},
        "local_dir": "/tmp/x",
    }
    [from_dict] = convert_to_experiment_list({"e": {"run": "name", "env": "Cart", "config": {}}})
    assert from_dict.spec == {"run": "name", "config": {"env": "Cart"}}
    with pytest.raises(TypeError, match="'stops' \\(did you mean 'stop'\\?\\)"):
        Experiment("e", train, stops={})
    with pytest.raises(TypeError, match="no 'run' key"):
        convert_to_experiment_list({"e": {"config": {}}})
    with pytest.raises(TypeError, match="must be an Experiment"):
        convert_to_experiment_list(["e"])
    # tune.run(Experiment) with an argument the experiment also sets: an error before any work.
    with pytest.raises(TypeError, match="also stop, which the experiment sets"):
        tune.run(exp, stop={"training_iteration": 5})


RUN_EXPERIMENTS = """
import json, os, warnings
import dasktune as tune
from dasktune import track


def train(config):
    track.init()  # inside a trial: the trial's own session, nothing to do
    for step in range(3):
        track.log(
            score=config["a"] * step,
            same_dir=track.trial_dir() == tune.get_trial_dir(),
            name_ok=tune.get_trial_name() == track.trial_name(),
            trial_id_seen=tune.get_trial_id(),
        )


first = tune.Experiment("first", train, config={{"a": tune.grid_search([1, 2])}},
                        local_dir={local_dir!r})
second = tune.Experiment("second", train, config={{"a": 5}}, local_dir={local_dir!r})
trials = tune.run_experiments([first, second], verbose=0, concurrent=False)
print("TRIALS", json.dumps([[t.status, t.trial_id, t.last_result["trial_id_seen"],
                              t.last_result["same_dir"], t.last_result["name_ok"]]
                             for t in trials]))
via_dict = tune.run_experiments({{"third": {{"run": train, "config": {{"a": 7}},
                                             "local_dir": {local_dir!r}}}}}, verbose=0)
print("DICT", via_dict[0].status, via_dict[0].last_result["score"])
analysis = tune.run(tune.Experiment("fourth", train, config={{"a": 4}}, local_dir={local_dir!r}),
                    verbose=0, metric="score", mode="max")
print("RUN_EXPERIMENT", analysis.best_result["score"], analysis.best_trial.status)

# The same function outside tune.run: track.init() writes a folder ExperimentAnalysis reads.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print("OUTSIDE", tune.get_trial_dir(), len(caught))
track.init(experiment_dir={solo!r}, trial_name="solo", trial_config={{"a": 3}})
train({{"a": 3}})
print("SOLO_DIR", tune.get_trial_dir())
track.shutdown()
analysis = tune.ExperimentAnalysis({solo!r})
print("SOLO", json.dumps([analysis.get_best_config("score", "max"),
                          analysis.trial_dataframes[analysis.trial_logdirs[0]]["score"].tolist()]))
"""


@pytest.mark.slow
def test_run_experiments_track_and_trial_names(tmp_path):
    local_dir, solo = str(tmp_path / "results"), str(tmp_path / "solo")
    proc = run_script(tmp_path, RUN_EXPERIMENTS.format(local_dir=local_dir, solo=solo))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    trials = json.loads(lines["TRIALS"])
    assert len(trials) == 3
    for status, trial_id, seen, same_dir, name_ok in trials:
        assert status == "TERMINATED" and seen == trial_id and same_dir and name_ok
    assert lines["DICT"] == "TERMINATED 14"
    assert lines["RUN_EXPERIMENT"] == "8 TERMINATED"
    assert sorted(os.listdir(local_dir)) == ["first", "fourth", "second", "third"]
    assert lines["OUTSIDE"] == "None 1"
    assert lines["SOLO_DIR"] == os.path.join(solo, "solo")
    config, scores = json.loads(lines["SOLO"])
    assert config == {"a": 3} and scores == [0, 3, 6]
