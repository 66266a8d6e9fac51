"""Loggers (issue 14): Ray 0.8's ``loggers=`` classes replace the defaults, Ray 1.x's
``LoggerCallback`` runs from ``callbacks=``, ``params.pkl`` beside ``params.json``, and
TensorBoard event files (tags ``dasktune/<metric>`` at step ``training_iteration``)."""

from __future__ import annotations

import glob
import os
import pickle
import subprocess
import sys

import fsspec
import pytest
from distributed.diagnostics.plugin import WorkerPlugin
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
from trainables import Counter, Raiser

import dasktune as tune
from dasktune.logger import (
    DEFAULT_LOGGERS,
    CSVLogger,
    JsonLogger,
    Logger,
    LoggerCallback,
    TBXLogger,
    TBXLoggerCallback,
    UnifiedLogger,
)
from dasktune.logger.tbx_logger import wait_for_writes
from dasktune.result import PARAMS_FILE, PROGRESS_FILE, RESULT_FILE


def read_scalars(logdir: str) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the trial's TensorBoard event files, read with TensorBoard's own
    reader (as ``tensorboard --logdir`` loads them): tag -> [(step, value)]."""
    assert glob.glob(os.path.join(logdir, "events.out.tfevents.*")), os.listdir(logdir)
    events = EventAccumulator(logdir, size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def read_hparams(logdir: str) -> tuple[dict[str, object], list[str]]:
    """The trial's hyperparameters and metric tags as TensorBoard's HParams view reads them."""
    events = EventAccumulator(logdir)
    events.Reload()
    content = events.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"])
    params = {}
    for key, value in start.session_start_info.hparams.items():
        params[key] = getattr(value, value.WhichOneof("kind"))
    return params, sorted(m.name.tag for m in experiment.experiment.metric_infos)


class RecordingLogger(Logger):
    """A Ray 0.8 logger that records what it is given (it runs on the driver: this process)."""

    calls: list[tuple] = []

    def _init(self):
        RecordingLogger.calls.append(("init", dict(self.config), self.logdir, str(self.trial)))
        self._file = open(os.path.join(self.logdir, "custom.log"), "w")

    def on_result(self, result):
        RecordingLogger.calls.append(("result", result["training_iteration"], result["value"]))
        self._file.write(f"{result['value']}\n")

    def close(self):
        RecordingLogger.calls.append(("close",))
        self._file.close()


def test_loggers_replace_the_defaults(client, results_dir):
    RecordingLogger.calls = []
    analysis = tune.run(
        Counter,
        name="custom",
        stop={"training_iteration": 3},
        config={"step": 2},
        loggers=[RecordingLogger],
        local_dir=results_dir,
        client=client,
        verbose=0,
        return_trials=True,
    )
    (trial,) = analysis
    logdir = trial.logdir
    assert RecordingLogger.calls == [
        ("init", {"step": 2}, logdir, str(trial)),
        ("result", 1, 2),
        ("result", 2, 4),
        ("result", 3, 6),
        ("close",),
    ]
    files = set(os.listdir(logdir))
    assert {"custom.log", PARAMS_FILE, "params.pkl"} <= files
    # loggers= replaced JSON, CSV and TensorBoard (Ray 0.8's semantics).
    assert not files & {RESULT_FILE, PROGRESS_FILE}
    assert not glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
    assert open(os.path.join(logdir, "custom.log")).read() == "2\n4\n6\n"


def test_empty_loggers_write_no_result_logs(client, results_dir):
    (trial,) = tune.run(
        Counter,
        stop={"training_iteration": 2},
        loggers=[],
        local_dir=results_dir,
        client=client,
        verbose=0,
        return_trials=True,
    )
    assert sorted(os.listdir(trial.logdir)) == [PARAMS_FILE, "params.pkl"]
    assert trial.last_result["training_iteration"] == 2


def test_default_run_writes_json_csv_tensorboard_and_params_pkl(client, results_dir):
    assert DEFAULT_LOGGERS == (JsonLogger, CSVLogger, TBXLogger)
    analysis = tune.run(
        Counter,
        stop={"training_iteration": 3},
        config={"step": tune.grid_search([1, 10]), "nested": {"lr": 0.5}},
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    for trial in analysis.trials:
        files = set(os.listdir(trial.logdir))
        assert {PARAMS_FILE, "params.pkl", RESULT_FILE, PROGRESS_FILE} <= files
        with open(os.path.join(trial.logdir, "params.pkl"), "rb") as f:
            assert pickle.load(f) == trial.config
        scalars = read_scalars(trial.logdir)
        step = trial.config["step"]
        assert scalars["dasktune/value"] == [(i, float(i * step)) for i in (1, 2, 3)]
        assert [s for s, _ in scalars["dasktune/time_this_iter_s"]] == [1, 2, 3]
        # The step is the x axis, the config is in params.json: neither is a scalar.
        assert "dasktune/training_iteration" not in scalars
        assert not any(tag.startswith("dasktune/config") for tag in scalars)
        # TensorBoard's HParams view: the config against the last result's metrics.
        params, metric_tags = read_hparams(trial.logdir)
        assert params == {"step": float(step), "nested/lr": 0.5}
        assert "dasktune/value" in metric_tags


class Recorder(LoggerCallback):
    """A Ray 1.x logger callback recording its hooks."""

    def __init__(self):
        self.calls = []

    def log_trial_start(self, trial):
        # As in Ray, the trial's directory is there when it starts.
        assert os.path.isfile(os.path.join(trial.logdir, PARAMS_FILE)), trial.logdir
        self.calls.append(("start", str(trial)))

    def log_trial_result(self, iteration, trial, result):
        assert isinstance(iteration, int)
        self.calls.append(("result", str(trial), result["training_iteration"]))

    def log_trial_end(self, trial, failed=False):
        self.calls.append(("end", str(trial), failed))


def test_logger_callback_hooks(client, results_dir):
    recorder = Recorder()
    (trial,) = tune.run(
        Counter,
        stop={"training_iteration": 2},
        callbacks=[recorder],
        local_dir=results_dir,
        client=client,
        verbose=0,
        return_trials=True,
    )
    name = str(trial)
    assert recorder.calls == [
        ("start", name),
        ("result", name, 1),
        ("result", name, 2),
        ("end", name, False),
    ]
    failing = Recorder()
    (trial,) = tune.run(
        Raiser,
        config={"fail_at": 2},
        callbacks=[failing],
        local_dir=results_dir,
        client=client,
        verbose=0,
        return_trials=True,
        raise_on_failed_trial=False,
    )
    assert failing.calls == [
        ("start", str(trial)),
        ("result", str(trial), 1),
        ("end", str(trial), True),
    ]


def test_tbx_logger_callback_adds_tensorboard_to_chosen_loggers(client, results_dir):
    (trial,) = tune.run(
        Counter,
        stop={"training_iteration": 2},
        loggers=[JsonLogger],
        callbacks=[TBXLoggerCallback()],
        local_dir=results_dir,
        client=client,
        verbose=0,
        return_trials=True,
    )
    files = set(os.listdir(trial.logdir))
    assert RESULT_FILE in files and PROGRESS_FILE not in files
    assert [s for s, _ in read_scalars(trial.logdir)["dasktune/value"]] == [1, 2]


def test_unified_logger_runs_each_logger(tmp_path):
    RecordingLogger.calls = []
    unified = UnifiedLogger({"a": 1}, str(tmp_path), loggers=[RecordingLogger, TBXLogger])
    unified.on_result(
        {"training_iteration": 1, "value": 3, "nested": {"x": 2}, "flag": True, "nan": float("nan")}
    )
    unified.flush()
    unified.close()
    wait_for_writes()  # TensorBoard events are written in a thread of their own
    assert [c[0] for c in RecordingLogger.calls] == ["init", "result", "close"]
    scalars = read_scalars(str(tmp_path))
    assert scalars["dasktune/value"] == [(1, 3.0)] and scalars["dasktune/nested/x"] == [(1, 2.0)]
    assert set(scalars) == {"dasktune/value", "dasktune/nested/x"}


def test_bad_loggers_are_named_with_the_fix(results_dir):
    with pytest.raises(TypeError, match="subclass of dasktune.logger.Logger"):
        tune.run(Counter, loggers=[JsonLogger({}, results_dir)], local_dir=results_dir)
    with pytest.raises(TypeError, match="callbacks="):
        tune.run(Counter, loggers=[Recorder()], local_dir=results_dir)
    with pytest.raises(TypeError, match="list of Logger classes"):
        tune.run(Counter, loggers=RecordingLogger, local_dir=results_dir)


class FailingLogger(Logger):
    def on_result(self, result):
        raise RuntimeError("disk full")


def test_a_failing_logger_fails_the_run_with_its_name(client, results_dir):
    with pytest.raises(tune.TuneError, match=r"FailingLogger.on_result\(\) raised RuntimeError"):
        tune.run(
            Counter,
            stop={"training_iteration": 2},
            loggers=[FailingLogger],
            local_dir=results_dir,
            client=client,
            verbose=0,
        )


class RegisterKillFS(WorkerPlugin):
    """Teaches every worker the killfs:// protocol (a local filesystem under a URL, which
    dasktune treats as remote storage)."""

    def setup(self, worker):
        fsspec.register_implementation("killfs", "trainables.KillingFileSystem", clobber=True)


def test_remote_storage_gets_the_logger_files_uploaded(client, tmp_path):
    client.register_plugin(RegisterKillFS())
    fsspec.register_implementation("killfs", "trainables.KillingFileSystem", clobber=True)
    RecordingLogger.calls = []
    (trial,) = tune.run(
        Counter,
        name="remote",
        stop={"training_iteration": 3},
        loggers=[*DEFAULT_LOGGERS, RecordingLogger],
        local_dir=f"killfs://{tmp_path}/results",
        client=client,
        verbose=0,
        return_trials=True,
    )
    staging = RecordingLogger.calls[0][2]
    assert not staging.startswith("killfs://")  # loggers write local files...
    assert not os.path.exists(staging)  # ...uploaded, then the staging dir removed
    trial_dir = tmp_path / "results" / "remote" / os.path.basename(trial.logdir)
    files = set(os.listdir(trial_dir))
    assert {"custom.log", PARAMS_FILE, "params.pkl", RESULT_FILE, PROGRESS_FILE} <= files
    assert (trial_dir / "custom.log").read_text() == "1\n2\n3\n"
    assert [s for s, _ in read_scalars(str(trial_dir))["dasktune/value"]] == [1, 2, 3]


def test_event_writer_import_leaves_torch_alone_and_tensorboardx_whole():
    """TensorBoard's writer is loaded without tensorboardX's __init__ (which imports torch when
    installed: seconds on the driver's loop); a later ``import tensorboardX`` is complete."""
    code = (
        "import sys\n"
        "from dasktune.logger.tbx_logger import _tensorboardx\n"
        "_tensorboardx()\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'tensorboardX' not in sys.modules, 'bare package left behind'\n"
        "from tensorboardX import SummaryWriter\n"
        "import tensorboardX.event_file_writer\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
