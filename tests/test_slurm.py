"""dasktune on dask-jobqueue's SLURMCluster, against the single-node SLURM of ``ci/slurm.sh``.

One Dask worker per SLURM job, each job holding one (fake) GPU through ``--gres=gpu:1`` and
offering it to Dask as ``--resources GPU=1``. The tests check that ``gpu: 1`` trials land one
per job with the job's device in ``tune.get_gpu_ids()``, that a trial whose job is
``scancel``led restarts from its checkpoint while ``adapt`` brings a replacement job, which
then receives pending trials, and that ``adapt(minimum_jobs=0)`` submits jobs for pending trials
and cancels them once the trials ended.

Needs ``bash ci/slurm.sh start`` (skips otherwise).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import dask
import pytest
from helpers import max_overlap, read_rows
from trainables import GpuJobReporter, SlowJobCounter

import dasktune as tune

jobqueue = pytest.importorskip("dask_jobqueue")
from distributed import Client  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# Seconds to wait for SLURM jobs to start and their workers to connect.
WORKER_WAIT_S = 90


def make_slurm_cluster(partition: str, log_directory: Path) -> Any:
    """A SLURMCluster of one-GPU jobs: one worker process, one core, one GPU per job."""
    return jobqueue.SLURMCluster(
        cores=1,
        processes=1,
        memory="1GB",
        walltime="00:05:00",
        queue=partition,
        # Without "lo" the scheduler advertises a non-loopback address.
        interface="lo",
        scheduler_options={"interface": "lo", "dashboard_address": ":0"},
        # The two go together: --gres makes SLURM hand the job a GPU (CUDA_VISIBLE_DEVICES),
        # --resources tells Dask (and dasktune's ledger) that this worker offers one.
        worker_extra_args=["--resources", "GPU=1"],
        job_extra_directives=["--gres=gpu:1"],
        log_directory=str(log_directory),
        # Workers whose scheduler vanished (a crashed test) exit instead of holding the node.
        death_timeout=30,
    )


def job_logs(log_directory: Path, lines: int = 40) -> str:
    """The tails of the SLURM job logs, for assertion messages."""
    parts = []
    for path in sorted(log_directory.glob("*")):
        if path.is_file():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"----- {path.name} -----\n" + "\n".join(tail))
    return "\n".join(parts) or f"(no job logs in {log_directory})"


def squeue_jobs() -> list[str]:
    """Ids of the jobs SLURM lists now."""
    proc = subprocess.run(
        ["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30, check=True
    )
    return proc.stdout.split()


def test_gpu_trials_get_one_slurm_job_gpu_each(slurm_partition: str, tmp_path: Path) -> None:
    """4 one-GPU trials on 2 one-GPU jobs: at most 2 at once, each sees its job's device."""
    logs = tmp_path / "slurm-logs"
    with make_slurm_cluster(slurm_partition, logs) as cluster:
        client = Client(cluster, direct_to_workers=True, set_as_default=False)
        try:
            cluster.scale(jobs=2)
            client.wait_for_workers(2, timeout=WORKER_WAIT_S)
            started = time.monotonic()
            analysis = tune.run(
                GpuJobReporter,
                name="gpus",
                stop={"training_iteration": 2},
                config={"sleep": 1.0},
                num_samples=4,
                resources_per_trial={"cpu": 1, "gpu": 1},
                local_dir=str(tmp_path / "results"),
                client=client,
                verbose=0,
                raise_on_failed_trial=False,
            )
            print(f"\n4 trials x 2 steps x 1 s on 2 SLURM jobs: {time.monotonic() - started:.1f} s")
        finally:
            client.close()

    context = job_logs(logs)
    statuses = [t.status for t in analysis.trials]
    assert statuses == ["TERMINATED"] * 4, f"{statuses}\n{context}"
    rows_by_trial = {t.trial_id: read_rows(t.logdir) for t in analysis.trials}
    rows = [r for trial_rows in rows_by_trial.values() for r in trial_rows]
    assert all(len(r) == 2 for r in rows_by_trial.values()), rows_by_trial

    for r in rows:
        # tune.get_gpu_ids() is the device SLURM gave the job, and dasktune's idea of where the
        # trial runs matches the worker actually running it.
        assert r["gpu_ids"] == [r["cuda_visible_devices"]], r
        assert r["worker"] == r["placement_worker"], r
        assert r["slurm_job_id"], r

    devices_by_job: dict[str, set[str]] = {}
    for r in rows:
        devices_by_job.setdefault(r["slurm_job_id"], set()).add(r["cuda_visible_devices"])
    assert len(devices_by_job) == 2, devices_by_job
    assert sorted(d for ds in devices_by_job.values() for d in ds) == ["0", "1"], devices_by_job
    for trial_rows in rows_by_trial.values():
        assert len({r["slurm_job_id"] for r in trial_rows}) == 1, trial_rows

    spans = {
        tid: (min(r["start"] for r in trs), max(r["end"] for r in trs))
        for tid, trs in rows_by_trial.items()
    }
    # Two GPUs: never more than 2 trials at once, and both were in use together.
    assert max_overlap(spans.values()) == 2, spans
    # Nor two at once on one job's GPU.
    for job in devices_by_job:
        on_job = [spans[tid] for tid, trs in rows_by_trial.items() if trs[0]["slurm_job_id"] == job]
        assert max_overlap(on_job) == 1, (job, on_job)


class CancelJobOnce(tune.Stopper):
    """Stops trials at ``stop_at``; the first time any trial reports iteration ``kill_at``,
    ``scancel``s the SLURM job that trial runs in (a Stopper runs in the driver for every
    result, so this is a scripted node failure at a known point)."""

    def __init__(self, kill_at: int, stop_at: int) -> None:
        self.kill_at = kill_at
        self.stop_at = stop_at
        self.killed_job: str | None = None
        self.killed_trial: str | None = None
        self.killed_at: float | None = None  # time.time(), comparable with scheduler events
        self.initial_jobs: set[str] = set()
        self.first_result_from_new_job: float | None = None

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Cancel one job once; note when a job started after that reports; stop at stop_at."""
        job = result["slurm_job_id"]
        if self.killed_job is None:
            self.initial_jobs.add(job)
            if result["training_iteration"] == self.kill_at:
                subprocess.run(["scancel", job], check=True, timeout=30)
                self.killed_job, self.killed_trial, self.killed_at = job, trial_id, time.time()
        elif job not in self.initial_jobs and self.first_result_from_new_job is None:
            self.first_result_from_new_job = time.time()
        return result["training_iteration"] >= self.stop_at


def test_scancelled_job_is_replaced_and_its_trial_resumes(
    slurm_partition: str, tmp_path: Path
) -> None:
    """scancel one of 2 jobs mid-run: its trial restarts from its newest checkpoint, adapt
    submits a replacement job, the replacement worker gets pending work, nothing is lost."""
    logs = tmp_path / "slurm-logs"
    steps = 10
    stopper = CancelJobOnce(kill_at=3, stop_at=steps)
    # dask-jobqueue drops a lost worker's job (so adapt resubmits it) only after
    # lost-worker-timeout, 15 s by default; the wait guards against a worker that merely
    # reconnects. 3 s keeps the test short.
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "3s"}):
        with make_slurm_cluster(slurm_partition, logs) as cluster:
            client = Client(cluster, direct_to_workers=True, set_as_default=False)
            try:
                # scale() would never replace a killed job; adapt() does.
                cluster.adapt(minimum_jobs=2, maximum_jobs=2)
                client.wait_for_workers(2, timeout=WORKER_WAIT_S)
                started = time.monotonic()
                analysis = tune.run(
                    SlowJobCounter,
                    name="scancel",
                    stop=stopper,
                    config={"sleep": 0.5, "i": tune.grid_search([0, 1, 2])},
                    resources_per_trial={"cpu": 1, "gpu": 1},
                    checkpoint_freq=1,
                    max_failures=3,
                    local_dir=str(tmp_path / "results"),
                    client=client,
                    verbose=0,
                    raise_on_failed_trial=False,
                )
                elapsed = time.monotonic() - started
                events = client.get_events("all")
                final_jobs = squeue_jobs()
            finally:
                client.close()

    context = job_logs(logs)
    assert stopper.killed_job is not None, "no trial reached the kill iteration"
    assert stopper.killed_at is not None
    removed = [
        t for t, e in events if e.get("action") == "remove-worker" and t >= stopper.killed_at - 1
    ]
    added = [t for t, e in events if e.get("action") == "add-worker" and t >= stopper.killed_at]

    def after(t: float | None) -> str:
        return "never" if t is None else f"{t - stopper.killed_at:.1f} s"  # type: ignore[operator]

    print(
        f"\nrun {elapsed:.1f} s; scancel of job {stopper.killed_job} (trial "
        f"{stopper.killed_trial}, iteration {stopper.kill_at}); after it: worker removed "
        f"{after(removed[0] if removed else None)}, replacement worker joined "
        f"{after(added[0] if added else None)}, first result from the replacement job "
        f"{after(stopper.first_result_from_new_job)}"
    )
    print(f"jobs in squeue at the end: {final_jobs}")

    statuses = {t.trial_id: t.status for t in analysis.trials}
    assert list(statuses.values()) == ["TERMINATED"] * 3, f"{statuses}\n{context}"
    killed = next(t for t in analysis.trials if t.trial_id == stopper.killed_trial)
    assert killed.num_failures >= 1, killed
    assert sum(t.num_failures for t in analysis.trials) >= 1
    with open(os.path.join(killed.logdir, "error.txt")) as f:
        assert "was lost" in f.read()

    for trial in analysis.trials:
        rows = read_rows(trial.logdir)
        # value comes from the checkpoint after a restart, so value == training_iteration
        # on every row means every restore loaded the state it should have.
        assert all(r["value"] == r["training_iteration"] for r in rows), rows
        assert rows[-1]["training_iteration"] == steps, rows
        assert all(r["gpu_ids"] == [r["cuda_visible_devices"]] for r in rows), rows
    killed_rows = read_rows(killed.logdir)
    print(
        "killed trial's results (iteration/since restore/job): "
        + " ".join(
            f"{r['training_iteration']}/{r['iterations_since_restore']}/{r['slurm_job_id']}"
            for r in killed_rows
        )
    )
    jobs_of_killed = [r["slurm_job_id"] for r in killed_rows]
    assert jobs_of_killed[0] == stopper.killed_job
    # It went on in another job, from a checkpoint (iterations_since_restore starts over).
    assert jobs_of_killed[-1] != stopper.killed_job, jobs_of_killed
    restarts = [r for r in killed_rows if r["iterations_since_restore"] == 1]
    assert len(restarts) >= 2 and restarts[1]["training_iteration"] > 1, killed_rows

    # adapt replaced the job, and the replacement worker was given trials mid-run.
    assert added, f"no worker joined after the scancel\n{context}"
    assert stopper.first_result_from_new_job is not None, f"replacement job idle\n{context}"


def test_adapt_from_zero_submits_jobs_for_trials_and_cancels_them_after(
    slurm_partition: str, tmp_path: Path
) -> None:
    """No job at the start: adapt submits jobs because trials are pending (the run could not
    finish otherwise), up to maximum_jobs, and cancels them once the trials ended."""
    logs = tmp_path / "slurm-logs"
    with make_slurm_cluster(slurm_partition, logs) as cluster:
        client = Client(cluster, direct_to_workers=True, set_as_default=False)
        try:
            cluster.adapt(minimum_jobs=0, maximum_jobs=2, interval="500ms", wait_count=2)
            time.sleep(1.5)  # a few adapt rounds: with nothing to do, no job is submitted
            assert not cluster.workers, cluster.workers
            started = time.monotonic()
            analysis = tune.run(
                GpuJobReporter,
                name="adapt-from-zero",
                stop={"training_iteration": 2},
                config={"sleep": 1.0},
                num_samples=4,
                resources_per_trial={"cpu": 1, "gpu": 1},
                local_dir=str(tmp_path / "results"),
                client=client,
                verbose=0,
                raise_on_failed_trial=False,
                worker_wait_timeout_s=WORKER_WAIT_S,
            )
            ran = time.monotonic() - started
            job_ids = {r["slurm_job_id"] for t in analysis.trials for r in read_rows(t.logdir)}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if not cluster.workers and not job_ids & set(squeue_jobs()):
                    break
                time.sleep(0.5)
            gone = time.monotonic() - started - ran
            left, queued = dict(cluster.workers), job_ids & set(squeue_jobs())
        finally:
            client.close()

    context = job_logs(logs)
    print(f"\nrun {ran:.1f} s on jobs {sorted(job_ids)}; jobs gone {gone:.1f} s after it")
    statuses = [t.status for t in analysis.trials]
    assert statuses == ["TERMINATED"] * 4, f"{statuses}\n{context}"
    assert all(t.num_failures == 0 for t in analysis.trials)
    rows_by_trial = {t.trial_id: read_rows(t.logdir) for t in analysis.trials}
    assert all(len(rows) == 2 for rows in rows_by_trial.values()), rows_by_trial
    # Both jobs adapt may submit ran trials, side by side.
    assert len(job_ids) == 2, job_ids
    spans = [
        (min(r["start"] for r in rs), max(r["end"] for r in rs)) for rs in rows_by_trial.values()
    ]
    assert max_overlap(spans) == 2, spans
    assert not left, f"adapt kept {left}\n{context}"
    assert not queued, f"jobs {queued} still in squeue\n{context}"
