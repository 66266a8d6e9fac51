"""What the scheduler and logger benchmarks share: one side (dasktune or Ray Tune) per process.

Each of :mod:`bench.asha_efficiency`, :mod:`bench.pause_resume`, :mod:`bench.logger_cost` and
:mod:`bench.pbt` is both the runner (no ``--side``: runs every side, writes the outputs) and
the measured process (``--side dasktune`` under this interpreter, ``--side ray`` under the Ray
venv's, :mod:`bench.ray_env`). Only the standard library and :mod:`bench.common` are imported
at module level, since the Ray venv imports this module too.

A measured process prints one JSON line with :data:`bench.common.RECORD_KEY` (see
:func:`emit_record`); the runner collects it with :func:`run_side`, notes the 1-minute load
average before and after, and writes ``bench/results/<date>-<name>.json`` and ``.md``
(:func:`write_outputs`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import RECORD_KEY

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
SIDES: tuple[str, ...] = ("dasktune", "ray")

DASKTUNE_PATH_ENV = "BENCH_DASKTUNE_PATH"
"""When set, the dasktune side imports dasktune from this directory (another worktree)."""


def load_average() -> float:
    """The 1-minute load average now (``uptime``'s first figure)."""
    return round(os.getloadavg()[0], 2)


def emit_record(framework: str, **fields: Any) -> None:
    """Print the measured process's one JSON line."""
    record = {RECORD_KEY: 1, "framework": framework, "pid": os.getpid(), **fields}
    sys.stdout.flush()
    print(json.dumps(record), flush=True)


def import_dasktune() -> Any:
    """Import dasktune, from :data:`DASKTUNE_PATH_ENV` when that is set (put first on
    ``sys.path``, which a ``LocalCluster``'s worker processes inherit)."""
    other = os.environ.get(DASKTUNE_PATH_ENV)
    if other:
        # A directory holding only a link to the other tree's package: putting that tree
        # itself first would shadow this tree's ``bench`` too (in the workers as well).
        shim = tempfile.mkdtemp(prefix="bench-dasktune-path-")
        os.symlink(os.path.join(os.path.abspath(other), "dasktune"), os.path.join(shim, "dasktune"))
        sys.path.insert(0, shim)
    import dasktune

    return dasktune


@contextlib.contextmanager
def dasktune_client(slots: int, n_workers: int = 2, in_process: bool = False) -> Iterator[Any]:
    """A ``Client`` on a cluster of ``slots`` one-CPU trial slots.

    By default the cluster runs in a child process (:mod:`bench.cluster`), like Ray's GCS and
    raylet; ``in_process`` starts a ``LocalCluster`` here instead (needed when dasktune comes
    from :data:`DASKTUNE_PATH_ENV`: the child process would import this tree's copy).
    """
    from distributed import Client, LocalCluster

    from bench.cluster import cluster_shape, dask_cluster

    if in_process or os.environ.get(DASKTUNE_PATH_ENV):
        workers, threads = cluster_shape(slots, n_workers)
        with LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            resources={"CPU": threads},
            processes=True,
            dashboard_address=":0",
        ) as cluster:
            with Client(cluster, direct_to_workers=True) as client:
                yield client
        return
    with dask_cluster(slots=slots, n_workers=n_workers) as address:
        with Client(address, direct_to_workers=True) as client:
            yield client


def ray_init(slots: int) -> Any:
    """Start Ray with ``slots`` CPUs, quietly; return the ``ray`` module."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    ray.init(num_cpus=slots, include_dashboard=False, logging_level="ERROR")
    return ray


def interpreters(sides: list[str], install: bool = True) -> dict[str, str]:
    """The interpreter for each side; a side that cannot run is left out (with a message)."""
    out: dict[str, str] = {}
    if "dasktune" in sides:
        out["dasktune"] = sys.executable
    if "ray" in sides:
        from bench.ray_env import ensure_ray_env

        env = ensure_ray_env(install=install)
        if env.ok and env.python:
            out["ray"] = env.python
        else:
            log(f"Ray Tune side skipped: {env.reason}")
    return out


def run_side(
    module: str, python: str, side: str, args: list[str], timeout_s: float
) -> dict[str, Any]:
    """Run ``python -m module --side side args`` and return its record, with the load average
    before and after it (``load_before``/``load_after``) and ``error`` on failure."""
    from bench.run import run_process

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    before = load_average()
    log(f"{module} --side {side} {' '.join(args)} (load {before})")
    rec = run_process([python, "-m", module, "--side", side, *args], env, timeout_s)
    rec["side"] = side
    rec["load_before"] = before
    rec["load_after"] = load_average()
    if "error" in rec:
        log(f"  {side} failed: {rec['error']}")
    return rec


def machine(sides: dict[str, str]) -> dict[str, str]:
    """Machine and software description, as the main runner writes it."""
    from bench.ray_env import probe
    from bench.run import machine_info, probe_dasktune

    ray_packages = probe(Path(sides["ray"])) if "ray" in sides else None
    version, _ = probe_dasktune() if "dasktune" in sides else (None, "")
    info = machine_info(ray_packages or {}, version)
    other = os.environ.get(DASKTUNE_PATH_ENV)
    if other:
        import subprocess

        head = subprocess.run(
            ["git", "-C", other, "log", "-1", "--format=%h %s"], capture_output=True, text=True
        ).stdout.strip()
        info["dasktune"] += f"; the dasktune side imported dasktune from {other} ({head})"
    return info


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values``, linear between ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: list[float]) -> float | None:
    """Median, or None when empty."""
    return statistics.median(values) if values else None


def fmt(v: float | None, digits: int = 3) -> str:
    """A figure for a table cell ("n/a" when missing)."""
    return "n/a" if v is None else f"{v:.{digits}f}"


def write_outputs(
    name: str, title: str, info: dict[str, str], records: list[dict[str, Any]], body: str
) -> Path:
    """Write ``bench/results/<date>-<name>.json`` (records and machine) and ``.md`` (the
    title, the machine, then ``body``); return the markdown's path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"{_dt.date.today().isoformat()}-{name}"
    stem.with_suffix(".json").write_text(
        json.dumps({"machine": info, "records": records}, indent=1) + "\n"
    )
    lines = [f"# {title}", "", "Machine and software:", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    md = stem.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n\n" + body.rstrip() + "\n")
    log(f"wrote {md} and {stem.with_suffix('.json').name}")
    return md


def log(msg: str) -> None:
    """Progress to stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
