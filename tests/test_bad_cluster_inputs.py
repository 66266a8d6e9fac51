"""Bad cluster and storage input to ``tune.run`` fails fast, with a message that names the
problem and the fix, and writes nothing outside the experiment dir.

Each row: (the call's kwargs, expected error type, words the message must contain, seconds it
must fail within). ``kwargs`` may be a function of the test's services (it gets the pytest
``request``) for rows that need a live endpoint; words may name kwargs as ``{address}``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import dask
import pytest
from distributed.security import Security
from services.faultproxy import FaultProxy
from services.s3 import free_port
from trainables import FileCounter

import dasktune as tune
from dasktune.error import StorageTimeoutError

Kwargs = dict[str, Any] | Callable[[pytest.FixtureRequest], dict[str, Any]]
Case = tuple[Kwargs, type[BaseException], list[str], float]

# Storage rows run with a short storage deadline (dasktune.storage-timeout), so they show it is
# the deadline that ends the wait, not botocore's minutes of timeouts and retries.
STORAGE_DEADLINE = "2s"


def _black_holed_s3(request: pytest.FixtureRequest) -> dict[str, Any]:
    moto = request.getfixturevalue("moto_server")
    moto.reset()
    bucket = moto.make_bucket("bad-inputs-blackhole")
    proxy = FaultProxy("127.0.0.1", moto.port).start()
    request.addfinalizer(proxy.stop)
    proxy.set_mode("blackhole")
    return {"local_dir": f"{bucket}/results", "storage_options": moto.storage_options(proxy.url)}


def _tls_address(request: pytest.FixtureRequest) -> dict[str, Any]:
    # Refused before any connection: the check needs no scheduler.
    return {"address": f"tls://127.0.0.1:{free_port()}"}


# Issue 11: which cluster, and whether storage answers.
CLUSTER_AND_STORAGE_CASES: list[Case] = [
    (
        lambda request: {"address": f"tcp://127.0.0.1:{free_port()}"},
        ConnectionRefusedError,
        ["{address}", "refused", "Start the scheduler", "dasktune.connect-refused-timeout"],
        10,
    ),
    (
        {"address": "tcp://no-such-host.invalid:8786"},
        ConnectionError,
        ["no-such-host.invalid", "resolve", "Check the scheduler's address"],
        10,
    ),
    ({"address": 8786}, TypeError, ["address=", "tcp://host:8786"], 5),
    (
        _tls_address,
        ValueError,
        ["{address}", "TLS", "security=Security(", "distributed.comm.tls.ca-file"],
        5,
    ),
    ({"security": "certs.pem"}, TypeError, ["security=", "distributed.security.Security"], 5),
    ({"security": Security()}, ValueError, ["security=", "address='tls://"], 5),
    (
        lambda request: {"security": Security(), "client": request.getfixturevalue("client")},
        ValueError,
        ["security=", "client=", "Drop security="],
        5,
    ),
    (
        _black_holed_s3,
        StorageTimeoutError,
        ["{local_dir}", "did not answer within 2 s", "dasktune.storage-timeout"],
        8,
    ),
]


def _ids(cases: list[Case]) -> list[str]:
    return [f"{i}-{error.__name__}" for i, (_, error, _, _) in enumerate(cases)]


@pytest.mark.parametrize(
    ("kwargs", "error", "words", "seconds"),
    CLUSTER_AND_STORAGE_CASES,
    ids=_ids(CLUSTER_AND_STORAGE_CASES),
)
def test_cluster_and_storage_inputs(request, tmp_path, monkeypatch, kwargs, error, words, seconds):
    _check_case(request, tmp_path, monkeypatch, kwargs, error, words, seconds)


def _check_case(request, tmp_path, monkeypatch, kwargs, error, words, seconds):
    """Run one row in a sandbox (cwd, HOME, temp dir of its own) and check it."""
    if callable(kwargs):
        kwargs = kwargs(request)
    cwd, home, temp = tmp_path / "cwd", tmp_path / "home", tmp_path / "tmp"
    for folder in (cwd, home, temp):
        folder.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    call = {"stop": {"training_iteration": 1}, "verbose": 0, "name": "exp"}
    call.setdefault("local_dir", str(tmp_path / "results"))
    call.update(kwargs)
    started = time.monotonic()
    with dask.config.set({"dasktune.storage-timeout": STORAGE_DEADLINE}):
        with pytest.raises(error) as info:
            tune.run(FileCounter, **call)
    elapsed = time.monotonic() - started
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    message = str(info.value)
    for word in words:
        expected = word.format(**call)
        assert expected in message, f"{expected!r} not in: {message}"
    # Nothing outside the experiment dir (an empty one may exist: storage is checked first).
    assert os.listdir(cwd) == [] and os.listdir(home) == [] and os.listdir(temp) == []
    results = tmp_path / "results"
    written = sorted(str(p.relative_to(results)) for p in results.rglob("*"))
    assert written in ([], ["exp"]), written
