"""Every trial gets a directory of its own, inside the experiment (issue 11): a name creator
that repeats a name or returns a path does not merge trials or write elsewhere."""

from __future__ import annotations

import json
import os

import pytest
from trainables import Counter

import dasktune as tune
from dasktune.analysis import ExperimentAnalysis
from dasktune.naming import TrialDirnames
from dasktune.resources import Resources
from dasktune.trial import Trial

# What a careless creator returns for trials 0..4: repeats, a path, an escape, a file's name.
CREATED = ["same", "same", "/abs/path", "../up", "experiment_state.json"]


def _tree(path):
    return {os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs}


@pytest.mark.parametrize("creator", ["trial_name_creator", "trial_dirname_creator"])
def test_repeated_and_path_names_give_distinct_dirs_inside_the_experiment(
    creator, client, tmp_path
):
    root = tmp_path / "results"
    with pytest.warns(UserWarning, match=f"{creator} gave the directory name 'same' to more"):
        analysis = tune.run(
            Counter,
            name="exp",
            local_dir=str(root),
            stop={"training_iteration": 3},
            config={"start": tune.grid_search(list(range(len(CREATED))))},
            client=client,
            verbose=0,
            **{creator: lambda trial: CREATED[trial.index]},
        )
    exp = root / "exp"
    dirnames = [t.dirname for t in sorted(analysis.trials, key=lambda t: t.index)]
    assert len(set(dirnames)) == len(CREATED)
    assert dirnames[0] == "same" and dirnames[1].startswith("same_")
    assert dirnames[2:4] == ["_abs_path", ".._up"]
    assert dirnames[4] != "experiment_state.json"
    for trial in analysis.trials:
        assert os.path.dirname(trial.logdir) == str(exp)
    # Nothing outside the experiment, and each trial's rows are its own.
    assert {p.split(os.sep)[0] for p in _tree(tmp_path)} == {"results"}
    assert {p.split(os.sep)[1] for p in _tree(root)} >= set(dirnames)
    frames = ExperimentAnalysis(str(exp)).trial_dataframes
    assert len(frames) == len(CREATED)
    for trial in analysis.trials:
        values = list(frames[trial.logdir]["value"])
        start = trial.config["start"]
        assert values == [start + 1, start + 2, start + 3]
    state = json.loads((exp / "experiment_state.json").read_text())
    assert sorted(t["dirname"] for t in state["trials"]) == sorted(dirnames)


def test_directories_already_in_the_experiment_are_not_reused(client, tmp_path):
    # A trial made after the last state write of a driver that died has a directory and no
    # state entry; a later run into that experiment does not append to it.
    exp = tmp_path / "results" / "exp"
    orphan = exp / "Counter_00000"
    orphan.mkdir(parents=True)
    (orphan / "result.json").write_text('{"value": -1}\n')
    analysis = tune.run(
        Counter,
        name="exp",
        local_dir=str(tmp_path / "results"),
        stop={"training_iteration": 1},
        client=client,
        verbose=0,
    )
    (trial,) = analysis.trials
    assert trial.dirname == f"Counter_00000_{trial.trial_id}"
    assert (orphan / "result.json").read_text() == '{"value": -1}\n'


def _trial(index):
    return Trial(
        trial_id=f"abcde_{index:05d}",
        index=index,
        trainable_name="T",
        config={},
        experiment_tag=str(index),
        dirname="",
        resources=Resources(),
    )


def test_resumed_trials_names_count_and_suffixes_stay_unique():
    # Names of resumed trials are taken; so is a name that mimics the suffix; case does not
    # make a name new (a case-insensitive disk would merge "Same" and "same").
    names = TrialDirnames(["same", "same_abcde_00003", "Other"])
    creator = {3: "same", 4: "other", 5: "x" * 200}.__getitem__
    with pytest.warns(UserWarning, match="'same' to more than one trial"):
        assert names.claim(_trial(3), None, lambda t: creator(t.index)) == "same_abcde_00003_2"
    assert names.claim(_trial(4), None, lambda t: creator(t.index)) == "other_abcde_00004"
    long = names.claim(_trial(5), None, lambda t: creator(t.index))
    assert len(long) == 130
    assert names.claim(_trial(6), None, lambda t: "x" * 200) == "x" * 118 + "_abcde_00006"
