"""The driver's calls to storage: each has a deadline, none can hang the run.

fsspec filesystems offer no per-call timeout: s3fs retries a failed request 5 times on its own
and botocore's connect/read timeouts (60 s each by default) apply per attempt, so one call to an
endpoint that accepts connections and never answers takes many minutes. Each call therefore
runs in a daemon thread of its own and the driver waits for it at most dask config
``dasktune.storage-timeout``; a call given up on is abandoned, and finishes or fails on its
own. Daemon threads, not a ``ThreadPoolExecutor``: an executor's threads are joined when the
interpreter exits (a call stuck on a dead endpoint would keep the process alive), and a few
stuck calls would take all of its threads from the calls behind them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import dask
from dask.utils import parse_timedelta

from .error import StorageTimeoutError

T = TypeVar("T")

SETTING = "dasktune.storage-timeout"
DEFAULT_STORAGE_TIMEOUT = "30s"


def storage_timeout() -> float:
    """Seconds one storage call by the driver may take: dask config
    ``dasktune.storage-timeout``."""
    value = dask.config.get(SETTING, DEFAULT_STORAGE_TIMEOUT)
    seconds = parse_timedelta(value)
    if seconds is None or seconds <= 0:
        raise ValueError(
            f"dask config '{SETTING}' must be a positive duration such as '30s', got {value!r}"
        )
    return float(seconds)


def in_thread(fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
    """Start ``fn(*args)`` in a daemon thread of its own; its outcome lands in the future."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=work, name="dasktune-storage", daemon=True).start()
    return future


def bounded(
    url: str, what: str, fn: Callable[..., T], *args: Any, timeout: float | None = None
) -> T:
    """``fn(*args)``, or :class:`StorageTimeoutError` naming ``url`` and ``what`` once
    ``timeout`` (default: the storage timeout) has passed without an answer."""
    timeout = storage_timeout() if timeout is None else timeout
    try:
        return in_thread(fn, *args).result(timeout)
    except concurrent.futures.TimeoutError:
        raise StorageTimeoutError(url, what, timeout) from None


class StorageCalls:
    """The run's calls to one storage location from the driver's event loop.

    :meth:`call` awaits a call under the deadline; :meth:`start` hands back a call that runs in
    the background, which the driver checks on each housekeeping turn (:meth:`check`): when one
    has been running longer than the deadline, a warning says once that storage is unreachable
    and trials go on, and another says when it answers again.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.timeout = storage_timeout()
        # Each call in flight: what it does, when it started, whether it surely reaches storage.
        self._running: dict[asyncio.Future[Any], tuple[str, float, bool]] = {}
        self._unreachable_since: float | None = None

    async def call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` off the loop and wait at most the deadline for it."""
        future = self.start(what, fn, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except asyncio.TimeoutError:
            raise StorageTimeoutError(self.url, what, self.timeout) from None

    def start(
        self, what: str, fn: Callable[..., T], *args: Any, reaches_storage: bool = True
    ) -> asyncio.Future[T]:
        """Run ``fn(*args)`` in the background; the future is the loop's view of it.

        ``reaches_storage=False`` for a call that may have nothing to send (a flush with no new
        rows): its quick success says nothing about storage, so only a success after it ran
        past the deadline counts as storage answering again.
        """
        future = asyncio.wrap_future(in_thread(fn, *args))
        self._running[future] = (what, time.monotonic(), reaches_storage)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: asyncio.Future[Any]) -> None:
        _, since, reaches_storage = self._running.pop(future, ("", 0.0, False))
        failed = future.cancelled() or future.exception() is not None
        overdue = time.monotonic() - since >= self.timeout
        if self._unreachable_since is not None and not failed and (reaches_storage or overdue):
            down = time.monotonic() - self._unreachable_since
            self._unreachable_since = None
            warnings.warn(
                f"dasktune: storage at {self.url} answers again (after about {down:.0f} s); "
                "spooled results are uploaded at the next flush.",
                stacklevel=1,
            )

    def check(self) -> None:
        """Warn once when a call has been running longer than the deadline."""
        if self._unreachable_since is not None or not self._running:
            return
        now = time.monotonic()
        what, since, _ = min(self._running.values(), key=lambda item: item[1])
        if now - since < self.timeout:
            return
        self._unreachable_since = since
        warnings.warn(
            f"dasktune: storage at {self.url} has not answered for {now - since:.0f} s "
            f"({what}); trials go on, their results are kept in local spool files and "
            "uploaded when it answers again. Check the storage; dask config "
            f"'{SETTING}' ({self.timeout:g} s) sets how long a call may take.",
            stacklevel=1,
        )

    def unfinished(self) -> list[str]:
        """What the calls still running are doing."""
        return [what for what, _, _ in self._running.values()]
