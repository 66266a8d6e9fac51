"""A moto S3 server on loopback, run as a subprocess, for tests that need real S3 I/O.

The server runs in its own process rather than as moto's in-process
``ThreadedMotoServer`` so that it does not compete for the GIL with the code
under test, and so that Dask workers in other processes can reach it.

Everything a client needs (endpoint, credentials, region) is carried by
:meth:`MotoServer.storage_options`, so worker processes need no ``AWS_*``
environment variables or ``~/.aws`` files.
"""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "FAIL_FAST_CONFIG",
    "MotoServer",
    "disable_expect_continue",
    "free_port",
    "s3_filesystem",
]

# botocore settings that make a broken endpoint fail in about a second; with
# the defaults (5 attempts, 15 s read timeout) a silent endpoint takes minutes.
# `total_max_attempts` counts the first try; botocore's `max_attempts` counts
# retries only, so {"max_attempts": 1} would mean 2 tries.
FAIL_FAST_CONFIG: dict[str, Any] = {
    "retries": {"total_max_attempts": 1, "mode": "standard"},
    "connect_timeout": 1,
    "read_timeout": 1,
}

# Runs `moto_server` (moto.server.main, the console script's entry point) plus
# a watchdog thread. Without it a test run killed hard (pytest-timeout's
# os._exit, SIGKILL, a crashed CI step) leaves an orphaned server holding
# hundreds of MB, since fixture teardown never runs.
_LAUNCHER = """
import os, sys, threading, time
parent = int(sys.argv[1])
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(sys.argv[2:])
"""

# Direct opener: an HTTP(S)_PROXY in the environment must not capture loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the server's own bind: TIME_WAIT leftovers are fine, a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def s3_filesystem(
    storage_options: dict[str, Any],
    *,
    retries: int | None = None,
    expect_continue: bool = True,
) -> Any:
    """Build a fresh (uncached) ``s3fs.S3FileSystem`` from ``storage_options``.

    ``retries`` sets s3fs's own retry loop (default 5 tries, with backoff), which
    wraps botocore's. s3fs ignores a ``retries=`` constructor argument (it only
    has a class attribute), so it cannot travel in storage_options; this sets it
    on the instance instead.

    ``expect_continue=False`` applies :func:`disable_expect_continue`.
    """
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **copy.deepcopy(storage_options))
    if retries is not None:
        fs.retries = retries
    if not expect_continue:
        disable_expect_continue(fs)
    return fs


def disable_expect_continue(fs: Any) -> None:
    """Stop ``fs`` (an s3fs filesystem) sending ``Expect: 100-continue`` on uploads.

    botocore adds that header to every PutObject/UploadPart, and aiohttp only
    arms its read timeout (``read_timeout``) after the body is sent, which it
    does only once the server answers "100 Continue". So against a server that
    accepts the connection and never answers, an upload hangs forever whatever
    the timeouts. Without the header the body goes out at once and
    ``read_timeout`` applies. Needs a live client, so it connects ``fs``.
    """
    from botocore.handlers import add_expect_header

    fs.s3.meta.events.unregister("before-call.s3", add_expect_header)


class MotoServer:
    """A ``moto_server`` subprocess listening on loopback.

    Use :meth:`start` / :meth:`stop` or ``with MotoServer() as server: ...``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        start_timeout: float = 30.0,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._fixed_port = port is not None
        self._own_log = log_path is None
        self.start_timeout = start_timeout
        self.log_path = Path(log_path) if log_path is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self.startup_seconds: float | None = None

    @property
    def endpoint_url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:40123``."""
        if self.port is None:
            raise RuntimeError("MotoServer is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the server process, or None when not running."""
        return self._proc.pid if self._proc is not None else None

    @staticmethod
    def command() -> list[str]:
        """The argv prefix that runs moto's server (``moto.server.main``).

        It is this interpreter's moto, wrapped in :data:`_LAUNCHER` so the
        server exits when the process that started it dies without cleaning up.
        """
        return [sys.executable, "-c", _LAUNCHER, str(os.getpid())]

    def start(self) -> MotoServer:
        """Start the server and block until ``/moto-api/`` answers."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        t0 = time.monotonic()
        # A port picked by free_port() can be taken before moto binds it; pick
        # another one in that case.
        for attempt in range(3):
            if not self._fixed_port:
                self.port = free_port(self.host)
            try:
                self._spawn()
                break
            except RuntimeError:
                if self._fixed_port or attempt == 2:
                    raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _spawn(self) -> None:
        # Otherwise a server already on the port answers the readiness probe
        # while ours is still importing moto (and about to fail to bind).
        if not _port_is_free(self.host, int(self.port or 0)):
            raise RuntimeError(f"port {self.host}:{self.port} is already in use")
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="moto-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self._log_file = open(self.log_path, "ab")  # closed in _cleanup()
        argv = [*self.command(), "-H", self.host, "-p", str(self.port)]
        # Own session: a Ctrl-C aimed at pytest must not kill the server before
        # the fixtures get to stop it cleanly.
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                self._cleanup()
                raise RuntimeError(f"moto_server exited during startup:\n{tail}")
            if self._ping():
                return
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise TimeoutError(f"moto_server did not answer within {self.start_timeout}s:\n{tail}")

    def _ping(self) -> bool:
        try:
            with _OPENER.open(f"{self.endpoint_url}/moto-api/", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, n_lines: int = 30) -> str:
        """The last lines of the server's log (stdout and stderr)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n_lines:])

    def reset(self) -> None:
        """Drop all buckets and objects, and forget cached s3fs instances."""
        import s3fs

        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with _OPENER.open(req, timeout=10) as resp:
            resp.read()
        # Cached instances hold listings and pooled connections of the old state.
        s3fs.S3FileSystem.clear_instance_cache()

    def storage_options(
        self, endpoint_url: str | None = None, *, fail_fast: bool = False
    ) -> dict[str, Any]:
        """fsspec ``storage_options`` for ``s3://`` URLs served by this server.

        Self-contained: credentials and region are explicit, so a process with
        no ``AWS_*`` variables and no ``~/.aws`` gets the same behaviour.

        ``endpoint_url`` overrides the server's own (e.g. a :class:`FaultProxy`
        in front of it). ``fail_fast`` adds :data:`FAIL_FAST_CONFIG` (one botocore
        attempt, 1 s timeouts); s3fs's own retry loop still applies, see
        :func:`s3_filesystem`.
        """
        config: dict[str, Any] = {
            # Region goes in the botocore Config, NOT in client_kwargs: s3fs
            # turns client_kwargs["region_name"] into a LocationConstraint on
            # bucket creation, and moto (like AWS) rejects "us-east-1" there.
            "region_name": "us-east-1",
        }
        if fail_fast:
            config.update(copy.deepcopy(FAIL_FAST_CONFIG))
        return {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": endpoint_url or self.endpoint_url},
            "config_kwargs": config,
            # Other processes write to the same buckets; a per-process listings
            # cache would show them stale directory listings.
            "use_listings_cache": False,
        }

    def make_bucket(self, name: str) -> str:
        """Create bucket ``name`` (3+ characters) and return ``"s3://<name>"``."""
        fs = s3_filesystem(self.storage_options())
        fs.mkdir(name)
        return f"s3://{name}"

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s); idempotent.

        A log file this object created itself is deleted on a clean stop.
        """
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._cleanup()
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def _cleanup(self) -> None:
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
