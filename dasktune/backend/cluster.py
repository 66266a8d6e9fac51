"""Which Dask cluster a run uses, and closing what dasktune started itself."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import dask
from dask.utils import parse_timedelta
from distributed import Client, SpecCluster
from distributed.comm.addressing import parse_address, parse_host_port
from distributed.security import Security

from ..resources import Resources

T = TypeVar("T")

# How long a cancelled run may take to stop its trainables after Ctrl-C (the driver's own
# shutdown is bounded well below this: see driver.INTERRUPT_STOP_S).
SHUTDOWN_WAIT_S = 30.0
# How long a scheduler address that refuses connections is retried (dask config
# ``dasktune.connect-refused-timeout``): long enough for a scheduler started at the same time
# to open its port, short enough that a wrong address fails at once.
REFUSED_SETTING = "dasktune.connect-refused-timeout"
DEFAULT_REFUSED_TIMEOUT = "5s"
# Once a scheduler accepts TCP connections, how long the Client may take to connect.
CONNECT_TIMEOUT = "30s"


@dataclass
class ClusterConnection:
    """A client for the run, and the cluster dasktune started (if it started one)."""

    client: Client
    owns_client: bool
    cluster: SpecCluster | None = None

    def close(self) -> None:
        """Close the client and cluster if dasktune made them; leave the user's alone."""
        if self.owns_client:
            try:
                self.client.close()
            finally:
                if self.cluster is not None:
                    self.cluster.close()


def connect(
    client: Client | None = None,
    address: str | None = None,
    trial_requests: Iterable[Resources] = (),
    max_trials_at_once: int | None = None,
    security: Security | None = None,
) -> ClusterConnection:
    """Pick the cluster, in order: ``client``, ``address``, the current default Client, dask
    config ``scheduler-address``, else a new embedded cluster owned by the run, shaped so that
    every one of ``trial_requests`` fits (see :func:`start_embedded`).

    ``security`` (TLS certificates) is for a scheduler given by ``address`` or the config;
    without it the Client takes dask config ``distributed.comm.tls.*``, as any Client does.
    """
    if client is not None and address is not None:
        raise ValueError("pass either client= or address=, not both")
    configured = dask.config.get("scheduler-address", None) or dask.config.get(
        "scheduler_address", None
    )
    _check_security(security, client, address, configured)
    if client is not None:
        if not isinstance(client, Client):
            raise TypeError(
                f"client= must be a distributed.Client, got {type(client).__name__}; or pass "
                "address='tcp://host:8786'."
            )
        if client.asynchronous:
            raise ValueError(
                "tune.run() is synchronous and needs a synchronous Client; create it without "
                "asynchronous=True, or pass address= and let dasktune connect."
            )
        if client.status not in ("running", "connecting", "newly-created"):
            raise ValueError(f"the Client passed as client= is {client.status!r}; pass an open one")
        return ClusterConnection(client, owns_client=False)
    if address is not None:
        return ClusterConnection(_client_for(address, security, "address="), owns_client=True)
    try:
        current = Client.current(allow_global=True)
    except ValueError:
        current = None
    if current is not None and not current.asynchronous and current.status == "running":
        return ClusterConnection(current, owns_client=False)
    if configured:
        source = "dask config 'scheduler-address'"
        return ClusterConnection(_client_for(configured, security, source), owns_client=True)
    return start_embedded(trial_requests, max_trials_at_once)


def start_embedded(
    trial_requests: Iterable[Resources] = (), max_trials_at_once: int | None = None
) -> ClusterConnection:
    """Start dasktune's embedded cluster on this machine (every CPU, every visible GPU) with
    worker processes that never import the user's ``__main__``, and a client for it."""
    # Imported here: only runs that start their own cluster pay for it.
    from .embedded import EmbeddedCluster
    from .embedded_shape import explain_unfit, machine_cpus, machine_gpus, plan_workers

    requests, cpus, gpus = list(trial_requests), machine_cpus(), machine_gpus()
    problem = explain_unfit(requests, cpus, gpus)
    if problem:
        raise ValueError(problem)
    shapes = plan_workers(requests, cpus, gpus, max_trials_at_once)
    cluster = EmbeddedCluster(shapes)
    try:
        own = Client(cluster, direct_to_workers=True, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    return ClusterConnection(own, owns_client=True, cluster=cluster)


def _check_security(
    security: Any, client: Client | None, address: str | None, configured: str | None
) -> None:
    if security is None:
        return
    if not isinstance(security, Security):
        raise TypeError(
            "security= must be a distributed.security.Security (e.g. Security(tls_ca_file=..., "
            "tls_client_cert=..., tls_client_key=..., require_encryption=True)), got "
            f"{type(security).__name__}"
        )
    if client is not None:
        raise ValueError(
            "security= is for address=; the Client passed as client= already has its own "
            "(Client(..., security=...)). Drop security=, or pass address= instead of client=."
        )
    if address is None and not configured:
        raise ValueError(
            "security= needs the address of a TLS scheduler: pass address='tls://host:port' "
            "(the cluster dasktune starts on its own does not use TLS)."
        )


def _client_for(address: str, security: Security | None, source: str) -> Client:
    if not isinstance(address, str) or not address:
        raise TypeError(
            f"{source} must be a scheduler address like 'tcp://host:8786', got {address!r}"
        )
    tls = None
    if address.startswith("tls://"):
        tls = (security or Security()).get_connection_args("client").get("ssl_context")
        if tls is None:
            raise ValueError(
                f"{address} ({source}) is a TLS scheduler, but no TLS certificates were given: "
                "pass security=Security(tls_ca_file=..., tls_client_cert=..., "
                "tls_client_key=..., require_encryption=True) to tune.run(), or set dask "
                "config distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and "
                "distributed.comm.tls.client.key."
            )
    _wait_until_listening(address, source, tls)
    return Client(
        address,
        security=security,
        direct_to_workers=True,
        set_as_default=False,
        timeout=CONNECT_TIMEOUT,
    )


def _wait_until_listening(address: str, source: str, tls: ssl.SSLContext | None) -> None:
    """Return once something accepts connections at a ``tcp://``/``tls://`` address.

    The Client retries a refused connection for its whole timeout (30 s), the same as a slow
    handshake; a refused one is retried here only for dask config
    ``dasktune.connect-refused-timeout``, then fails naming the address. Any other outcome (a
    connection, packets dropped, another protocol) is left to the Client. A TLS scheduler gets
    the TLS handshake (``tls``), since it logs a warning for a connection closed before one.
    """
    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location)
    except (ValueError, TypeError):
        return
    if scheme not in ("tcp", "tls"):
        return
    setting = dask.config.get(REFUSED_SETTING, DEFAULT_REFUSED_TIMEOUT)
    grace = parse_timedelta(setting)
    deadline = time.monotonic() + grace
    while True:
        try:
            with socket.create_connection((host, port), timeout=5) as sock:
                if tls is not None:
                    tls.wrap_socket(sock, server_hostname=host).close()
                return
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                raise ConnectionRefusedError(
                    f"nothing accepts connections at {address} ({source}; refused for "
                    f"{grace:g} s): no Dask scheduler listens there. Start the scheduler first, "
                    "check the host and port, or, for a scheduler that takes longer to start, "
                    f"raise dask config '{REFUSED_SETTING}'."
                ) from None
            time.sleep(0.2)
        except socket.gaierror as exc:
            raise ConnectionError(
                f"cannot resolve the host of {address} ({source}): {exc.strerror or exc}. "
                "Check the scheduler's address."
            ) from None
        except OSError:
            return


def run_on_client_loop(
    client: Client,
    coroutine: Coroutine[Any, Any, T],
    on_interrupt: Callable[[], str] | None = None,
) -> T:
    """Run a coroutine on the client's event loop (where its comms live) and wait for it.

    On Ctrl-C the coroutine is cancelled and given up to ``SHUTDOWN_WAIT_S`` to clean up (the
    driver stops the running trainables, flushes logs and writes the experiment state) before
    the interrupt propagates; ``on_interrupt()`` says what is being stopped. A second Ctrl-C
    stops waiting at once.
    """
    finished = threading.Event()

    async def tracked() -> T:
        try:
            return await coroutine
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(tracked(), client.loop.asyncio_loop)
    try:
        return future.result()
    except KeyboardInterrupt:
        doing = on_interrupt() if on_interrupt is not None else "stopping the run"
        _say(f"Ctrl-C: {doing}; press Ctrl-C again to force")
        future.cancel()
        try:
            if not finished.wait(SHUTDOWN_WAIT_S):
                _say(f"the run did not stop within {SHUTDOWN_WAIT_S:g} s; leaving it")
        except KeyboardInterrupt:
            _say("forced: not waiting for the trials to stop")
        raise


def _say(text: str) -> None:
    print(f"== dasktune: {text}", file=sys.stderr, flush=True)
