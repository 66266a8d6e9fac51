"""Helpers shared by the test modules: reading a trial's results, interval overlap, SLURM probe.

Import them as ``from helpers import ...`` (``tests/`` is on ``sys.path`` under pytest, as for
``conftest``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

import fsspec

from dasktune.stopper import Stopper


def read_rows(logdir: str, storage_options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every result a trial reported, in order: its ``result.json`` read through fsspec.

    ``logdir`` is a local path or any fsspec URL; ``storage_options`` are those the run got.
    The filesystem's listing cache is invalidated first, so a remote file written by another
    process is read as it is now.
    """
    fs, path = fsspec.core.url_to_fs(f"{logdir}/result.json", **(storage_options or {}))
    fs.invalidate_cache()
    return [json.loads(line) for line in fs.cat_file(path).decode().splitlines() if line]


def max_overlap(spans: Iterable[tuple[float, float]]) -> int:
    """The largest number of ``(start, end)`` intervals open at one instant."""
    spans = list(spans)
    # Ends sort before starts at the same instant: touching intervals do not overlap.
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    open_now = peak = 0
    for _, delta in events:
        open_now += delta
        peak = max(peak, open_now)
    return peak


def slurm_partition_or_none() -> str | None:
    """The default partition if a SLURM controller answers, else None."""
    if shutil.which("sinfo") is None or shutil.which("scontrol") is None:
        return None
    try:
        # `scontrol ping` answers at once; sinfo spends ~9 s retrying a dead controller.
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, timeout=10)
        if ping.returncode != 0:
            return None
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%P %T"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    for line in proc.stdout.splitlines():
        name, _, _state = line.partition(" ")
        if name.endswith("*"):
            return name.rstrip("*")
    return None


class StopAllAfter(Stopper):
    """A Ray stopper that stops each trial at its first result
    and the whole run once ``n`` trials have reported."""

    def __init__(self, n: int) -> None:
        self.n, self.done = n, set()

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        self.done.add(trial_id)
        return True

    def stop_all(self) -> bool:
        return len(self.done) >= self.n
