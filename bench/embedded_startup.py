"""Start-up time of dasktune's embedded cluster against the LocalCluster it replaced.

    python -m bench.embedded_startup [--reps 5]

Both are timed from the call to a client whose every worker is registered, then closed; the
figures are the median over ``--reps`` starts, in one process, alternating the two. The
LocalCluster is shaped as the old embedded cluster was (one 1-thread worker process per CPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from distributed import Client, LocalCluster

from dasktune.backend.cluster import start_embedded
from dasktune.backend.embedded_shape import machine_cpus


def time_embedded() -> tuple[float, float]:
    """Seconds to start dasktune's embedded cluster, and to close it."""
    started = time.perf_counter()
    connection = start_embedded()
    ready = time.perf_counter()
    assert len(connection.client.scheduler_info()["workers"]) == len(connection.cluster.workers)
    connection.close()
    return ready - started, time.perf_counter() - ready


def time_local_cluster() -> tuple[float, float]:
    """Seconds to start the LocalCluster of earlier versions (and a client), and to close it."""
    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster, direct_to_workers=True, set_as_default=False)
    client.wait_for_workers(len(cluster.workers))
    ready = time.perf_counter()
    client.close()
    cluster.close()
    return ready - started, time.perf_counter() - ready


def main() -> None:
    """Print the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    embedded, local = [], []
    for _ in range(args.reps):
        embedded.append(time_embedded())
        local.append(time_local_cluster())
    e_start = statistics.median(s for s, _ in embedded)
    l_start = statistics.median(s for s, _ in local)
    print(f"machine: {machine_cpus()} CPUs; {args.reps} starts each (median)")
    print(
        f"embedded cluster: start {e_start:.3f} s (min {min(s for s, _ in embedded):.3f}, "
        f"max {max(s for s, _ in embedded):.3f}), close "
        f"{statistics.median(c for _, c in embedded):.3f} s"
    )
    print(
        f"LocalCluster:     start {l_start:.3f} s (min {min(s for s, _ in local):.3f}, "
        f"max {max(s for s, _ in local):.3f}), close {statistics.median(c for _, c in local):.3f} s"
    )
    print(f"embedded / LocalCluster start time: {e_start / l_start:.2f}")


if __name__ == "__main__":
    main()
