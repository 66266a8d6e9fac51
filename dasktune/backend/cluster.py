"""Which Dask cluster a run uses, and closing what dasktune started itself."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import dask
from distributed import Client, SpecCluster

from ..resources import Resources

T = TypeVar("T")

# How long a cancelled run may take to stop its trainables after Ctrl-C (the driver's own
# shutdown is bounded well below this: see driver.INTERRUPT_STOP_S).
SHUTDOWN_WAIT_S = 30.0


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
) -> ClusterConnection:
    """Pick the cluster, in order: ``client``, ``address``, the current default Client, dask
    config ``scheduler-address``, else a new embedded cluster owned by the run, shaped so that
    every one of ``trial_requests`` fits (see :func:`start_embedded`)."""
    if client is not None and address is not None:
        raise ValueError("pass either client= or address=, not both")
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
        return ClusterConnection(_client_for(address), owns_client=True)
    try:
        current = Client.current(allow_global=True)
    except ValueError:
        current = None
    if current is not None and not current.asynchronous and current.status == "running":
        return ClusterConnection(current, owns_client=False)
    configured = dask.config.get("scheduler-address", None) or dask.config.get(
        "scheduler_address", None
    )
    if configured:
        return ClusterConnection(_client_for(configured), owns_client=True)
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


def _client_for(address: str) -> Client:
    if not isinstance(address, str) or not address:
        raise TypeError(
            f"address= must be a scheduler address like 'tcp://host:8786', got {address!r}"
        )
    return Client(address, direct_to_workers=True, set_as_default=False, timeout="30s")


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
