"""Shared, standard-library-only helpers for the workload processes.

This module is imported both by the system interpreter (dasktune workloads, ceiling,
runner) and by the Ray venv's interpreter (:mod:`bench.workloads_ray`), so it must not
import anything outside the standard library.

Every workload process takes the same command line (see :func:`build_parser`) and prints
ONE JSON line (see :func:`emit`) as the last line of its stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

KINDS: tuple[str, ...] = (
    "throughput",
    "bookkeeping",
    "release_bookkeeping",
    "release_throughput",
    "release_durable",
    "driver",
)
"""Workload kinds understood by both workload modules."""

RECORD_KEY = "bench_record"
"""Key present in every JSON line a workload prints; the runner looks for it."""


@dataclass
class Params:
    """Size and shape of one workload run (the same for dasktune and Ray).

    ``interval_s`` is how long each result sleeps (0 for no-op results); ``slots`` is how
    many 1-CPU trials may run at once (Ray ``num_cpus``; dasktune worker resources).
    """

    kind: str
    trials: int = 8
    results: int = 1
    api: str = "class"
    reuse_actors: bool = False
    interval_s: float = 0.0
    checkpoint_mb: float = 0.0
    keep: int = 2
    slots: int = 16
    loggers: bool = True
    s3_endpoint: str | None = None
    bucket: str | None = None
    dask_workers: int = 2

    def minimum_s(self) -> float | None:
        """Theoretical minimum wall time for the sleep-based (release) shapes, else None."""
        if not self.interval_s:
            return None
        waves = self.trials / max(1, min(self.slots, self.trials))
        return waves * self.results * self.interval_s


def build_parser(description: str) -> argparse.ArgumentParser:
    """Return the command-line parser every workload process uses."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--results", type=int, default=1, help="results per trial")
    p.add_argument("--api", choices=("class", "function"), default="class")
    p.add_argument("--reuse-actors", action="store_true")
    p.add_argument("--interval-s", type=float, default=0.0, help="sleep per result")
    p.add_argument("--checkpoint-mb", type=float, default=0.0, help="checkpoint per result")
    p.add_argument("--keep", type=int, default=2, help="checkpoints to keep")
    p.add_argument("--slots", type=int, default=16, help="trials that may run at once")
    p.add_argument("--loggers", choices=("on", "off"), default="on")
    p.add_argument("--s3-endpoint", default=None, help="http://127.0.0.1:PORT (moto)")
    p.add_argument("--bucket", default=None)
    p.add_argument("--dask-workers", type=int, default=2, help="dasktune only")
    return p


def parse_params(argv: list[str] | None, description: str) -> Params:
    """Parse a workload command line into :class:`Params`."""
    a = build_parser(description).parse_args(argv)
    return Params(
        kind=a.kind,
        trials=a.trials,
        results=a.results,
        api=a.api,
        reuse_actors=a.reuse_actors,
        interval_s=a.interval_s,
        checkpoint_mb=a.checkpoint_mb,
        keep=a.keep,
        slots=a.slots,
        loggers=a.loggers == "on",
        s3_endpoint=a.s3_endpoint,
        bucket=a.bucket,
        dask_workers=a.dask_workers,
    )


def to_argv(params: Params) -> list[str]:
    """Inverse of :func:`parse_params`: the command line for ``params``."""
    argv = [
        params.kind,
        f"--trials={params.trials}",
        f"--results={params.results}",
        f"--api={params.api}",
        f"--interval-s={params.interval_s}",
        f"--checkpoint-mb={params.checkpoint_mb}",
        f"--keep={params.keep}",
        f"--slots={params.slots}",
        f"--loggers={'on' if params.loggers else 'off'}",
        f"--dask-workers={params.dask_workers}",
    ]
    if params.reuse_actors:
        argv.append("--reuse-actors")
    if params.s3_endpoint:
        argv.append(f"--s3-endpoint={params.s3_endpoint}")
    if params.bucket:
        argv.append(f"--bucket={params.bucket}")
    return argv


def cpu_s() -> float:
    """CPU seconds (user + system) this process has used so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def maxrss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stopwatch:
    """Wall-clock and driver-CPU timer for the measured section (``with`` block)."""

    wall_s: float = 0.0
    cpu_s: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._t0 = time.perf_counter()
        self._c0 = cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._t0
        self.cpu_s = cpu_s() - self._c0


def s3_env(endpoint: str) -> dict[str, str]:
    """Environment that points boto/s3fs/pyarrow at a loopback moto server."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
        "FSSPEC_S3_KEY": "testing",
        "FSSPEC_S3_SECRET": "testing",
    }


def count_results(trials: list[Any]) -> tuple[int, int]:
    """Return (results reported, trials in ERROR) from Ray-style trial objects."""
    results = errored = 0
    for t in trials:
        last = getattr(t, "last_result", None) or {}
        results += int(last.get("training_iteration", 0) or 0)
        if str(getattr(t, "status", "")).upper() == "ERROR":
            errored += 1
    return results, errored


def emit(framework: str, params: Params, watch: Stopwatch, **extra: Any) -> None:
    """Print the one JSON measurement line for this process to stdout."""
    record: dict[str, Any] = {
        RECORD_KEY: 1,
        "framework": framework,
        "kind": params.kind,
        "params": {k: v for k, v in vars(params).items() if k != "kind"},
        "wall_s": round(watch.wall_s, 4),
        "cpu_s": round(watch.cpu_s, 4),
        "process_cpu_s": round(cpu_s(), 4),
        "maxrss_mb": round(maxrss_mb(), 1),
        "minimum_s": params.minimum_s(),
        "pid": os.getpid(),
    }
    record.update(extra)
    sys.stdout.flush()
    print(json.dumps(record), flush=True)
