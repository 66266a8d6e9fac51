"""Tests for dasktune.analysis.ExperimentAnalysis, on hand-written experiment folders."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import fsspec
import pandas as pd
import pytest

from dasktune.analysis import Analysis, ExperimentAnalysis, flatten_dict
from dasktune.error import TuneError

NAN = float("nan")

# Losses per trial, chosen so that every scope (mode "min") picks a different trial:
#   all -> A (1), last -> B (3), avg -> C (~4.29), last-5-avg -> D (4.1), last-10-avg -> E (4.2).
# B carries a NaN, which must be ignored (otherwise its avg/last-5-avg would be NaN).
LOSSES: dict[str, list[float]] = {
    "T_00000_0_lr=0.1": [1, 9, 9, 9, 9, 9, 9],
    "T_00001_1_lr=0.2": [5, 5, NAN, 5, 5, 5, 3],
    "T_00002_2_lr=0.3": [2, 2, 2, 6, 6, 6, 6],
    "T_00003_3_lr=0.4": [9, 9, 4, 4, 4, 4, 4.5],
    "T_00004_4_lr=0.5": [100, 100] + [4.2] * 10,
}
NAMES = list(LOSSES)
A, B, C, D, E = NAMES
FAILED = "T_00005_5_lr=0.6"  # empty result.json: failed before its first report
NO_RESULT_FILE = "T_00006_6_lr=0.7"  # only params.json: not started yet
EXPECTED_MIN = {"all": A, "last": B, "avg": C, "last-5-avg": D, "last-10-avg": E}
SCOPES = list(EXPECTED_MIN)


def _config(i: int) -> dict[str, Any]:
    return {"lr": round(0.1 * (i + 1), 1), "opt": {"momentum": 0.9, "name": f"sgd{i}"}}


def _result(name: str, i: int, it: int, loss: float, n: int) -> dict[str, Any]:
    return {
        "training_iteration": it + 1,
        "trial_id": name.split("_")[1],
        "done": it == n - 1,
        "time_total_s": 0.5 * (it + 1),
        "config": _config(i),
        "loss": loss,
        # Nested metric; -loss so that mode "max" on it picks the same trials.
        "eval": {"score": -loss},
    }


def write_experiment(fs: fsspec.AbstractFileSystem, root: str) -> None:
    """Write the layout the driver writes, through fsspec."""
    fs.makedirs(root, exist_ok=True)
    fs.pipe_file(f"{root}/experiment_state.json", b'{"checkpoints": []}')
    for i, name in enumerate(NAMES):
        losses = LOSSES[name]
        lines = [
            json.dumps(_result(name, i, it, loss, len(losses))) for it, loss in enumerate(losses)
        ]
        fs.makedirs(f"{root}/{name}/checkpoint_1", exist_ok=True)
        fs.pipe_file(f"{root}/{name}/params.json", json.dumps(_config(i)).encode())
        fs.pipe_file(f"{root}/{name}/result.json", ("\n".join(lines) + "\n").encode())
        fs.pipe_file(f"{root}/{name}/progress.csv", b"loss\n")
        fs.pipe_file(f"{root}/{name}/checkpoint_1/state.pkl", b"x")
    fs.makedirs(f"{root}/{FAILED}", exist_ok=True)
    fs.pipe_file(f"{root}/{FAILED}/params.json", json.dumps(_config(5)).encode())
    fs.pipe_file(f"{root}/{FAILED}/result.json", b"")
    fs.pipe_file(f"{root}/{FAILED}/error.txt", b"Traceback ...")
    fs.makedirs(f"{root}/{NO_RESULT_FILE}", exist_ok=True)
    fs.pipe_file(f"{root}/{NO_RESULT_FILE}/params.json", json.dumps(_config(6)).encode())
    # A folder that is not a trial must be ignored.
    fs.makedirs(f"{root}/.hidden_stuff", exist_ok=True)
    fs.pipe_file(f"{root}/.hidden_stuff/notes.txt", b"hi")


@pytest.fixture
def exp_dir(tmp_path) -> str:
    root = str(tmp_path / "exp")
    write_experiment(fsspec.filesystem("file"), root)
    return root


@pytest.fixture
def analysis(exp_dir) -> ExperimentAnalysis:
    return ExperimentAnalysis(exp_dir)


def _name(logdir: str) -> str:
    return logdir.rstrip("/").rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------- loading


def test_flatten_dict():
    assert flatten_dict({"a": {"b": 1, "c": {"d": [1]}}, "e": 2, "f": {}}) == {
        "a/b": 1,
        "a/c/d": [1],
        "e": 2,
        "f": {},
    }
    assert flatten_dict({"lr": 1}, prefix="config/") == {"config/lr": 1}


def test_trial_logdirs_are_full_paths_sorted(analysis, exp_dir):
    expected = [f"{exp_dir}/{n}" for n in [*NAMES, FAILED, NO_RESULT_FILE]]
    assert analysis.trial_logdirs == expected
    assert analysis.trials_logdirs == expected
    assert analysis.experiment_path == exp_dir
    assert "trials=7" in repr(analysis)


def test_trial_dataframes(analysis, exp_dir):
    dfs = analysis.trial_dataframes
    assert set(dfs) == set(analysis.trial_logdirs)
    df = dfs[f"{exp_dir}/{A}"]
    assert len(df) == len(LOSSES[A])
    assert list(df["loss"]) == LOSSES[A]
    assert list(df["training_iteration"]) == list(range(1, 8))
    for column in ("config/lr", "config/opt/momentum", "eval/score", "trial_id", "done"):
        assert column in df.columns
    assert df["config/lr"].iloc[0] == 0.1
    # NaN survives JSON (Python's json writes NaN) and stays in the per-trial frame.
    assert math.isnan(dfs[f"{exp_dir}/{B}"]["loss"].iloc[2])
    assert dfs[f"{exp_dir}/{FAILED}"].empty
    assert dfs[f"{exp_dir}/{NO_RESULT_FILE}"].empty


def test_trial_dataframes_loaded_once_then_refreshed(analysis, exp_dir):
    first = analysis.trial_dataframes
    fs = fsspec.filesystem("file")
    path = f"{exp_dir}/{A}/result.json"
    extra = _result(A, 0, 7, 0.01, 8)
    fs.pipe_file(path, fs.cat_file(path) + (json.dumps(extra) + "\n").encode())
    fs.makedirs(f"{exp_dir}/T_00007_7_new", exist_ok=True)
    fs.pipe_file(f"{exp_dir}/T_00007_7_new/params.json", b'{"lr": 9}')

    # Cached: the same frames, no new trial.
    assert analysis.trial_dataframes[f"{exp_dir}/{A}"] is first[f"{exp_dir}/{A}"]
    assert len(analysis.trial_dataframes[f"{exp_dir}/{A}"]) == 7

    refreshed = analysis.fetch_trial_dataframes()
    assert len(refreshed[f"{exp_dir}/{A}"]) == 8
    assert f"{exp_dir}/T_00007_7_new" in refreshed
    assert analysis.get_best_logdir("loss", "min") == f"{exp_dir}/{A}"
    assert analysis.get_best_result("loss", "min")["loss"] == 0.01


def test_torn_last_line_is_skipped(exp_dir):
    fs = fsspec.filesystem("file")
    path = f"{exp_dir}/{A}/result.json"
    good = fs.cat_file(path)
    torn = json.dumps(_result(A, 0, 7, -100.0, 8))[:25]
    fs.pipe_file(path, good + torn.encode())
    analysis = ExperimentAnalysis(exp_dir)
    df = analysis.trial_dataframes[f"{exp_dir}/{A}"]
    assert len(df) == 7
    assert analysis.get_best_logdir("loss", "min", scope="all") == f"{exp_dir}/{A}"


def test_torn_multibyte_last_line_is_skipped(exp_dir):
    fs = fsspec.filesystem("file")
    path = f"{exp_dir}/{A}/result.json"
    line = json.dumps({"note": "é", "loss": 0}, ensure_ascii=False).encode()
    cut = line.index("é".encode()) + 1  # inside the two-byte character
    fs.pipe_file(path, fs.cat_file(path) + line[:cut])
    assert len(ExperimentAnalysis(exp_dir).trial_dataframes[f"{exp_dir}/{A}"]) == 7


def test_corrupt_middle_line_raises(exp_dir):
    fs = fsspec.filesystem("file")
    path = f"{exp_dir}/{A}/result.json"
    lines = fs.cat_file(path).split(b"\n")
    lines[2] = lines[2][:10]
    fs.pipe_file(path, b"\n".join(lines))
    with pytest.raises(TuneError, match=r"Corrupt result line 3 .*result\.json"):
        ExperimentAnalysis(exp_dir).trial_dataframes  # noqa: B018


def test_missing_params_json_falls_back_to_result_config(exp_dir):
    fsspec.filesystem("file").rm(f"{exp_dir}/{B}/params.json")
    configs = ExperimentAnalysis(exp_dir).get_all_configs()
    assert configs[f"{exp_dir}/{B}"] == _config(1)


# ------------------------------------------------------------------------------ paths


def test_path_that_does_not_exist(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(TuneError, match=r"nope.*does not exist"):
        ExperimentAnalysis(missing)


def test_path_without_trials(tmp_path):
    (tmp_path / "empty" / "not_a_trial").mkdir(parents=True)
    (tmp_path / "empty" / "experiment_state.json").write_text("{}")
    with pytest.raises(TuneError, match=r"No trial folders .*params\.json.*result\.json"):
        ExperimentAnalysis(str(tmp_path / "empty"))


def test_state_file_path_uses_its_parent(exp_dir):
    analysis = ExperimentAnalysis(f"{exp_dir}/experiment_state.json")
    assert analysis.experiment_path == exp_dir
    assert analysis.trial_logdirs[0] == f"{exp_dir}/{A}"
    assert analysis.get_best_logdir("loss", "min", scope="all") == f"{exp_dir}/{A}"


def test_trailing_slash_file_url_and_storage_options(exp_dir):
    plain = ExperimentAnalysis(exp_dir).trial_logdirs
    assert ExperimentAnalysis(exp_dir + "/").trial_logdirs == plain
    assert ExperimentAnalysis("file://" + exp_dir + "/").trial_logdirs == plain
    assert ExperimentAnalysis(exp_dir, storage_options={"auto_mkdir": False}).trial_logdirs == plain


def test_relative_path_gives_absolute_logdirs(exp_dir, monkeypatch):
    parent, name = exp_dir.rsplit("/", 1)
    monkeypatch.chdir(parent)
    assert ExperimentAnalysis(name).trial_logdirs[0] == f"{exp_dir}/{A}"


def test_remote_filesystem_keeps_protocol_in_logdirs():
    # memory:// stands in for s3://: a non-local filesystem whose paths carry no protocol.
    fs = fsspec.filesystem("memory")
    root = f"/dasktune-test-{uuid.uuid4().hex}/exp"
    write_experiment(fs, root)
    try:
        analysis = ExperimentAnalysis(f"memory://{root}/")
        assert analysis.experiment_path == f"memory://{root}"
        assert analysis.trial_logdirs[0] == f"memory://{root}/{A}"
        best = analysis.get_best_logdir("loss", "min", scope="last")
        assert best == f"memory://{root}/{B}"
        # The logdir can be handed straight back to fsspec.
        with fsspec.open(f"{best}/params.json") as f:
            assert json.load(f) == _config(1)
        via_state = ExperimentAnalysis(f"memory://{root}/experiment_state.json")
        assert via_state.trial_logdirs == analysis.trial_logdirs
    finally:
        fs.rm(root.rsplit("/", 1)[0], recursive=True)


# -------------------------------------------------------------------------- dataframe


def test_dataframe_last_rows(analysis, exp_dir):
    df = analysis.dataframe()
    assert len(df) == 7
    by_name = {_name(r["logdir"]): r for r in df.to_dict("records")}
    for name in NAMES:
        assert by_name[name]["loss"] == LOSSES[name][-1]
        assert by_name[name]["training_iteration"] == len(LOSSES[name])
    # Trials without results still have a row with config and logdir.
    for name, i in ((FAILED, 5), (NO_RESULT_FILE, 6)):
        row = by_name[name]
        assert row["config/lr"] == _config(i)["lr"]
        assert row["config/opt/name"] == f"sgd{i}"
        assert math.isnan(row["loss"])
    assert {"logdir", "config/lr", "config/opt/momentum", "eval/score"} <= set(df.columns)
    # A metric without mode: still the last rows (Ray semantics).
    assert list(analysis.dataframe(metric="loss")["loss"][:5]) == [v[-1] for v in LOSSES.values()]


@pytest.mark.parametrize(
    ("metric", "mode", "expected"),
    [
        ("loss", "min", [1, 3, 2, 4, 4.2]),
        ("loss", "max", [9, 5, 6, 9, 100]),
        ("eval/score", "max", [-1, -3, -2, -4, -4.2]),
    ],
)
def test_dataframe_best_rows(analysis, metric, mode, expected):
    df = analysis.dataframe(metric=metric, mode=mode)
    assert list(df[metric][:5]) == expected
    assert df["logdir"].map(_name).tolist() == [*NAMES, FAILED, NO_RESULT_FILE]
    # The row is the whole result where the best value occurred.
    row = df.iloc[0]
    assert row["training_iteration"] == (1 if mode == "min" or metric != "loss" else 2)


def test_dataframe_argument_errors(analysis):
    with pytest.raises(ValueError, match="metric"):
        analysis.dataframe(mode="min")
    with pytest.raises(ValueError, match="'max' or 'min'"):
        analysis.dataframe(metric="loss", mode="best")
    with pytest.raises(ValueError, match="No trial reported metric 'nope'"):
        analysis.dataframe(metric="nope", mode="min")


def test_get_all_configs(analysis, exp_dir):
    configs = analysis.get_all_configs()
    assert len(configs) == 7
    assert configs[f"{exp_dir}/{A}"] == _config(0)
    assert configs[f"{exp_dir}/{FAILED}"] == _config(5)
    assert configs[f"{exp_dir}/{NO_RESULT_FILE}"] == _config(6)
    prefixed = analysis.get_all_configs(prefix=True)
    assert prefixed[f"{exp_dir}/{C}"] == {
        "config/lr": 0.3,
        "config/opt/momentum": 0.9,
        "config/opt/name": "sgd2",
    }
    # Returned copies: mutating them does not corrupt the analysis.
    configs[f"{exp_dir}/{A}"]["opt"]["momentum"] = 0
    assert analysis.get_all_configs()[f"{exp_dir}/{A}"] == _config(0)


# ----------------------------------------------------------------------- best queries


@pytest.mark.parametrize("scope", SCOPES)
def test_best_by_scope_min(analysis, exp_dir, scope):
    winner = EXPECTED_MIN[scope]
    assert analysis.get_best_logdir("loss", "min", scope=scope) == f"{exp_dir}/{winner}"
    assert analysis.get_best_config("loss", "min", scope=scope) == _config(NAMES.index(winner))


@pytest.mark.parametrize("scope", SCOPES)
def test_best_by_scope_max_nested_metric(analysis, exp_dir, scope):
    # eval/score == -loss, so maximising it picks the same trials as minimising loss.
    winner = EXPECTED_MIN[scope]
    assert analysis.get_best_logdir("eval/score", "max", scope=scope) == f"{exp_dir}/{winner}"


def test_best_max_loss(analysis, exp_dir):
    # ExperimentAnalysis scores by the last value unless told (Ray 1.x); Analysis by the best.
    assert analysis.get_best_logdir("loss", "max") == f"{exp_dir}/{A}"  # 9
    assert Analysis(exp_dir).get_best_logdir("loss", "max") == f"{exp_dir}/{E}"  # 100
    assert analysis.get_best_logdir("loss", "max", scope="all") == f"{exp_dir}/{E}"
    assert analysis.get_best_logdir("loss", "max", scope="avg") == f"{exp_dir}/{E}"


def test_get_best_result(analysis):
    # As Ray's best_result: the best trial's last result, whatever the scope picked it by.
    best = analysis.get_best_result("loss", "min", scope="all")
    assert best["loss"] == 9 and best["training_iteration"] == 7  # A's last
    assert best["config"] == _config(0)  # the nested result as reported
    assert best["eval"] == {"score": -9}
    nested = analysis.get_best_result("eval/score", "max", scope="all")
    assert nested == best
    last = analysis.get_best_result("loss", "min")
    assert last["loss"] == 3 and last["done"] is True
    avg = analysis.get_best_result("loss", "min", scope="avg")
    assert avg["config"] == _config(2) and avg["training_iteration"] == 7
    # Returned copies.
    last["loss"] = 123
    assert analysis.get_best_result("loss", "min")["loss"] == 3


def test_ties_pick_first_trial(tmp_path):
    fs = fsspec.filesystem("file")
    root = str(tmp_path / "ties")
    for name in ("T_00001", "T_00000"):
        fs.makedirs(f"{root}/{name}", exist_ok=True)
        fs.pipe_file(f"{root}/{name}/params.json", json.dumps({"n": name}).encode())
        fs.pipe_file(f"{root}/{name}/result.json", b'{"m": 1}\n')
    assert ExperimentAnalysis(root).get_best_config("m", "max") == {"n": "T_00000"}


def test_defaults_and_properties(exp_dir):
    analysis = ExperimentAnalysis(exp_dir, default_metric="loss", default_mode="min")
    assert analysis.get_best_logdir() == f"{exp_dir}/{B}"
    assert analysis.get_best_logdir(scope="all") == f"{exp_dir}/{A}"
    assert analysis.get_best_logdir(mode="max", scope="all") == f"{exp_dir}/{E}"
    assert analysis.get_best_logdir(metric="eval/score", mode="max") == f"{exp_dir}/{B}"
    # The properties use the defaults and Ray's scope, "last".
    assert analysis.best_logdir == f"{exp_dir}/{B}"
    assert analysis.best_config == _config(1)
    assert analysis.best_result["loss"] == 3 and analysis.best_result["done"] is True
    best_df = analysis.best_dataframe
    assert isinstance(best_df, pd.DataFrame)
    assert list(best_df["loss"].fillna(-1)) == [5, 5, -1, 5, 5, 5, 3]


def test_missing_metric_and_mode(analysis):
    for call in (
        lambda: analysis.get_best_logdir(),
        lambda: analysis.get_best_config(),
        lambda: analysis.get_best_result(),
        lambda: analysis.get_best_logdir("loss"),
        lambda: analysis.best_logdir,
        lambda: analysis.best_config,
        lambda: analysis.best_result,
        lambda: analysis.best_dataframe,
    ):
        with pytest.raises(ValueError, match=r"metric=.*mode=.*run\("):
            call()


def test_bad_mode_and_scope(analysis, exp_dir):
    with pytest.raises(ValueError, match="'max' or 'min'"):
        analysis.get_best_logdir("loss", "maximum")
    with pytest.raises(ValueError, match="scope must be one of"):
        analysis.get_best_logdir("loss", "min", scope="best")
    with pytest.raises(ValueError, match="'max' or 'min'"):
        ExperimentAnalysis(exp_dir, default_mode="up")


def test_metric_nobody_reported(analysis):
    for call in (
        lambda: analysis.get_best_logdir("los", "min"),
        lambda: analysis.get_best_config("los", "min"),
        lambda: analysis.get_best_result("los", "min", scope="avg"),
    ):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert "No trial reported metric 'los'" in message
        assert "loss" in message and "eval/score" in message and "training_iteration" in message
        assert "Did you mean 'loss'?" in message
        assert "config/lr" not in message
    # The parent of a nested metric is not a metric.
    with pytest.raises(ValueError, match="No trial reported metric 'eval'"):
        analysis.get_best_logdir("eval", "max")


def test_metric_all_nan(tmp_path):
    fs = fsspec.filesystem("file")
    root = str(tmp_path / "nan")
    for i in range(2):
        fs.makedirs(f"{root}/T_{i}", exist_ok=True)
        lines = [json.dumps({"training_iteration": 1, "m": NAN, "ok": 1})] * 2
        fs.pipe_file(f"{root}/T_{i}/result.json", "\n".join(lines).encode())
    analysis = ExperimentAnalysis(root)
    with pytest.raises(ValueError, match="'m' is NaN"):
        analysis.get_best_logdir("m", "max")
    with pytest.raises(ValueError, match="'m' is NaN"):
        analysis.dataframe("m", "max")
    assert analysis.get_best_logdir("ok", "max").endswith("/T_0")


def test_metric_reported_only_sometimes(tmp_path):
    # A validation metric reported every other iteration: missing rows are not NaN scores.
    fs = fsspec.filesystem("file")
    root = str(tmp_path / "sparse")
    fs.makedirs(f"{root}/T_0", exist_ok=True)
    fs.makedirs(f"{root}/T_1", exist_ok=True)
    rows0 = [{"it": 1, "val": 0.5}, {"it": 2}, {"it": 3, "val": 0.9}, {"it": 4}]
    rows1 = [{"it": 1, "val": 0.8}, {"it": 2}]
    for name, rows in (("T_0", rows0), ("T_1", rows1)):
        fs.pipe_file(f"{root}/{name}/result.json", "\n".join(map(json.dumps, rows)).encode())
    analysis = ExperimentAnalysis(root)
    assert analysis.get_best_logdir("val", "max", scope="last").endswith("/T_0")  # 0.9 vs 0.8
    assert analysis.get_best_logdir("val", "max", scope="avg").endswith("/T_1")  # 0.7 vs 0.8
    assert analysis.get_best_result("val", "max")["it"] == 4  # T_0's last result
    df = analysis.dataframe("val", "max")
    assert list(df["it"]) == [3, 1]


def test_non_numeric_metric(tmp_path):
    fs = fsspec.filesystem("file")
    root = str(tmp_path / "str")
    fs.makedirs(f"{root}/T_0", exist_ok=True)
    fs.pipe_file(f"{root}/T_0/result.json", b'{"m": "high"}\n')
    with pytest.raises(ValueError, match="non-numeric"):
        ExperimentAnalysis(root).get_best_logdir("m", "max")
