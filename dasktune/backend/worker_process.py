"""Entry point of an embedded cluster's worker process: ``python -m
dasktune.backend.worker_process SCHEDULER OPTIONS_JSON READY_FD PARENT_PID``.

Started by :mod:`dasktune.backend.embedded` as a plain subprocess, never through
``multiprocessing``, so the user's ``__main__`` script is never imported again here. It runs
one ``distributed.Worker``, writes the worker's address to ``READY_FD`` once the worker is
registered with the scheduler, and exits when the worker closes or the driver process is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys

# How often the worker checks that the process that started it is still alive.
PARENT_CHECK_INTERVAL_S = 1.0


async def serve(scheduler: str, options: dict, ready_fd: int, parent_pid: int) -> None:
    """Run a worker until it closes, the driver dies, or SIGTERM arrives."""
    from distributed import Worker

    # Dask logs at INFO by default; an embedded cluster is as quiet as LocalCluster's workers.
    for handler in logging.getLogger("distributed").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setLevel(logging.WARNING)
    worker = await Worker(scheduler, **options)
    with os.fdopen(ready_fd, "w") as ready:
        ready.write(f"{worker.address}\n")
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(worker.close()))
    finished = asyncio.ensure_future(worker.finished())
    # A driver that was SIGKILLed cannot close its embedded cluster: notice it and leave.
    while not finished.done():
        if os.getppid() != parent_pid:
            await worker.close(reason="the dasktune driver process is gone")
            break
        await asyncio.wait({finished}, timeout=PARENT_CHECK_INTERVAL_S)
    await finished


def main(argv: list[str]) -> None:
    """Parse the command line the embedded cluster gives and serve."""
    scheduler, options_json, ready_fd, parent_pid = argv
    # Ctrl-C in a terminal reaches the whole process group: the driver handles it (it stops
    # the trials, then closes this worker); a worker that died of it first would lose them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(serve(scheduler, json.loads(options_json), int(ready_fd), int(parent_pid)))


if __name__ == "__main__":
    main(sys.argv[1:])
