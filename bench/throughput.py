"""Result throughput of dasktune against the raw Dask actor ceiling, in one process and run.

Workloads on ``LocalCluster(n_workers=2, threads_per_worker=1)``:
- 8 trials x 200 no-op results (class API), all 8 running at once (``cpu: 0.25`` each), the
  same shape as the ceiling's 8 actors;
- 100 trials x 1 result (trial start/stop cost).
The ceiling is a minimal asyncio loop keeping one no-op actor call in flight per actor
(``bench.ceiling``). Figures are whole ``tune.run`` wall times (setup, logging and analysis
included); medians of ``--reps`` repetitions, min-max shown.

    python bench/throughput.py [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from distributed import Client, LocalCluster

from bench.ceiling import measure_ceiling
from bench.user_wall import time_tune_run


def _timed_run(client: Client, local_dir: str, trials: int, results: int) -> float:
    return time_tune_run(client, local_dir, trials, results)["wall"]


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} (min {min(values):,.0f}, max {max(values):,.0f})"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster, direct_to_workers=True, set_as_default=False)
    try:
        with tempfile.TemporaryDirectory() as local_dir:
            _timed_run(client, local_dir, 2, 5)  # warm-up: worker imports
            throughput = [8 * 200 / _timed_run(client, local_dir, 8, 200) for _ in range(args.reps)]
            bookkeeping = [_timed_run(client, local_dir, 100, 1) for _ in range(args.reps)]
        ceiling = [
            measure_ceiling(cluster.scheduler_address, actors=8, seconds=3.0)["calls_per_s"]
            for _ in range(args.reps)
        ]
    finally:
        client.close()
        cluster.close()
    ratio = statistics.median(throughput) / statistics.median(ceiling)
    print(f"dasktune 8x200 results/s: {_summary(throughput)}")
    print(f"raw actor ceiling calls/s: {_summary(ceiling)}")
    print(f"dasktune / ceiling: {ratio:.2f} (target >= 0.70)")
    print(
        f"dasktune 100x1 wall s: {statistics.median(bookkeeping):.2f} "
        f"(min {min(bookkeeping):.2f}, max {max(bookkeeping):.2f}); "
        f"{100 / statistics.median(bookkeeping):,.0f} trials/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
