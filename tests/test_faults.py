"""Failures: lost workers, a worker killed mid-save, a killed driver, S3 connection faults.

Nothing already reported or committed may be lost, and a restore never loads a checkpoint
that was not committed whole.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import fsspec
import pytest
from distributed import WorkerPlugin
from helpers import read_rows
from services.faultproxy import FaultProxy
from trainables import FileCounter, SuicidalCounter, TwoFileCounter

import dasktune as tune
from dasktune.checkpoints import (
    MANIFEST,
    CheckpointError,
    committed_checkpoints,
    download_checkpoint,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_cluster(cluster_factory):
    """A 2-worker cluster of its own: tests here kill workers."""
    return cluster_factory(n_workers=2, threads_per_worker=1)


def test_lost_worker_trial_finishes_elsewhere(fresh_cluster, tmp_path):
    marker = tmp_path / "killed"
    analysis = tune.run(
        SuicidalCounter,
        stop={"training_iteration": 8},
        config={"kill_at": 5, "marker": str(marker)},
        checkpoint_freq=2,
        max_failures=2,
        local_dir=str(tmp_path / "results"),
        client=fresh_cluster,
        verbose=0,
    )
    trial = analysis.trials[0]
    assert marker.exists()
    assert trial.status == "TERMINATED" and trial.num_failures == 1
    rows = read_rows(trial.logdir)
    # Iterations 1-4 ran on the first worker; the kill came during iteration 5 (not reported).
    # The restart restored the newest committed checkpoint: checkpoint_4, or checkpoint_2 when
    # the background upload of checkpoint_4 had not been committed yet.
    iterations = [r["training_iteration"] for r in rows]
    restart = next(i for i, r in enumerate(rows) if i and r["iterations_since_restore"] == 1)
    assert iterations[:restart] == [1, 2, 3, 4]
    assert iterations[restart] in (3, 5)
    assert iterations[restart:] == list(range(iterations[restart], 9))
    assert all(r["value"] == r["training_iteration"] for r in rows)
    assert rows[restart]["pid"] != int(marker.read_text())
    error = open(os.path.join(trial.logdir, "error.txt")).read()
    assert "was lost" in error


def test_lost_worker_without_retries_names_the_fix(fresh_cluster, tmp_path):
    analysis = tune.run(
        SuicidalCounter,
        stop={"training_iteration": 4},
        config={"kill_at": 2, "marker": str(tmp_path / "killed")},
        local_dir=str(tmp_path / "results"),
        client=fresh_cluster,
        verbose=0,
        raise_on_failed_trial=False,
    )
    trial = analysis.trials[0]
    assert trial.status == "ERROR"
    assert "was lost" in trial.error_msg and "max_failures" in trial.error_msg
    assert [r["value"] for r in read_rows(trial.logdir)] == [1]


class RegisterKillFS(WorkerPlugin):
    """Teaches every worker (restarted ones too) the killfs:// protocol."""

    def setup(self, worker):
        fsspec.register_implementation("killfs", "trainables.KillingFileSystem", clobber=True)


def test_worker_killed_mid_save_never_leaves_a_committed_partial(fresh_cluster, tmp_path):
    fresh_cluster.register_plugin(RegisterKillFS())
    fsspec.register_implementation("killfs", "trainables.KillingFileSystem", clobber=True)
    analysis = tune.run(
        TwoFileCounter,
        name="exp",
        stop={"training_iteration": 5},
        checkpoint_freq=1,
        max_failures=1,
        local_dir=f"killfs://{tmp_path}/results",
        client=fresh_cluster,
        verbose=0,
    )
    trial = analysis.trials[0]
    assert (tmp_path / "results" / "exp" / "KILLED").exists()
    assert trial.status == "TERMINATED" and trial.num_failures == 1
    rows = read_rows(trial.logdir)
    # The kill hit the upload of checkpoint_3 (in the host's upload thread, while iteration 4
    # may already have been training): the restart restored checkpoint_2, never the partial
    # checkpoint_3, so iteration 3 onwards shows again, the repeat marked by
    # iterations_since_restore starting over at 1.
    restart = next(i for i, r in enumerate(rows) if i and r["iterations_since_restore"] == 1)
    assert rows[restart]["training_iteration"] == 3
    assert [r["training_iteration"] for r in rows[restart:]] == [3, 4, 5]
    assert all(r["value"] == r["training_iteration"] for r in rows)
    trial_dir = tmp_path / "results" / "exp" / os.path.basename(trial.logdir)
    assert [i for i, _ in committed_checkpoints(str(trial_dir))] == [1, 2, 3, 4, 5]


def test_partial_or_damaged_checkpoints_are_refused(tmp_path):
    trial_dir = tmp_path / "trial"
    partial = trial_dir / "checkpoint_7"
    partial.mkdir(parents=True)
    (partial / "state.bin").write_bytes(b"half")
    assert committed_checkpoints(str(trial_dir)) == []
    damaged = trial_dir / "checkpoint_8"
    damaged.mkdir()
    (damaged / "state.bin").write_bytes(b"short")
    (damaged / MANIFEST).write_text(
        json.dumps({"iteration": 8, "checkpoint": "state.bin", "files": {"state.bin": 100}})
    )
    with pytest.raises(CheckpointError, match="manifest says 100"):
        download_checkpoint(str(damaged), str(tmp_path / "scratch"))
    with pytest.raises(CheckpointError, match="not a committed"):
        download_checkpoint(f"file://{partial}x", str(tmp_path / "scratch"))


DRIVER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    import dasktune as tune
    from trainables import FileCounter

    class Slow(FileCounter):
        def step(self):
            time.sleep(0.2)
            return super().step()

    tune.run(Slow, name="exp", local_dir={root!r}, stop={{"training_iteration": 12}},
             config={{"i": tune.grid_search([0, 1, 2])}}, checkpoint_freq=1, verbose=0,
             resume={resume!r})
    print("DONE")
    """
)


def test_killed_driver_resumes_without_restarting_any_trial(tmp_path):
    tests = os.path.dirname(os.path.abspath(__file__))
    root = str(tmp_path / "results")
    first = subprocess.Popen(
        [sys.executable, "-c", DRIVER_SCRIPT.format(tests=tests, root=root, resume=False)],
        start_new_session=True,
    )
    exp = tmp_path / "results" / "exp"
    deadline = time.time() + 60
    # kill once some trial has a few checkpoints and the state file exists
    while time.time() < deadline:
        dirs = list(exp.glob("*/checkpoint_3")) if exp.exists() else []
        if dirs and (exp / "experiment_state.json").exists():
            break
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER_SCRIPT.format(tests=tests, root=root, resume=True)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "DONE" in done.stdout, done.stderr[-3000:]
    state = json.loads((exp / "experiment_state.json").read_text())
    assert [t["status"] for t in state["trials"]] == ["TERMINATED"] * 3
    for trial in state["trials"]:
        rows = read_rows(str(exp / trial["dirname"]))
        iterations = [r["training_iteration"] for r in rows]
        assert iterations[-1] == 12
        assert all(r["value"] == r["training_iteration"] for r in rows)
        # Nothing the first driver logged was lost with it (rows reach the OS in the loop turn
        # that logs them), and no trial started over: iteration 1 appears exactly once.
        assert iterations.count(1) == 1, iterations


class ProxyAt(tune.Stopper):
    """Runs in the driver: at a given iteration of the first attempt, switches the proxy mode
    for a while (then back to pass), so the next checkpoint upload hits the fault."""

    def __init__(self, proxy, at, mode, seconds, **mode_args):
        self.proxy, self.at, self.mode, self.seconds = proxy, at, mode, seconds
        self.mode_args = mode_args
        self.fired = False

    def __call__(self, trial_id, result):
        if result["training_iteration"] == self.at and not self.fired:
            self.fired = True
            self.proxy.set_mode(self.mode, **self.mode_args)
            threading.Timer(self.seconds, self.proxy.set_mode, args=("pass",)).start()
        return result["training_iteration"] >= 5


@pytest.mark.s3
def test_s3_reset_mid_upload_retries_and_never_restores_partial(moto_server, tmp_path, client):
    moto_server.reset()
    bucket = moto_server.make_bucket("faults")
    with FaultProxy("127.0.0.1", int(moto_server.endpoint_url.rsplit(":", 1)[1])) as proxy:
        options = moto_server.storage_options(proxy.url, fail_fast=True)
        analysis = tune.run(
            FileCounter,
            name="reset",
            stop=ProxyAt(proxy, at=2, mode="reset_after", seconds=1.5, n_bytes=256 * 1024),
            config={"ckpt_bytes": 3 << 20},
            checkpoint_freq=1,
            max_failures=-1,
            local_dir=f"{bucket}/results",
            storage_options=options,
            client=client,
            verbose=0,
        )
    trial = analysis.trials[0]
    assert trial.status == "TERMINATED" and trial.num_failures >= 1
    good = moto_server.storage_options()
    rows = read_rows(trial.logdir, good)
    assert all(r["value"] == r["training_iteration"] for r in rows)
    assert rows[-1]["training_iteration"] == 5
    found = committed_checkpoints(trial.logdir, good)
    assert [i for i, _ in found][-1] == 5
    error = (
        fsspec.core.url_to_fs(trial.logdir, **good)[0]
        .cat_file(f"{trial.logdir}/error.txt")
        .decode()
    )
    assert "Failure # 1" in error


@pytest.mark.s3
def test_s3_refused_fails_clearly_and_fast(moto_server, client):
    moto_server.reset()
    bucket = moto_server.make_bucket("refused")
    with FaultProxy("127.0.0.1", int(moto_server.endpoint_url.rsplit(":", 1)[1])) as proxy:
        proxy.set_mode("refuse")
        started = time.time()
        with pytest.raises(Exception) as info:
            tune.run(
                FileCounter,
                stop={"training_iteration": 2},
                local_dir=f"{bucket}/results",
                storage_options=moto_server.storage_options(proxy.url, fail_fast=True),
                client=client,
                verbose=0,
            )
        assert time.time() - started < 60
    text = f"{type(info.value).__name__}: {info.value}"
    assert any(w in text.lower() for w in ("connect", "reset", "refused", "endpoint")), text


@pytest.mark.s3
@pytest.mark.parametrize(
    ("hole_s", "timeout", "must_fail"), [(3.0, "20s", False), (15.0, "6s", True)]
)
def test_s3_black_hole_during_save(moto_server, client, hole_s, timeout, must_fail):
    """A short outage is ridden out by s3fs's retries; a long one fails the save (by the
    checkpoint timeout) and the trial recovers from its last committed checkpoint."""
    import dask

    moto_server.reset()
    bucket = moto_server.make_bucket("blackhole")
    with FaultProxy("127.0.0.1", int(moto_server.endpoint_url.rsplit(":", 1)[1])) as proxy:
        options = moto_server.storage_options(proxy.url, fail_fast=True)
        # A black hole accepts connections (the kernel completes them even while the proxy's
        # thread is busy), so the connect timeout plays no part in the fault; at 1 s it failed
        # the run's lock on a loaded CI machine before any fault. The 1 s read timeout stays.
        options["config_kwargs"]["connect_timeout"] = 10
        started = time.time()
        with dask.config.set({"dasktune.checkpoint-timeout": timeout}):
            analysis = tune.run(
                FileCounter,
                name="blackhole",
                stop=ProxyAt(proxy, at=2, mode="blackhole", seconds=hole_s),
                config={"ckpt_bytes": 1 << 20},
                checkpoint_freq=1,
                max_failures=-1,
                local_dir=f"{bucket}/results",
                storage_options=options,
                client=client,
                verbose=0,
            )
        elapsed = time.time() - started
    trial = analysis.trials[0]
    assert trial.status == "TERMINATED"
    assert (trial.num_failures >= 1) == must_fail
    assert hole_s <= elapsed < 120
    good = moto_server.storage_options()
    rows = read_rows(trial.logdir, good)
    assert all(r["value"] == r["training_iteration"] for r in rows)
    assert [i for i, _ in committed_checkpoints(trial.logdir, good)][-1] == 5
