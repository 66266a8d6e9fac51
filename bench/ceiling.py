"""Raw Dask actor ceiling: the most no-op calls/s this cluster shape allows, no dasktune.

One ``Client(address, direct_to_workers=True)`` (asynchronous; an actor handle binds to
the newest Client in the process, so there is only one), ``actors`` actors created with
``client.submit(Cls, actor=True, workers=[addr])`` round-robin over the workers, and an
asyncio loop that keeps exactly one no-op call in flight per actor, refilled with
``asyncio.wait(..., return_when=FIRST_COMPLETED)`` (``distributed.as_completed`` does not
accept actor futures). The figure is calls/s over ``seconds`` after a short warm-up.

With ``--step-s`` each call sleeps that long in a thread the actor owns (as a trial's step
does in dasktune's host), which gives the raw-Dask floor for a sleep-based shape such as Ray's
release throughput test: ``over_minimum`` is the wall time per call over the sleep alone.

``python -m bench.ceiling --seconds 5`` starts the cluster itself (see
:mod:`bench.cluster`) and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.cluster import dask_cluster
from bench.common import RECORD_KEY, cpu_s, maxrss_mb


class NoopActor:
    """The actor: one synchronous no-op method, like a Trainable's ``train`` call."""

    def __init__(self) -> None:
        self.n = 0

    def step(self) -> int:
        """Count the call and return the count."""
        self.n += 1
        return self.n


class SleepingActor:
    """An actor whose call sleeps ``step_s`` in a thread of its own, like a trial's step."""

    def __init__(self, step_s: float) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.step_s = step_s
        self.n = 0
        self._thread = ThreadPoolExecutor(1)

    async def step(self) -> int:
        """Sleep one step in the actor's thread; return the count."""
        await asyncio.get_running_loop().run_in_executor(self._thread, time.sleep, self.step_s)
        self.n += 1
        return self.n


async def _measure(
    address: str, actors: int, seconds: float, warmup_s: float, step_s: float = 0.0
) -> dict[str, Any]:
    from distributed import Client

    async with Client(address, asynchronous=True, direct_to_workers=True) as client:
        workers = sorted(await client.run(os.getpid))  # {worker address: pid}
        make = (lambda: SleepingActor(step_s)) if step_s else NoopActor
        futures = [
            client.submit(make, actor=True, workers=[workers[i % len(workers)]], pure=False)
            for i in range(actors)
        ]
        handles = [await f for f in futures]

        async def call(actor: Any) -> Any:
            return await actor.step()

        pending: dict[asyncio.Task[Any], Any] = {asyncio.ensure_future(call(a)): a for a in handles}
        calls = 0
        t_start = time.perf_counter()
        counting_from: float | None = None
        c0 = 0.0
        while True:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            now = time.perf_counter()
            if counting_from is None and now - t_start >= warmup_s:
                counting_from, calls, c0 = now, 0, cpu_s()
            for task in done:
                actor = pending.pop(task)
                task.result()
                calls += 1
                pending[asyncio.ensure_future(call(actor))] = actor
            if counting_from is not None and now - counting_from >= seconds:
                break
        elapsed = time.perf_counter() - counting_from
        driver_cpu = cpu_s() - c0
        await asyncio.wait(pending)
        return {
            "calls": calls,
            "wall_s": round(elapsed, 4),
            "calls_per_s": round(calls / elapsed, 1),
            "step_s": step_s,
            "over_minimum": round(actors * elapsed / (calls * step_s), 4) if step_s else None,
            "cpu_s": round(driver_cpu, 4),
            "workers": len(workers),
            "actors": actors,
        }


def measure_ceiling(
    address: str, actors: int = 8, seconds: float = 5.0, warmup_s: float = 1.0, step_s: float = 0.0
) -> dict[str, Any]:
    """Measure actor calls/s (no-op, or sleeping ``step_s``) against the cluster at ``address``."""
    return asyncio.run(_measure(address, actors, seconds, warmup_s, step_s))


def main(argv: list[str] | None = None) -> int:
    """CLI: start the benchmark cluster, measure, print one JSON line."""
    import argparse
    import json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--actors", type=int, default=8)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--warmup-s", type=float, default=1.0)
    p.add_argument("--step-s", type=float, default=0.0, help="sleep per call (0: no-op)")
    p.add_argument("--slots", type=int, default=16)
    p.add_argument("--dask-workers", type=int, default=2)
    a = p.parse_args(argv)
    with dask_cluster(slots=a.slots, n_workers=a.dask_workers) as address:
        record = measure_ceiling(address, a.actors, a.seconds, a.warmup_s, a.step_s)
    record.update(
        {
            RECORD_KEY: 1,
            "framework": "ceiling",
            "kind": "ceiling",
            "maxrss_mb": round(maxrss_mb(), 1),
            "slots": a.slots,
            "dask_workers": a.dask_workers,
        }
    )
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
