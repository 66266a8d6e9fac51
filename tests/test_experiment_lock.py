"""One writer per experiment directory (issue 11): the lock file, on a local disk and on S3.

A second run on a locked experiment fails at once naming the first (host, pid, start time);
a run that died does not lock its experiment forever (``resume=True`` takes over a lock whose
holder is provably gone or silent); the lock goes when the run ends, Ctrl-C included.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from dataclasses import replace
from pathlib import Path

import dask
import fsspec
import pytest
from controller_harness import make_controller
from scripts import REPO, script_env, start_script
from trainables import FileCounter

import dasktune as tune
from dasktune.analysis import ExperimentAnalysis
from dasktune.backend.simulated import ScriptedTrainable, SimulatedBackend
from dasktune.driver import Driver
from dasktune.experiment_lock import (
    LOCK_FILE,
    ExperimentLock,
    ExperimentLocked,
    ExperimentLockLost,
    Holder,
)
from dasktune.listeners import Listeners
from dasktune.storage import StorageLocation


class Slow(FileCounter):
    """FileCounter that takes config['sleep'] seconds per step (the driver scripts define the
    same class, so an in-process resume runs the same trainable)."""

    def step(self):
        time.sleep(self.config.get("sleep", 0.2))
        return super().step()


# A driver run as users run it: a script, killed by the test. `Slow` as above.
DRIVER = """
import time
import dasktune as tune
from trainables import FileCounter

class Slow(FileCounter):
    def step(self):
        time.sleep(self.config.get("sleep", 0.2))
        return super().step()

tune.run(Slow, name="exp", local_dir={root!r}, storage_options={options!r},
         stop={{"training_iteration": {iterations}}}, config={config!r}, checkpoint_freq=1,
         verbose=0)
print("DONE")
"""


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    """``(root_url, storage_options)`` for each backend."""
    if request.param == "local":
        return str(tmp_path / "results"), {}
    url, options = request.getfixturevalue("s3_bucket")
    return f"{url}/results", options


def _location(storage, name="exp"):
    root, options = storage
    return StorageLocation(f"{root}/{name}", options)


def _holder_in(location):
    return Holder.from_text(location.read_text(LOCK_FILE))


def _foreign(heartbeat_age):
    """The record of a run on another machine whose last heartbeat is ``heartbeat_age`` old."""
    now = time.time()
    return Holder(
        token="f" * 32,
        host="elsewhere",
        pid=4242,
        started=now - 3600,
        heartbeat=now - heartbeat_age,
        machine="elsewhere|boot|pid:[1]",
    )


def _start_driver(tmp_path, storage, iterations, config):
    root, options = storage
    tests = str(REPO / "tests")
    env = script_env(tmp_path, PYTHONPATH=os.pathsep.join([str(REPO), tests]))
    source = DRIVER.format(root=root, options=options, iterations=iterations, config=config)
    return start_script(tmp_path, source, env=env)


def _wait_for(condition, proc, seconds, what, directory):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    log = (Path(directory) / "script.log").read_text()
    pytest.fail(f"timed out waiting for {what} (driver rc={proc.poll()}):\n{log[-3000:]}")


def _stop(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    return proc.wait(timeout=60)


# -- the lock itself --------------------------------------------------------------------------


def test_second_lock_fails_naming_the_first_until_it_is_released(storage):
    location = _location(storage)
    first = ExperimentLock.acquire(location, take_over=False)
    started = time.monotonic()
    with pytest.raises(ExperimentLocked) as refused:
        ExperimentLock.acquire(location, take_over=False)
    message = str(refused.value)
    assert time.monotonic() - started < 5
    assert f"host {socket.gethostname()}, pid {os.getpid()}, started at " in message
    assert "another name=" in message
    # Its holder runs on this machine: resume=True never takes a live process's lock.
    with pytest.raises(ExperimentLocked, match=f"stop pid {os.getpid()} first"):
        ExperimentLock.acquire(location, take_over=True)

    before = _holder_in(location).heartbeat
    time.sleep(0.05)
    first.refresh()
    assert _holder_in(location).heartbeat > before
    first.release()
    assert not location.exists(LOCK_FILE)
    ExperimentLock.acquire(location, take_over=False).release()


def test_resume_takes_over_only_a_silent_holder_on_another_machine(storage):
    location = _location(storage)
    location.makedirs()
    location.write_text(LOCK_FILE, _foreign(heartbeat_age=30).to_text())
    with pytest.raises(ExperimentLocked) as refused:
        ExperimentLock.acquire(location, take_over=True)
    assert "host elsewhere, pid 4242" in str(refused.value)
    assert "dasktune.lock-timeout (120 s; 90 s from now" in str(refused.value)

    with dask.config.set({"dasktune.lock-timeout": "10s"}):
        # Gone, but a run without resume= never takes over: it says how to continue.
        with pytest.raises(ExperimentLocked, match="gone .*no heartbeat for 30 s.*resume=True"):
            ExperimentLock.acquire(location, take_over=False)
        lock = ExperimentLock.acquire(location, take_over=True)
    assert _holder_in(location).token == lock.holder.token
    fs, path = fsspec.core.url_to_fs(location.url, **location.storage_options)
    fs.invalidate_cache()
    assert [Path(p).name for p in fs.ls(path, detail=False)] == [LOCK_FILE]  # no claim left
    lock.release()


def test_a_holder_taken_over_stops_and_leaves_the_new_lock(storage):
    location = _location(storage)
    old = ExperimentLock.acquire(location, take_over=False)
    # The old holder looks silent from elsewhere (a stalled driver on another node).
    silent = replace(old.holder, machine="elsewhere", heartbeat=time.time() - 600)
    location.write_text(LOCK_FILE, silent.to_text())
    new = ExperimentLock.acquire(location, take_over=True)
    with pytest.raises(ExperimentLockLost, match="taken over by another run .*this one stops"):
        old.refresh()
    old.release()
    assert _holder_in(location).token == new.holder.token
    new.release()
    assert not location.exists(LOCK_FILE)


def test_of_two_runs_taking_over_one_lock_one_fails(storage):
    location = _location(storage)
    location.makedirs()
    stale = _foreign(heartbeat_age=3600)
    location.write_text(LOCK_FILE, stale.to_text())
    # Another resume holds the claim on this stale lock (it is replacing it right now).
    location.write_text(f"{LOCK_FILE}.takeover-{stale.token}", _foreign(0).to_text())
    with pytest.raises(ExperimentLocked, match="is taking over the lock .* right now"):
        ExperimentLock.acquire(location, take_over=True)
    assert _holder_in(location).token == stale.token


# -- the driver's heartbeat (the whole loop on the simulated backend) ------------------------


def _simulated_run(lock, iterations):
    controller = make_controller(n=1, stop={"training_iteration": iterations})
    backend = SimulatedBackend({"w0": {"CPU": 1}}, ScriptedTrainable(step_seconds=1.0))
    driver = Driver(
        controller,
        backend,
        storage=None,
        listeners=Listeners([]),
        build_state=dict,
        clock=backend.clock,
        lock=lock,
    )
    asyncio.run(driver.run())
    return controller


def test_the_driver_renews_the_heartbeat_on_its_state_timer(tmp_path):
    location = StorageLocation(str(tmp_path / "exp"))
    lock = ExperimentLock.acquire(location, take_over=False)
    first = _holder_in(location).heartbeat
    time.sleep(0.01)
    _simulated_run(lock, iterations=100)  # 100 simulated seconds: state timer every 10
    assert _holder_in(location).heartbeat > first
    lock.release()


def test_a_run_whose_lock_was_taken_over_stops(tmp_path):
    location = StorageLocation(str(tmp_path / "exp"))
    lock = ExperimentLock.acquire(location, take_over=False)
    taker = replace(lock.holder, token="t" * 32, host="elsewhere", pid=4242)
    location.write_text(LOCK_FILE, taker.to_text())
    controller = None
    with pytest.raises(ExperimentLockLost, match="host elsewhere, pid 4242"):
        controller = _simulated_run(lock, iterations=10**5)
    assert controller is None
    lock.release()
    assert _holder_in(location).token == taker.token


# -- runs -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_run_on_a_running_experiment_fails_fast_naming_the_first(
    storage, client, tmp_path
):
    root, options = storage
    location = _location(storage)
    first = _start_driver(tmp_path, storage, iterations=10**6, config={"sleep": 0.3})
    try:
        _wait_for(
            lambda: location.exists(LOCK_FILE) and location.exists("experiment_state.json"),
            first,
            120,
            "the first run to lock the experiment and write its state",
            tmp_path,
        )
        for resume in (False, True):
            started = time.monotonic()
            with pytest.raises(ExperimentLocked) as refused:
                tune.run(
                    Slow,
                    name="exp",
                    local_dir=root,
                    storage_options=options,
                    stop={"training_iteration": 10**6},
                    config={"sleep": 0.3},
                    checkpoint_freq=1,
                    client=client,
                    resume=resume,
                    verbose=0,
                )
            assert time.monotonic() - started < 5
            message = str(refused.value)
            assert f"host {socket.gethostname()}, pid {first.pid}, started at " in message
            assert "one writer" in message
    finally:
        rc = _stop(first, signal.SIGINT)  # Ctrl-C: the run stops and releases its lock
    assert rc != 0
    assert not location.exists(LOCK_FILE)
    # Nothing of the refused runs is in the experiment: one trial, the first run's.
    state = json.loads(location.read_text("experiment_state.json"))
    assert len(state["trials"]) == 1
    assert location.subdir_names() == [state["trials"][0]["dirname"]]
    assert len(ExperimentAnalysis(location.url, storage_options=options).trial_logdirs) == 1


@pytest.mark.slow
def test_resume_takes_over_the_lock_of_a_killed_driver(client, tmp_path):
    storage = (str(tmp_path / "results"), {})
    location = _location(storage)
    config = {"i": tune.grid_search([0, 1])}
    first = _start_driver(tmp_path, storage, iterations=8, config=config)
    try:
        _wait_for(
            lambda: (
                list(Path(location.url).glob("*/checkpoint_2"))
                and location.exists("experiment_state.json")
            ),
            first,
            120,
            "a checkpoint of the first run",
            tmp_path,
        )
    finally:
        _stop(first, signal.SIGKILL)  # reaped by _stop: its pid is gone
    holder = _holder_in(location)
    assert holder.pid == first.pid

    run = dict(
        name="exp",
        local_dir=storage[0],
        stop={"training_iteration": 8},
        config=config,
        checkpoint_freq=1,
        client=client,
        verbose=0,
    )
    with pytest.raises(
        ExperimentLocked, match=f"process {first.pid} on this machine is gone.*resume=True"
    ):
        tune.run(Slow, **run)
    analysis = tune.run(Slow, resume=True, **run)
    assert not location.exists(LOCK_FILE)
    assert sorted(t.status for t in analysis.trials) == ["TERMINATED", "TERMINATED"]
    assert len(ExperimentAnalysis(location.url).trial_dataframes) == 2
