"""Check on a machine with a real NVIDIA GPU that GPU trials see and use their device.

Not part of the CPU test suite (CI machines have no GPU); run it where one exists::

    python ci/gpu_check.py            # needs torch with CUDA, dask, distributed

It starts a one-worker ``LocalCluster`` declaring ``GPU=1``, then runs:

1. 8 trials asking ``{"cpu": 1, "gpu": 0.25}``: at most 4 may run at once, all on device 0,
   each doing real matrix products on its device;
2. 3 trials asking ``{"cpu": 1, "gpu": 1}``: one at a time.

It prints one JSON line per phase and exits non-zero when a check fails.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):  # run as a script from a checkout: import this dasktune
    sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.join(_ROOT, "tests"))

from helpers import max_overlap  # noqa: E402 - the test suite's interval overlap

import dasktune as tune  # noqa: E402

# GPU_CHECK_CPU=1 rehearses the script on a machine without a GPU (tensors on the CPU).
CPU_DRY_RUN = os.environ.get("GPU_CHECK_CPU") == "1"


def gpu_trial(config: dict) -> None:
    """Multiply matrices on this trial's GPU for a while; report what it saw."""
    import torch

    ids = tune.get_gpu_ids()
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
    # get_gpu_ids() gives physical ids; torch numbers the visible devices from 0.
    index = visible.index(ids[0]) if visible else int(ids[0])
    device = torch.device("cpu") if CPU_DRY_RUN else torch.device("cuda", index)
    size = 256 if CPU_DRY_RUN else 4096
    a = torch.randn(size, size, device=device)
    start = time.time()
    for i in range(config["steps"]):
        b = a @ a
        if not CPU_DRY_RUN:
            torch.cuda.synchronize(device)
        tune.track.log(
            step=i,
            start=start,
            end=time.time(),
            gpu_ids=ids,
            device_name="cpu" if CPU_DRY_RUN else torch.cuda.get_device_name(device),
            norm=float(b.norm()),
            allocated_mib=0 if CPU_DRY_RUN else torch.cuda.memory_allocated(device) / 2**20,
        )
        time.sleep(config["sleep"])


def run_phase(client, gpu: float, trials: int, limit: int) -> dict:
    """Run ``trials`` trials of ``gpu`` GPUs each; check at most ``limit`` overlapped."""
    analysis = tune.run(
        gpu_trial,
        config={"steps": 20, "sleep": 0.05},
        num_samples=trials,
        resources_per_trial={"cpu": 1, "gpu": gpu},
        local_dir=tempfile.mkdtemp(prefix="gpu-check-"),
        verbose=0,
        client=client,
    )
    rows = [t.last_result for t in analysis.trials]
    spans = [(r["start"], r["end"]) for r in rows]
    report = {
        "gpu_per_trial": gpu,
        "trials": trials,
        "terminated": sum(t.status == "TERMINATED" for t in analysis.trials),
        "max_concurrent": max_overlap(spans),
        "limit": limit,
        "gpu_ids": sorted({tuple(r["gpu_ids"]) for r in rows}),
        "devices": sorted({r["device_name"] for r in rows}),
        "max_allocated_mib": max(r["allocated_mib"] for r in rows),
    }
    # Fractional trials must really share the GPU (more than one at once), whole ones never.
    packed = 1 < report["max_concurrent"] <= limit if limit > 1 else report["max_concurrent"] == 1
    on_gpu = CPU_DRY_RUN or all("NVIDIA" in d for d in report["devices"])
    report["ok"] = report["terminated"] == trials and packed and on_gpu
    return report


def main() -> int:
    """Run both phases; print their reports; 0 when both pass."""
    import torch
    from distributed import Client, LocalCluster

    if not (CPU_DRY_RUN or torch.cuda.is_available()):
        print("no CUDA device visible to torch", file=sys.stderr)
        return 2
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=8,
            processes=True,
            resources={"GPU": 1, "CPU": 8},
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        reports = [run_phase(client, 0.25, 8, 4), run_phase(client, 1, 3, 1)]
    for report in reports:
        print(json.dumps(report), flush=True)
    return 0 if all(r["ok"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
