"""Storage that accepts connections and never answers, at the three moments the driver needs it:
at start (fail fast, before any worker is contacted), during a run (trials go on, rows are
spooled, a warning says so) and at the final write (the run ends within the deadline, naming
what was not written). Also: what the workers leave in their temp dirs, and credentials given
in ``storage_options`` never reaching a file of the experiment.

Each test uses the moto S3 server behind the fault proxy with its *default* botocore settings
(60 s timeouts, retries), so only dasktune's own deadline can end the wait.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import socket
import tempfile
import threading
import time
import uuid
import warnings

import dask
import fsspec
import pytest
from helpers import read_rows
from services.faultproxy import FaultProxy
from trainables import FileCounter, FlakyOnce, checkpointing_function

import dasktune as tune
from dasktune.checkpoints import committed_checkpoints
from dasktune.error import StorageTimeoutError

pytestmark = [pytest.mark.slow, pytest.mark.s3]

DEADLINE_S = 2.0


class Ticker(FileCounter):
    """A FileCounter whose steps take config['tick'] seconds (so an outage meets a live run)."""

    def step(self):
        time.sleep(self.config.get("tick", 0.1))
        return super().step()


class HoleAt(tune.Stopper):
    """Runs in the driver: stops each trial at config['n'] iterations, records when results
    arrive, and black-holes the proxy when any trial reaches iteration ``at`` (for ``seconds``,
    or for good when None)."""

    def __init__(self, proxy, at, seconds, lasts):
        self.proxy, self.at, self.seconds, self.lasts = proxy, at, seconds, lasts
        self.opened = self.closed = None
        self.arrivals = []

    def __call__(self, trial_id, result):
        now = time.monotonic()
        self.arrivals.append(now)
        iteration = result["training_iteration"]
        if iteration == self.at and self.opened is None:
            self.opened = now
            self.proxy.set_mode("blackhole")
            if self.seconds is not None:
                threading.Timer(self.seconds, self._close).start()
        return iteration >= self.lasts[result["config"]["i"]]

    def _close(self):
        self.closed = time.monotonic()
        self.proxy.set_mode("pass")

    def stop_all(self):
        return False


@pytest.fixture
def proxied_bucket(s3_bucket, moto_server):
    """``(bucket_url, proxy, storage_options through the proxy, direct storage_options)``."""
    url, direct = s3_bucket
    with FaultProxy("127.0.0.1", moto_server.port) as proxy:
        yield url, proxy, moto_server.storage_options(proxy.url), direct


def _messages(caught):
    return [str(w.message) for w in caught]


def test_black_hole_at_start_fails_fast_before_the_cluster_is_contacted(proxied_bucket):
    url, proxy, options, direct = proxied_bucket
    proxy.set_mode("blackhole")
    # A scheduler address nobody serves: any connection attempt would queue here.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with dask.config.set({"dasktune.storage-timeout": f"{DEADLINE_S}s"}):
            with pytest.raises(StorageTimeoutError) as info:
                tune.run(
                    FileCounter,
                    stop={"training_iteration": 1},
                    local_dir=f"{url}/results",
                    storage_options=options,
                    address=address,
                    verbose=0,
                )
        elapsed = time.monotonic() - started
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected: the run never reached the cluster
    assert elapsed < DEADLINE_S + 3, elapsed
    message = str(info.value)
    assert f"{url}/results" in message and "dasktune.storage-timeout" in message, message
    fs = fsspec.filesystem("s3", **direct)
    assert fs.find(url) == []


def test_black_hole_during_a_run_trials_go_on_and_rows_are_spooled(proxied_bucket, client):
    url, proxy, options, direct = proxied_bucket
    hole_s = 6.0
    # Trial 0 ends and trial 2 starts while the hole is open; trial 1 trains through it.
    stopper = HoleAt(proxy, at=4, seconds=hole_s, lasts={0: 12, 1: 45, 2: 20})
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with dask.config.set({"dasktune.storage-timeout": f"{DEADLINE_S}s"}):
            analysis = tune.run(
                Ticker,
                name="during",
                stop=stopper,
                config={"i": tune.grid_search([0, 1, 2]), "tick": 0.15},
                max_concurrent_trials=2,
                local_dir=f"{url}/results",
                storage_options=options,
                client=client,
                verbose=0,
            )
    elapsed = time.monotonic() - started
    assert stopper.opened is not None and stopper.closed is not None
    during = [t for t in stopper.arrivals if stopper.opened < t < stopper.closed]
    assert len(during) >= 20, len(during)  # results kept coming while storage was silent
    assert elapsed < 45 * 0.15 + hole_s + 15, elapsed
    messages = _messages(caught)
    assert any("has not answered" in m and f"{url}/results/during" in m for m in messages), messages
    assert any("answers again" in m for m in messages), messages
    assert [t.status for t in analysis.trials] == ["TERMINATED"] * 3
    fs = fsspec.filesystem("s3", **direct)
    for trial, last in zip(analysis.trials, (12, 45, 20), strict=True):
        assert [r["value"] for r in read_rows(trial.logdir, direct)] == list(range(1, last + 1))
        assert json.loads(fs.cat_file(f"{trial.logdir}/params.json"))["i"] == trial.config["i"]


def test_black_hole_at_the_final_write_ends_within_the_deadline(proxied_bucket, client):
    url, proxy, options, direct = proxied_bucket
    stopper = HoleAt(proxy, at=10, seconds=None, lasts={0: 10})
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with dask.config.set({"dasktune.storage-timeout": f"{DEADLINE_S}s"}):
            analysis = tune.run(
                Ticker,
                name="final",
                stop=stopper,
                config={"i": 0, "tick": 0.05},
                local_dir=f"{url}/results",
                storage_options=options,
                client=client,
                verbose=0,
            )
    ended = time.monotonic()
    assert ended - stopper.opened < DEADLINE_S + 4, ended - stopper.opened
    assert ended - started < 30
    messages = _messages(caught)
    logs = [m for m in messages if "the result logs of" in m]
    assert logs and f"{url}/results/final" in logs[0] and "dasktune.storage-timeout" in logs[0]
    assert any("experiment_state.json" in m and "not written" in m for m in messages), messages
    # The rows that did not reach storage are in the spool files the message names.
    spools = [p.rstrip(".,") for p in logs[0].split() if "dasktune_spool_" in p]
    json_spool = next(p for p in spools if "result.json" in p)
    rows = [json.loads(line) for line in open(json_spool).read().splitlines()]
    assert [r["value"] for r in rows] == list(range(1, 11))
    assert analysis.trials[0].status == "TERMINATED"
    for path in spools:
        os.unlink(path)


def test_workers_keep_no_temp_dirs_after_a_run_with_s3_storage(s3_bucket, client, tmp_path):
    url, options = s3_bucket
    scratch = tmp_path / "worker-tmp"

    def use_temp_dir(path):
        os.makedirs(path, exist_ok=True)
        tempfile.tempdir = path

    def restore_temp_dir():
        tempfile.tempdir = None

    client.run(use_temp_dir, str(scratch))
    try:
        tune.run(
            FileCounter,
            stop={"training_iteration": 3},
            config={"i": tune.grid_search([0, 1])},
            checkpoint_freq=1,
            local_dir=f"{url}/results",
            storage_options=options,
            client=client,
            verbose=0,
        )
        tune.run(
            checkpointing_function,
            stop={"training_iteration": 3},
            local_dir=f"{url}/results",
            storage_options=options,
            client=client,
            verbose=0,
        )
    finally:
        client.run(restore_temp_dir)
    assert os.listdir(scratch) == []


def test_credentials_in_storage_options_are_never_written(moto_server, client, tmp_path, capfd):
    moto_server.reset()
    url = moto_server.make_bucket(f"secrets-{uuid.uuid4().hex[:8]}")
    secrets = {name: f"{name}-{uuid.uuid4().hex}" for name in ("key", "secret", "token")}
    options = {
        **moto_server.storage_options(),
        "key": secrets["key"],
        "secret": secrets["secret"],
        "token": secrets["token"],
    }
    options["client_kwargs"] = {**options["client_kwargs"], "aws_session_token": secrets["token"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analysis = tune.run(
            FlakyOnce,
            name="exp",
            stop={"training_iteration": 4},
            config={"fail_at": 2, "marker": str(tmp_path / "failed-once")},
            checkpoint_freq=1,
            max_failures=1,
            local_dir=f"{url}/results",
            storage_options=options,
            client=client,
            verbose=2,
        )
    trial = analysis.trials[0]
    assert trial.status == "TERMINATED" and trial.num_failures == 1
    assert committed_checkpoints(trial.logdir, options)
    fs = fsspec.filesystem("s3", **moto_server.storage_options())
    files = fs.find(f"{url}/results/exp")
    names = {os.path.basename(f) for f in files}
    expected = {"params.json", "result.json", "progress.csv", "error.txt"}
    assert expected | {"experiment_state.json"} <= names, names
    texts = [fs.cat_file(f) for f in files]
    texts += [_decoded_strings(t) for t in texts]  # pickled configs and run objects too
    out, err = capfd.readouterr()
    texts += [out.encode(), err.encode(), "\n".join(_messages(caught)).encode()]
    for value in secrets.values():
        assert not any(value.encode() in text for text in texts), value


def _decoded_strings(data: bytes) -> bytes:
    """Every base64 string value of a JSON file, decoded and joined (empty for other files)."""
    try:
        document = json.loads(data)
    except ValueError:
        return b""
    found: list[bytes] = []

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) >= 16:
            try:
                found.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                pass

    walk(document)
    return b"\n".join(found)
