"""The only code that talks to Dask: actor hosts on workers, calls to them, worker discovery.

Calls go straight to the worker's ``actor_execute`` handler over the client's connection pool
(what an ``Actor`` proxy does inside), awaited on the client's event loop. This skips the proxy's
binding to "the newest Client in the process" and its extra future, and it lets a broken
connection surface as :class:`WorkerLost` at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from distributed import Client, Future
from distributed.actor import ProxyRPC
from distributed.protocol import to_serialize

from ..ledger import capacity_from_worker_info
from .host import TrialHost
from .protection import HANDLER, PAGE_HANDLER, BusyWorkerProtection
from .protocol import TrialCodeError, WorkerLost

__all__ = ["DaskBackend", "HostHandle", "TrialCodeError", "WorkerLost"]

# A host actor that takes longer than this to come up is treated as a lost worker.
HOST_START_TIMEOUT_S = 120.0


@dataclass(eq=False)
class HostHandle:
    """A :class:`TrialHost` actor on one worker, and what the driver knows of it."""

    key: str
    worker: str
    future: Future  # holding it keeps the actor alive
    classes: set[str] = field(default_factory=set)
    # The trainable class still loaded in the host (kept for reuse_actors), if any.
    loaded_class: str | None = None


class DaskBackend:
    """Creates hosts, calls them, and tracks the cluster's workers."""

    def __init__(self, client: Client) -> None:
        self.client = client
        # Direct worker connections are the fast path (~0.8 ms per call here against ~1.2 ms
        # through the scheduler); a client made with direct_to_workers=False opts out.
        self._direct = client.direct_to_workers is not False
        self._idle: defaultdict[str, list[HostHandle]] = defaultdict(list)
        self._all: dict[str, HostHandle] = {}
        self._protected = False
        # Whether the plugin's registration has ended (either way), and the page refused.
        self._installed = False
        self._page_refused = False
        # Called with what a trial printed, when a host's reply brings some (trial_output.py).
        self.on_output: Callable[[dict[str, Any]], None] | None = None

    async def install_protection(self) -> str | None:
        """Register the scheduler plugin that steers adaptive scaling by trials; return why
        not, if it fails (e.g. dasktune is not installed where the scheduler runs)."""
        try:
            await self.client.register_plugin(BusyWorkerProtection())
        except Exception as exc:  # noqa: BLE001 - protection is best effort, the run goes on
            self._protected = False
            return f"{type(exc).__name__}: {exc}"
        finally:
            self._installed = True
        self._protected = True
        return None

    async def report_usage(self, run_id: str, workers: frozenset[str], demand: int) -> str | None:
        """Tell the scheduler plugin which workers this run keeps busy and how many more its
        pending trials need; return why not, if the scheduler refused (the plugin is then
        treated as absent: a scheduler with another dasktune version must not end the run)."""
        if not self._protected or self.client.scheduler is None:
            return None  # no plugin, or the client is closing (Ctrl-C forced)
        try:
            await getattr(self.client.scheduler, HANDLER)(
                run_id=run_id, workers=sorted(workers), demand=demand
            )
        except (OSError, asyncio.TimeoutError):
            raise  # the scheduler is unreachable: the run cannot go on either way
        except Exception as exc:  # noqa: BLE001 - scaling hints are best effort
            self._protected = False
            return f"{type(exc).__name__}: {exc}"
        return None

    async def report_page(self, run_id: str, update: dict[str, Any]) -> bool | None:
        """Send an update of the ``/dasktune`` page to the scheduler plugin: True when it
        arrived, False when it may later (the plugin is not in yet, the scheduler did not
        answer), None when it never will (no plugin, or one that refuses: e.g. an older
        dasktune where the scheduler runs). The page is best effort and never ends the run."""
        if self._page_refused or (self._installed and not self._protected):
            return None
        if not self._protected or self.client.scheduler is None:
            return False
        try:
            await getattr(self.client.scheduler, PAGE_HANDLER)(run_id=run_id, update=update)
        except (OSError, asyncio.TimeoutError):
            return False
        except Exception:  # noqa: BLE001 - the scheduler's dasktune has no page handler
            self._page_refused = True
            return None
        return True

    async def worker_capacities(self) -> dict[str, dict[str, float]]:
        """Each running worker's slots, fresh from the scheduler."""
        info = await self.client.scheduler.identity(n_workers=-1)
        workers = info.get("workers", {})
        return {
            addr: capacity_from_worker_info(w)
            for addr, w in workers.items()
            if w.get("status", "running") in ("running", "init")
        }

    def _rpc(self, worker: str) -> Any:
        if self._direct:
            return self.client.rpc(worker)
        return ProxyRPC(self.client.scheduler, worker)

    async def get_host(self, worker: str, prefer_class: str | None = None) -> HostHandle:
        """An idle host on ``worker`` (one with ``prefer_class`` loaded first), or a new one."""
        idle = self._idle.get(worker)
        if idle:
            for i, host in enumerate(idle):
                if prefer_class is not None and host.loaded_class == prefer_class:
                    return idle.pop(i)
            return idle.pop()
        key = f"dasktune-host-{uuid.uuid4().hex}"
        future = self.client.submit(
            TrialHost, actor=True, workers=[worker], allow_other_workers=False, key=key, pure=False
        )
        host = HostHandle(key=key, worker=worker, future=future)
        self._all[key] = host
        try:
            await asyncio.wait_for(future, HOST_START_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            self.discard(host)
            raise WorkerLost(worker, f"its actor did not start: {exc!r}") from None
        except Exception as exc:
            self.discard(host)
            raise WorkerLost(worker, f"its actor did not start: {exc!r}") from None
        return host

    def give_back(self, host: HostHandle) -> None:
        """Return a healthy host to its worker's idle pool."""
        if host.key in self._all:
            self._idle[host.worker].append(host)

    def discard(self, host: HostHandle) -> None:
        """Drop a host (its worker died, or it broke); releasing the future ends the actor."""
        self._all.pop(host.key, None)
        idle = self._idle.get(host.worker)
        if idle and host in idle:
            idle.remove(host)
        host.future.release()

    def forget_worker(self, worker: str) -> None:
        """Drop every idle host on a worker that left."""
        for host in self._idle.pop(worker, []):
            self.discard(host)

    async def call(self, host: HostHandle, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a :class:`TrialHost` method; return its value.

        Raises :class:`TrialCodeError` when the user's code raised and :class:`WorkerLost` when
        the host cannot be reached or no longer exists.
        """
        try:
            reply = await self._rpc(host.worker).actor_execute(
                function=method,
                actor=host.key,
                args=[to_serialize(a) for a in args],
                kwargs={k: to_serialize(v) for k, v in kwargs.items()},
            )
        except (OSError, KeyError) as exc:
            raise WorkerLost(host.worker, repr(exc)) from None
        if not isinstance(reply, Mapping) or reply.get("status") != "OK":
            exc = reply.get("exception") if isinstance(reply, Mapping) else reply
            raise TrialCodeError(f"the trial's host actor failed in {method}(): {exc!r}")
        ok, value, *output = reply["result"]
        if output and output[0] is not None and self.on_output is not None:
            self.on_output(output[0])
        if not ok:
            raise TrialCodeError(value)
        return value

    async def close(self, stop_timeout: float = 10.0) -> None:
        """Stop trainables idle hosts still hold (kept for reuse), then release every host."""
        loaded = [h for hosts in self._idle.values() for h in hosts if h.loaded_class]
        if loaded:
            await asyncio.gather(
                *(asyncio.wait_for(self.call(h, "stop", False), stop_timeout) for h in loaded),
                return_exceptions=True,
            )
        for host in list(self._all.values()):
            self.discard(host)
        self._idle.clear()
