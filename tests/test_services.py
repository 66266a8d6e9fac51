"""The local test services work: moto S3 via s3fs, the fault proxy, and SLURM.

These pin down facts the rest of the suite relies on: storage options that work
in a process without AWS environment, ``open(path, "xb")`` as a commit marker,
which s3fs/botocore settings make a broken endpoint fail fast, and that
dask-jobqueue on the single-node SLURM from ``ci/slurm.sh`` hands each worker
its own (fake) GPU.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:  # `python -m pytest` from the repo root puts the root on sys.path
    import tests.services  # noqa: F401

    pytest_plugins = ["tests.services.fixtures"]
    from tests.services.faultproxy import FaultProxy
    from tests.services.s3 import MotoServer, s3_filesystem
except ImportError:  # plain `pytest`: only tests/ is on sys.path
    pytest_plugins = ["services.fixtures"]
    from services.faultproxy import FaultProxy  # type: ignore[no-redef]
    from services.s3 import MotoServer, s3_filesystem  # type: ignore[no-redef]

botocore_exceptions = pytest.importorskip("botocore.exceptions")

S3Bucket = tuple[str, dict[str, Any]]

# Seconds within which a fail-fast client must give up; timeouts are 1 s.
FAST = 5.0


# --------------------------------------------------------------------------- S3


@pytest.mark.s3
def test_s3_roundtrip_in_subprocess_without_aws_env(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    """storage_options alone suffice: no AWS_* variables, no ~/.aws, no region."""
    url, options = s3_bucket
    script = textwrap.dedent(
        """
        import json, sys
        import s3fs

        url, options = sys.argv[1], json.loads(sys.argv[2])
        fs = s3fs.S3FileSystem(**options)
        fs.pipe(url + "/dir/a.bin", b"alpha")
        with fs.open(url + "/dir/b.bin", "wb") as f:
            f.write(b"beta")
        print(json.dumps({
            "ls": sorted(fs.ls(url + "/dir")),
            "a": fs.cat(url + "/dir/a.bin").decode(),
            "b": fs.cat(url + "/dir/b.bin").decode(),
        }))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # An empty HOME hides any ~/.aws/config or credentials file.
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", script, url, json.dumps(options)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    bucket = url.removeprefix("s3://")
    assert out == {"ls": [f"{bucket}/dir/a.bin", f"{bucket}/dir/b.bin"], "a": "alpha", "b": "beta"}

    # And the driver sees what the subprocess wrote.
    fs = s3_filesystem(options)
    assert fs.cat(f"{url}/dir/b.bin") == b"beta"


@pytest.mark.s3
def test_reset_empties_the_server(moto_server: MotoServer) -> None:
    """reset() drops buckets, so each s3_bucket starts from an empty server."""
    moto_server.reset()
    url = moto_server.make_bucket("reset-check")
    fs = s3_filesystem(moto_server.storage_options())
    fs.pipe(f"{url}/x", b"1")
    moto_server.reset()
    fs = s3_filesystem(moto_server.storage_options())
    assert fs.ls("") == []


@pytest.mark.s3
def test_xb_is_a_conditional_create(s3_bucket: S3Bucket) -> None:
    """A second ``open(path, "xb")`` on an existing key raises FileExistsError."""
    url, options = s3_bucket
    fs = s3_filesystem(options)
    with fs.open(f"{url}/COMMIT", "xb") as f:
        f.write(b"first")
    with pytest.raises(FileExistsError):
        with fs.open(f"{url}/COMMIT", "xb") as f:
            f.write(b"second")
    assert fs.cat(f"{url}/COMMIT") == b"first"

    # Multipart uploads carry the condition on CompleteMultipartUpload.
    big = os.urandom(6 * 2**20)
    with fs.open(f"{url}/BIG", "xb", block_size=5 * 2**20) as f:
        f.write(big)
    with pytest.raises(FileExistsError):
        with fs.open(f"{url}/BIG", "xb", block_size=5 * 2**20) as f:
            f.write(big[::-1])
    assert fs.cat(f"{url}/BIG") == big


@pytest.mark.s3
def test_xb_race_has_exactly_one_winner(s3_bucket: S3Bucket) -> None:
    """Concurrent conditional creates from separate clients: one succeeds."""
    url, options = s3_bucket

    def attempt(i: int) -> int | None:
        fs = s3_filesystem(options)
        try:
            with fs.open(f"{url}/MARKER", "xb") as f:
                f.write(str(i).encode())
        except FileExistsError:
            return None
        return i

    with cf.ThreadPoolExecutor(4) as pool:
        winners = [i for i in pool.map(attempt, range(4)) if i is not None]
    assert len(winners) == 1
    assert s3_filesystem(options).cat(f"{url}/MARKER") == str(winners[0]).encode()


@pytest.mark.s3
def test_empty_xb_is_not_conditional(s3_bucket: S3Bucket) -> None:
    """Pitfall: an EMPTY "xb" file is written by an unconditional touch().

    s3fs commits a zero-byte file via put_object without If-None-Match, so a
    commit marker must hold at least one byte. If this starts failing, s3fs
    has fixed it and the caveat can go.
    """
    url, options = s3_bucket
    fs = s3_filesystem(options)
    for _ in range(2):
        with fs.open(f"{url}/EMPTY", "xb"):
            pass


# ----------------------------------------------------------------- fault proxy


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the moto server (a fresh bucket is made by s3_bucket)."""
    with FaultProxy("127.0.0.1", moto_server.port or 0) as p:
        yield p


def _proxied_fs(
    moto_server: MotoServer, proxy: FaultProxy, *, expect_continue: bool = False
) -> Any:
    """A fail-fast s3fs client that talks to moto through ``proxy``."""
    options = moto_server.storage_options(proxy.url, fail_fast=True)
    # s3fs's own retry loop (5 tries) is not settable through storage options.
    return s3_filesystem(options, retries=1, expect_continue=expect_continue)


def _timed(func: Any) -> tuple[float, BaseException | None]:
    t0 = time.monotonic()
    try:
        func()
    except Exception as exc:  # the failure is what the caller asserts on
        return time.monotonic() - t0, exc
    return time.monotonic() - t0, None


@pytest.mark.s3
def test_proxy_pass_and_latency(s3_bucket: S3Bucket, moto_server: MotoServer, proxy: FaultProxy):
    """In ``pass`` mode requests go through the proxy; latency adds delay both ways."""
    url, _ = s3_bucket
    fs = _proxied_fs(moto_server, proxy)
    fs.pipe(f"{url}/k", b"v" * 1000)
    assert fs.cat(f"{url}/k") == b"v" * 1000
    assert proxy.connections >= 1 and proxy.bytes_up > 1000 and proxy.bytes_down > 1000

    proxy.set_mode("pass", latency=0.2)
    elapsed, exc = _timed(lambda: fs.cat(f"{url}/k"))
    assert exc is None
    # One request/response crosses the proxy once each way.
    assert 0.4 <= elapsed < 0.4 + FAST


@pytest.mark.s3
@pytest.mark.parametrize("op", ["get", "put"])
def test_proxy_refuse_fails_fast(
    s3_bucket: S3Bucket, moto_server: MotoServer, proxy: FaultProxy, op: str
) -> None:
    """``refuse`` resets each new connection: EndpointConnectionError at once."""
    url, _ = s3_bucket
    fs = _proxied_fs(moto_server, proxy)
    fs.pipe(f"{url}/k", b"v")  # pools a keep-alive connection that set_mode must drop
    proxy.set_mode("refuse")
    before = proxy.connections
    if op == "get":
        elapsed, exc = _timed(lambda: fs.cat(f"{url}/k"))
    else:
        elapsed, exc = _timed(lambda: fs.pipe(f"{url}/new", b"x" * 1000))
    assert isinstance(exc, botocore_exceptions.EndpointConnectionError), repr(exc)
    assert elapsed < FAST
    assert proxy.connections > before


@pytest.mark.s3
@pytest.mark.parametrize("size", [1 << 20, 6 << 20], ids=["put", "multipart"])
def test_proxy_reset_after_fails_upload(
    s3_bucket: S3Bucket, moto_server: MotoServer, proxy: FaultProxy, size: int
) -> None:
    """``reset_after(n)`` kills an upload mid-body; nothing is left behind."""
    url, _ = s3_bucket
    fs = _proxied_fs(moto_server, proxy)
    proxy.set_mode("reset_after", n_bytes=64 * 1024)

    def upload() -> None:
        with fs.open(f"{url}/big", "wb", block_size=5 * 2**20) as f:
            f.write(os.urandom(size))

    elapsed, exc = _timed(upload)
    assert isinstance(exc, botocore_exceptions.EndpointConnectionError), repr(exc)
    assert elapsed < FAST
    proxy.set_mode("pass")
    assert not fs.exists(f"{url}/big")


@pytest.mark.s3
@pytest.mark.parametrize("op", ["get", "put"])
def test_proxy_blackhole_times_out(
    s3_bucket: S3Bucket, moto_server: MotoServer, proxy: FaultProxy, op: str
) -> None:
    """``blackhole`` never answers: ReadTimeoutError after read_timeout (1 s)."""
    url, _ = s3_bucket
    fs = _proxied_fs(moto_server, proxy)
    fs.pipe(f"{url}/k", b"v")
    proxy.set_mode("blackhole")
    if op == "get":
        elapsed, exc = _timed(lambda: fs.cat(f"{url}/k"))
    else:
        elapsed, exc = _timed(lambda: fs.pipe(f"{url}/new", b"x" * 1000))
    assert isinstance(exc, botocore_exceptions.ReadTimeoutError), repr(exc)
    assert 0.9 <= elapsed < FAST


@pytest.mark.s3
def test_blackhole_put_with_expect_continue_ignores_timeouts(
    s3_bucket: S3Bucket, moto_server: MotoServer, proxy: FaultProxy
) -> None:
    """Pitfall: with botocore's default ``Expect: 100-continue`` an upload to a
    silent server hangs, because aiohttp arms ``read_timeout`` only after the
    body is sent. See ``tests.services.s3.disable_expect_continue``.
    """
    url, _ = s3_bucket
    fs = _proxied_fs(moto_server, proxy, expect_continue=True)
    fs.pipe(f"{url}/k", b"v")
    proxy.set_mode("blackhole")
    done = threading.Event()
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            fs.pipe(f"{url}/new", b"x" * 1000)
        except Exception as exc:  # expected once the proxy lets go
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=upload, daemon=True).start()
    # read_timeout is 1 s and s3fs retries=1: a working timeout ends it in ~1.1 s.
    assert not done.wait(2.0), f"upload ended: {errors!r}; has aiohttp changed?"
    proxy.set_mode("refuse")  # resets the hung connection so the thread ends
    assert done.wait(FAST)
    assert errors


def _echo_server() -> tuple[socket.socket, int]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return

            def echo(c: socket.socket = conn) -> None:
                with c:
                    try:
                        while data := c.recv(65536):
                            c.sendall(data)
                    except OSError:
                        pass

            threading.Thread(target=echo, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def _echo_roundtrip(port: int, payload: bytes, timeout: float = 1.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            data = s.recv(65536)
            if not data:
                break
            got += data
        return got


def test_faultproxy_modes_raw_tcp() -> None:
    """Each mode at the socket level, including reset_after's exact byte budget."""
    srv, port = _echo_server()
    try:
        with FaultProxy("127.0.0.1", port) as p:
            payload = os.urandom(300_000)
            assert _echo_roundtrip(p.port, payload) == payload

            p.set_mode("refuse")
            with pytest.raises((ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
                _echo_roundtrip(p.port, b"hello")

            p.set_mode("reset_after", n_bytes=1000)
            up_before = p.bytes_up
            assert _echo_roundtrip(p.port, b"x" * 1000) == b"x" * 1000  # within budget
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                _echo_roundtrip(p.port, payload)
            assert p.bytes_up - up_before == 2000  # 1000 + exactly the budget

            p.set_mode("blackhole")
            with pytest.raises(TimeoutError):
                _echo_roundtrip(p.port, b"hello", timeout=0.3)

            p.set_mode("pass")
            assert _echo_roundtrip(p.port, b"again") == b"again"
            with pytest.raises(ValueError):
                p.set_mode("bogus")
    finally:
        srv.close()


# ------------------------------------------------------------------------ SLURM


@pytest.mark.slurm
@pytest.mark.slow
def test_slurmcluster_workers_get_distinct_gpus(slurm_partition: str, tmp_path: Path) -> None:
    """Two ``--gres=gpu:1`` jobs get CUDA_VISIBLE_DEVICES 0 and 1 and a GPU resource."""
    jobqueue = pytest.importorskip("dask_jobqueue")
    from distributed import Client

    with (
        jobqueue.SLURMCluster(
            cores=1,
            memory="2GB",
            processes=1,
            walltime="00:10:00",
            queue=slurm_partition,
            # Without "lo" the scheduler advertises a non-loopback address.
            interface="lo",
            scheduler_options={"interface": "lo", "dashboard_address": ":0"},
            worker_extra_args=["--resources", "GPU=1"],
            job_extra_directives=["--gres=gpu:1"],
            log_directory=str(tmp_path),
            death_timeout=30,
        ) as cluster,
        Client(cluster) as client,
    ):
        cluster.scale(2)
        client.wait_for_workers(2, timeout=90)

        devices = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        assert sorted(devices.values()) == ["0", "1"], devices
        resources = [w["resources"] for w in client.scheduler_info()["workers"].values()]
        assert resources == [{"GPU": 1}, {"GPU": 1}]

        futures = [
            client.submit(lambda _: os.environ["CUDA_VISIBLE_DEVICES"], i, resources={"GPU": 1})
            for i in range(4)
        ]
        assert set(client.gather(futures)) <= {"0", "1"}
