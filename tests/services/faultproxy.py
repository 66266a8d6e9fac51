"""A small fault-injecting TCP proxy for loopback tests.

``FaultProxy`` listens on a loopback port and forwards to a target (e.g. the
moto S3 server). Point a client's endpoint at :attr:`FaultProxy.url` and switch
failure modes while the test runs::

    with FaultProxy("127.0.0.1", moto.port) as proxy:
        opts = moto.storage_options(proxy.url, fail_fast=True)
        proxy.set_mode("blackhole")          # requests now time out
        proxy.set_mode("reset_after", n_bytes=64 * 1024)  # uploads get RST
        proxy.set_mode("pass", latency=0.05)  # works again, 50 ms each way

Modes (applied to connections accepted after the switch; by default the switch
also resets every open connection, so pooled keep-alive connections cannot
bypass the new mode):

* ``pass``: forward both ways.
* ``refuse``: reset each new connection as soon as it is accepted.
* ``reset_after``: forward, but reset the connection (TCP RST, both sides) once
  ``n_bytes`` have gone client -> server on it.
* ``blackhole``: accept, read and discard, never connect upstream nor answer.

``latency`` (seconds) delays every chunk, in each direction, without limiting
throughput. The proxy runs its own asyncio loop in a daemon thread; it needs no
root and touches nothing outside its own sockets (unlike nftables or ``tc``).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["MODES", "FaultProxy"]

MODES = ("pass", "refuse", "reset_after", "blackhole")
_CHUNK = 64 * 1024


def _abort(writer: asyncio.StreamWriter | None) -> None:
    """Close with a TCP RST (SO_LINGER 0) so the peer sees a reset, not a clean EOF."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


@dataclass(eq=False)
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    handler: asyncio.Task[None] | None = None
    # Pump and sender tasks, cancelled on shutdown.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def abort(self) -> None:
        _abort(self.client)
        _abort(self.upstream)


class FaultProxy:
    """TCP proxy from ``listen_host:listen_port`` to ``target_host:target_port``."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self._listen_port = listen_port
        self._mode = "pass"
        self._n_bytes = 0
        self._latency = 0.0
        self._conns: set[_Conn] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        #: Connections accepted so far (any mode); lets tests prove traffic went through.
        self.connections = 0
        #: Bytes forwarded client -> server and server -> client.
        self.bytes_up = 0
        self.bytes_down = 0

    # -- public API ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the proxy listens on (known after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("FaultProxy is not started")
        return self._listen_port

    @property
    def url(self) -> str:
        """``http://host:port`` of the proxy, for use as an endpoint URL."""
        return f"http://{self.listen_host}:{self.port}"

    @property
    def mode(self) -> str:
        """The current mode name."""
        return self._mode

    def start(self) -> FaultProxy:
        """Start listening; returns self. Raises if the port cannot be bound."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        error: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._server = self._loop.run_until_complete(
                    asyncio.start_server(self._handle, self.listen_host, self._listen_port)
                )
                self._listen_port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # reported to the starting thread
                error.append(exc)
                ready.set()
                self._loop.close()
                return
            ready.set()
            try:
                self._loop.run_forever()
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="FaultProxy", daemon=True)
        self._thread.start()
        ready.wait()
        if error:
            self._thread.join()
            self._thread = None
            raise error[0]
        return self

    def set_mode(
        self,
        mode: str,
        *,
        n_bytes: int = 0,
        latency: float | None = None,
        drop_existing: bool = True,
    ) -> None:
        """Switch to ``mode`` (one of :data:`MODES`).

        ``n_bytes`` is the client -> server budget for ``reset_after``.
        ``latency`` (seconds, each direction) is kept as is when None.
        ``drop_existing`` resets open connections so that clients which pool
        connections reconnect and meet the new mode.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        if mode == "reset_after" and n_bytes < 0:
            raise ValueError("n_bytes must be >= 0")
        if latency is not None and latency < 0:
            raise ValueError("latency must be >= 0")

        def apply() -> None:
            self._mode = mode
            self._n_bytes = n_bytes
            if latency is not None:
                self._latency = latency
            if drop_existing:
                for conn in list(self._conns):
                    conn.abort()

        self._call_in_loop(apply)

    def set_latency(self, seconds: float) -> None:
        """Delay each forwarded chunk by ``seconds`` in each direction."""
        self.set_mode(self._mode, n_bytes=self._n_bytes, latency=seconds, drop_existing=False)

    def stop(self) -> None:
        """Close the listener, reset open connections, stop the thread; idempotent."""
        if self._thread is None or self._loop is None:
            return
        loop = self._loop
        if not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=5)
        self._thread = None
        self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------

    def _call_in_loop(self, func: Callable[[], None]) -> None:
        if self._loop is None or self._thread is None:
            raise RuntimeError("FaultProxy is not started")

        async def call() -> None:
            func()

        # Wait for it so that the mode is in force when set_mode() returns.
        asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=5)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        conns = list(self._conns)
        for conn in conns:
            conn.abort()
            for task in conn.tasks:
                task.cancel()
        # Handlers are not cancelled themselves: on 3.11 asyncio's stream
        # callback logs a spurious error for a cancelled client_connected_cb.
        handlers = [c.handler for c in conns if c.handler is not None]
        if handlers:
            await asyncio.wait(handlers, timeout=5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        # The mode is fixed per connection at accept time.
        mode, budget = self._mode, self._n_bytes
        conn = _Conn(client=writer, handler=asyncio.current_task())
        self._conns.add(conn)
        try:
            if mode == "refuse":
                _abort(writer)
                return
            if mode == "blackhole":
                # Swallow whatever arrives so the client's sends never block; a
                # client only learns about the fault from its own timeout.
                while await reader.read(_CHUNK):
                    pass
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                _abort(writer)
                return
            conn.upstream = up_writer
            limit = budget if mode == "reset_after" else None
            up = asyncio.ensure_future(self._pump(reader, up_writer, conn, limit, upstream=True))
            down = asyncio.ensure_future(self._pump(up_reader, writer, conn, None, upstream=False))
            conn.tasks |= {up, down}
            await asyncio.gather(up, down, return_exceptions=True)
        except (ConnectionError, OSError):
            conn.abort()
        finally:
            self._conns.discard(conn)
            for w in (conn.client, conn.upstream):
                if w is not None and not w.transport.is_closing():
                    w.close()

    async def _pump(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        conn: _Conn,
        limit: int | None,
        *,
        upstream: bool,
    ) -> None:
        """Copy src to dst; on error, or once more than ``limit`` bytes arrive, reset both."""
        loop = asyncio.get_running_loop()
        received = 0
        # Latency via a queue of (due time, chunk): each chunk is delayed, but
        # reading goes on meanwhile, so throughput is not capped by the delay.
        queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()

        async def sender() -> None:
            while True:
                due, data = await queue.get()
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if data is None:
                    if dst.can_write_eof() and not dst.transport.is_closing():
                        dst.write_eof()
                    queue.task_done()
                    return
                dst.write(data)
                await dst.drain()
                if upstream:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
                queue.task_done()

        send_task = asyncio.ensure_future(sender())
        conn.tasks.add(send_task)
        try:
            while True:
                data = await src.read(_CHUNK)
                due = loop.time() + self._latency
                if not data:
                    queue.put_nowait((due, None))
                    await send_task
                    return
                if limit is not None and received + len(data) > limit:
                    # Deliver exactly `limit` bytes, then reset both sides.
                    head = data[: limit - received]
                    if head:
                        queue.put_nowait((due, head))
                    try:
                        await asyncio.wait_for(queue.join(), timeout=5 + self._latency)
                    finally:
                        conn.abort()
                    return
                received += len(data)
                queue.put_nowait((due, data))
        except (ConnectionError, OSError, asyncio.TimeoutError):
            conn.abort()
        finally:
            if not send_task.done():
                send_task.cancel()
            try:
                await send_task
            except (asyncio.CancelledError, ConnectionError, OSError):
                conn.abort()
            conn.tasks.discard(send_task)
