"""How many worker processes an embedded cluster gets, and what each offers.

Ray's ``ray.init()`` makes one node with every CPU and GPU of the machine, so any trial that fits
the machine runs. dasktune's embedded cluster must do the same while giving trials processes of
their own where it can (Python threads share one GIL): workers are as many as the largest trial
fits into the machine's CPUs, each offering an equal share of them, and the machine's GPUs are
split between the workers so each device is offered exactly once in all.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from ..resources import Resources
from ..trial_info import visible_gpu_ids

# nvidia-smi answers in well under a second; a wedged driver must not hang tune.run().
_NVIDIA_SMI_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class WorkerShape:
    """What one embedded worker process offers: CPU slots, threads, GPU slots and devices."""

    cpu: float
    nthreads: int
    gpu: float = 0.0
    gpu_devices: tuple[str, ...] = ()

    def resources(self) -> dict[str, float]:
        """The worker's Dask resource tags."""
        tags = {"CPU": self.cpu}
        if self.gpu:
            tags["GPU"] = self.gpu
        return tags


def machine_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not every core of the machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine_gpus() -> tuple[str, ...]:
    """Device ids of the GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else
    what ``nvidia-smi`` lists, else none."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return visible_gpu_ids()
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        listed = subprocess.run(
            [smi, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=_NVIDIA_SMI_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    if listed.returncode != 0:
        return ()
    return tuple(line.strip() for line in listed.stdout.splitlines() if line.strip())


def plan_workers(
    requests: Iterable[Resources],
    cpus: int,
    gpus: tuple[str, ...] = (),
    max_trials_at_once: int | None = None,
) -> list[WorkerShape]:
    """The worker processes for trials asking for ``requests`` on a machine with ``cpus`` CPUs
    and the GPU devices ``gpus``.

    Each worker offers ``cpus / n`` CPU slots, with ``n`` as large as the machine allows while
    the largest trial (its own and extra CPUs together) still fits on one worker, and no larger
    than ``max_trials_at_once`` (a worker per trial that can run). A trial larger than the
    machine is left for the run's feasibility check to explain.
    """
    shapes = list(requests) or [Resources()]
    largest_cpu = max(r.cpu + r.extra_cpu for r in shapes)
    largest_gpu = max(r.gpu for r in shapes)
    n = cpus if largest_cpu <= 0 else max(1, min(cpus, math.floor(cpus / largest_cpu + 1e-9)))
    if max_trials_at_once is not None:
        n = max(1, min(n, max_trials_at_once))
    cpu_share = cpus / n
    nthreads = max(1, round(cpu_share))
    devices = _split_gpus(gpus, n, whole=largest_gpu >= 1)
    return [
        WorkerShape(cpu=cpu_share, nthreads=nthreads, gpu=amount, gpu_devices=ids)
        for amount, ids in devices
    ]


def _split_gpus(gpus: tuple[str, ...], n: int, whole: bool) -> list[tuple[float, tuple[str, ...]]]:
    """``(GPU slots, device ids)`` for each of ``n`` workers, every device offered once in all.

    With at least as many devices as workers each worker gets its own devices. With fewer,
    workers share a device in equal fractions, unless some trial needs a whole GPU: then the
    first workers get one device each and the rest none.
    """
    if not gpus:
        return [(0.0, ())] * n
    if len(gpus) >= n:
        per = [tuple(gpus[i::n]) for i in range(n)]
        return [(float(len(ids)), ids) for ids in per]
    if whole:
        return [((1.0, (gpus[i],)) if i < len(gpus) else (0.0, ())) for i in range(n)]
    sharing = [sum(1 for j in range(n) if j % len(gpus) == i % len(gpus)) for i in range(n)]
    return [(1.0 / sharing[i], (gpus[i % len(gpus)],)) for i in range(n)]


def explain_unfit(requests: Iterable[Resources], cpus: int, gpus: tuple[str, ...]) -> str | None:
    """Why some trial can never run on this machine alone (or None): said before any worker
    starts, with the two ways out."""
    fix = (
        "lower resources_per_trial, or pass client= (or address=) of a Dask cluster whose "
        "workers offer it"
    )
    for request in requests:
        cpu = request.cpu + request.extra_cpu
        if cpu > cpus + 1e-9:
            return (
                f"a trial needs {_in_all(request.summary(), cpu, 'CPU')} but this machine has "
                f"{cpus}, and dasktune's embedded cluster runs on this machine only; {fix}."
            )
        gpu = request.gpu + request.extra_gpu
        if gpu > len(gpus) + 1e-9:
            found = f"{len(gpus)} GPU(s): {', '.join(gpus)}" if gpus else "no GPU"
            return (
                f"a trial needs {_in_all(request.summary(), gpu, 'GPU')} but this machine has "
                f"{found} (from CUDA_VISIBLE_DEVICES, else nvidia-smi); {fix}."
            )
        custom = {**request.custom_resources, **request.extra_custom_resources}
        if custom:
            return (
                f"a trial needs the custom resources {custom}, which dasktune's embedded cluster "
                "does not offer; pass client= (or address=) of a Dask cluster whose workers "
                "declare them (dask worker --resources NAME=N)."
            )
    return None


def _in_all(summary: str, amount: float, tag: str) -> str:
    total = f"{amount:g} {tag}"
    return total if summary == total else f"{total} (it asks for {summary})"
