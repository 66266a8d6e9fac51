"""The cluster ``tune.run`` starts when it is given none: a scheduler in this process and one
worker subprocess per :class:`~dasktune.backend.embedded_shape.WorkerShape`.

``LocalCluster`` starts its worker processes with ``multiprocessing``'s spawn, which imports the
user's ``__main__`` again in every worker: a script that calls ``tune.run`` at module level (as
every Ray Tune script does, Ray never needed a main guard) then runs once more inside each
worker and the cluster dies. A script read from standard input (``python - < script.py``) cannot
even be imported. These workers are plain subprocesses running
:mod:`dasktune.backend.worker_process`, which never loads ``__main__``; the user's classes and
functions reach them by value, as they reach any worker. Like a nanny, the cluster starts a
worker process again when it dies while the cluster is open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import warnings
from typing import Any

from distributed import Scheduler, SpecCluster
from distributed.deploy.spec import ProcessInterface
from distributed.system import MEMORY_LIMIT

from .embedded_shape import WorkerShape

# How long a worker process may take to import Dask and register with the scheduler.
WORKER_START_TIMEOUT_S = 60.0
# How long a closing worker process gets to exit after SIGTERM before it is killed (a thread
# stuck in a trial's step would hold it forever).
WORKER_STOP_TIMEOUT_S = 2.0
# Pause before starting a worker again after its process died, growing while it keeps dying.
RESTART_DELAYS_S = (0.5, 2.0, 5.0, 10.0)


def _worker_environment(devices: tuple[str, ...] | None) -> dict[str, str]:
    """The driver's environment, with its ``sys.path`` (so workers import what the driver
    imports, dasktune included, even when it is not installed) and the worker's GPU devices."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    return env


def _read_ready_line(fd: int) -> str:
    with os.fdopen(fd, "r") as ready:
        return ready.readline().strip()


class EmbeddedWorker(ProcessInterface):
    """One worker subprocess of the embedded cluster, started again if it dies."""

    def __init__(
        self,
        scheduler: str,
        name: str,
        shape: WorkerShape,
        memory_limit: int,
        machine_has_gpus: bool,
    ) -> None:
        super().__init__()
        self.scheduler = scheduler
        self.name = name
        self.shape = shape
        self._options = {
            "name": name,
            "nthreads": shape.nthreads,
            "resources": shape.resources(),
            "memory_limit": memory_limit,
            "host": "127.0.0.1",
            "dashboard": False,
        }
        # Workers without GPU slots see no GPU, as Ray hides GPUs from actors that ask none.
        self._env = _worker_environment(shape.gpu_devices if machine_has_gpus else None)
        self.process: asyncio.subprocess.Process | None = None
        self._closing = False
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the process and wait until its worker is registered with the scheduler."""
        await self._launch()
        self._watcher = asyncio.ensure_future(self._restart_when_dead())
        await super().start()

    async def _launch(self) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "dasktune.backend.worker_process",
                self.scheduler,
                json.dumps(self._options),
                str(write_fd),
                str(os.getpid()),
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                env=self._env,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        try:
            address = await asyncio.wait_for(
                asyncio.to_thread(_read_ready_line, read_fd), WORKER_START_TIMEOUT_S
            )
        except asyncio.TimeoutError:
            address = ""
        if not address:
            await self._kill()
            raise RuntimeError(
                f"dasktune's embedded worker {self.name} did not start within "
                f"{WORKER_START_TIMEOUT_S:g} s (its error output is above); check that "
                f"{sys.executable} can import distributed and dasktune, or pass client= "
                "with a cluster of your own."
            )
        self.address = address

    async def _restart_when_dead(self) -> None:
        failures = 0
        while not self._closing:
            assert self.process is not None
            code = await self.process.wait()
            if self._closing:
                return
            delay = RESTART_DELAYS_S[min(failures, len(RESTART_DELAYS_S) - 1)]
            warnings.warn(
                f"dasktune's embedded worker {self.name} exited (code {code}); starting it "
                f"again in {delay:g} s. Trials it hosted restart per max_failures.",
                stacklevel=1,
            )
            failures += 1
            await asyncio.sleep(delay)
            if self._closing:
                return
            try:
                await self._launch()
            except RuntimeError as exc:
                warnings.warn(str(exc), stacklevel=1)

    async def _kill(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), WORKER_STOP_TIMEOUT_S)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()

    async def close(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and do not start it again."""
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
        await self._kill()
        await super().close()


class EmbeddedCluster(SpecCluster):
    """A scheduler in this process and a worker subprocess per shape, on loopback only."""

    def __init__(self, shapes: list[WorkerShape], **kwargs: Any) -> None:
        machine_has_gpus = any(shape.gpu_devices for shape in shapes)
        memory_limit = int(MEMORY_LIMIT // max(1, len(shapes)))
        workers = {
            f"dasktune-{i}": {
                "cls": EmbeddedWorker,
                "options": {
                    "shape": shape,
                    "memory_limit": memory_limit,
                    "machine_has_gpus": machine_has_gpus,
                },
            }
            for i, shape in enumerate(shapes)
        }
        scheduler = {
            "cls": Scheduler,
            "options": {"host": "127.0.0.1", "port": 0, "dashboard_address": "127.0.0.1:0"},
        }
        super().__init__(
            scheduler=scheduler,
            workers=workers,
            silence_logs=logging.WARN,
            name="dasktune-embedded",
            **kwargs,
        )
