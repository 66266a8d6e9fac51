"""The Dask cluster the dasktune workloads and the ceiling run on, in its own process.

The scheduler and the workers run outside the measured driver process, as Ray's GCS
and raylet do for ``ray.init``: the driver's ``getrusage(RUSAGE_SELF)`` CPU time and
peak RSS then count the tuning driver and its ``Client`` only, for both frameworks.

Shape: ``LocalCluster(n_workers=W, threads_per_worker=slots // W)`` with worker
resources ``{"CPU": slots // W}`` (the Dask resource dasktune counts ``cpu`` against), so
``resources_per_trial={"cpu": 1}`` admits ``slots`` trials at once.

``python -m bench.cluster --workers 2 --slots 16`` prints ``{"address": ...}`` and keeps
the cluster up until its stdin is closed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator


def cluster_shape(slots: int, n_workers: int) -> tuple[int, int]:
    """Return (n_workers, threads_per_worker) giving ``slots`` slots in all."""
    n_workers = max(1, min(n_workers, slots))
    return n_workers, max(1, slots // n_workers)


@contextlib.contextmanager
def dask_cluster(
    slots: int = 16, n_workers: int = 2, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start the benchmark cluster in a child process and yield its scheduler address."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, child_env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.cluster", f"--workers={n_workers}", f"--slots={slots}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark cluster failed to start (exit {proc.wait()})")
        yield json.loads(line)["address"]
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """CLI: run the cluster until stdin closes."""
    import argparse

    from distributed import LocalCluster

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--slots", type=int, default=16)
    a = p.parse_args(argv)
    n_workers, threads = cluster_shape(a.slots, a.workers)
    with LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads,
        resources={"CPU": threads},
        processes=True,
        dashboard_address=":0",
    ) as cluster:
        print(json.dumps({"address": cluster.scheduler_address}), flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
