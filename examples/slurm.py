"""Tuning on a SLURM cluster through dask-jobqueue: one GPU per SLURM job, one trial per GPU.

    pip install dask-jobqueue
    python examples/slurm.py --jobs 2                        # against the local ci/slurm.sh
    python examples/slurm.py --jobs 8 --partition gpu --account myproj --interface ib0 \\
        --memory 16GB --walltime 02:00:00 --local-dir /shared/scratch/$USER/tune

Run it where ``sbatch`` works (a login node). Each SLURM job starts one Dask worker process that
owns one GPU; every trial asks for ``{"cpu": 1, "gpu": 1}``, so there are at most as many
trials running as jobs, each alone on its GPU. Results and checkpoints are written by the
workers themselves, so ``--local-dir`` must be on a filesystem every node sees (or an
``s3://`` URL).

Adapt the constants below (or pass the options) to your site.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import dasktune as tune

# --- Site settings: change these, or pass the matching command-line options. ---------------
PARTITION: str | None = None  # sbatch -p; None: the cluster's default partition
ACCOUNT: str | None = None  # sbatch -A; None: your default account
MEMORY = "1GB"  # per job (= per worker = per GPU); dask-jobqueue passes it as --mem
CORES = 1  # per job; the worker gets this many threads. Trials here ask for cpu: 1
WALLTIME = "00:10:00"  # per job; a job that hits it takes its trial down with it
# The network interface workers and scheduler talk over: "lo" for a single-host test
# cluster, often "ib0" (InfiniBand) or "eth0" on a real one. None: dask's default.
INTERFACE: str | None = None
# Lines run in each job script before the worker starts (module load, conda activate...).
# The job runs the same Python as this script (sys.executable), which is enough on one host
# or with a shared software stack.
JOB_SCRIPT_PROLOGUE: list[str] = []


def train(config: dict) -> None:
    """A toy loss that depends on the learning rate; reports which GPU the trial holds."""
    # One GPU per trial: tune.get_gpu_ids() is the device SLURM gave this job
    # (CUDA_VISIBLE_DEVICES), the one e.g. torch.device("cuda") would use.
    gpu_ids = tune.get_gpu_ids()
    # This print goes to the SLURM job's .out log (--log-directory), not to this terminal.
    print(f"trial on SLURM job {os.environ.get('SLURM_JOB_ID')}: GPU ids {gpu_ids}", flush=True)
    loss = 10.0
    for step in range(1, 1000):
        time.sleep(config["step_s"])
        loss *= 1 - config["lr"] / (1 + math.log(step))
        tune.track.log(
            loss=loss,
            gpu_ids=",".join(gpu_ids),
            slurm_job_id=os.environ.get("SLURM_JOB_ID"),
        )


def make_cluster(args: argparse.Namespace):  # -> dask_jobqueue.SLURMCluster
    """A SLURMCluster whose every job is one worker process holding one GPU."""
    from dask_jobqueue import SLURMCluster

    scheduler_options: dict = {"dashboard_address": ":0"}  # any free port: no clash
    if args.interface:
        scheduler_options["interface"] = args.interface
    return SLURMCluster(
        queue=args.partition,
        account=args.account,
        cores=args.cores,
        # One worker process per job: the process owns the job's GPU, so its
        # CUDA_VISIBLE_DEVICES is that GPU and nothing is shared between processes.
        processes=1,
        memory=args.memory,
        walltime=args.walltime,
        interface=args.interface,
        scheduler_options=scheduler_options,
        # These two go together, one per job:
        #   --gres=gpu:1        makes SLURM give the job a GPU (and set CUDA_VISIBLE_DEVICES);
        #   --resources GPU=1   tells Dask, and so dasktune, that the worker has one, which is
        #                       what resources_per_trial={"gpu": 1} counts against.
        # Without --resources dasktune sees no GPU and refuses gpu trials; without --gres the
        # worker claims a GPU SLURM never gave it. Some sites spell it --gpus=1 instead.
        job_extra_directives=["--gres=gpu:1"],
        worker_extra_args=["--resources", "GPU=1"],
        job_script_prologue=JOB_SCRIPT_PROLOGUE,
        log_directory=args.log_directory,
        # A worker whose scheduler is gone (this script crashed) exits instead of idling in
        # its allocation until the walltime.
        death_timeout=60,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults are the constants above."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2, help="SLURM jobs = workers = GPUs (2)")
    p.add_argument("--partition", default=PARTITION, help="sbatch -p (cluster default)")
    p.add_argument("--account", default=ACCOUNT, help="sbatch -A")
    p.add_argument("--memory", default=MEMORY, help=f"memory per job ({MEMORY})")
    p.add_argument("--cores", type=int, default=CORES, help=f"cores per job ({CORES})")
    p.add_argument("--walltime", default=WALLTIME, help=f"per job ({WALLTIME})")
    p.add_argument("--interface", default=INTERFACE, help="network interface, e.g. ib0 or lo")
    p.add_argument(
        "--log-directory",
        default=os.path.expanduser("~/dasktune_results/slurm-logs"),
        help="where the jobs' stdout/stderr go (~/dasktune_results/slurm-logs)",
    )
    p.add_argument(
        "--local-dir", default=None, help="results: shared FS or s3:// (~/dasktune_results)"
    )
    p.add_argument("--samples", type=int, default=4, help="trials (4)")
    p.add_argument(
        "--scale",
        action="store_true",
        help="fixed scale(jobs) instead of adapt(): a job that dies is then not replaced",
    )
    p.add_argument("--print-job-script", action="store_true", help="print it and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start the jobs, tune, print the results, cancel the jobs."""
    args = parse_args(argv)
    from distributed import Client

    # Leaving the with-block closes the cluster, which scancels every job it submitted (on
    # errors and Ctrl-C too).
    with make_cluster(args) as cluster:
        if args.print_job_script:
            print(cluster.job_script())
            return
        if args.scale:
            cluster.scale(jobs=args.jobs)
        else:
            # adapt(minimum=maximum) holds the cluster at this size and, unlike scale(),
            # submits a new job when one dies (node failure, preemption, walltime), about
            # 15 s (distributed.deploy.lost-worker-timeout) after its worker disappears.
            # dasktune keeps adaptive scale-down away from workers with running trials.
            cluster.adapt(minimum_jobs=args.jobs, maximum_jobs=args.jobs)
        with Client(cluster, direct_to_workers=True, set_as_default=False) as client:
            print(f"waiting for {args.jobs} SLURM jobs to start...", flush=True)
            # Not required (trials start on whatever workers exist, and workers that join
            # later get pending trials), but it makes the first trials spread out.
            client.wait_for_workers(args.jobs, timeout=600)
            analysis = tune.run(
                train,
                stop={"training_iteration": 5},
                config={"lr": tune.loguniform(1e-3, 1e-1), "step_s": 0.2},
                num_samples=args.samples,
                resources_per_trial={"cpu": 1, "gpu": 1},
                # Restart a trial whose job died on another worker (from scratch here: this
                # trainable does not checkpoint; see README "Checkpoints").
                max_failures=2,
                local_dir=args.local_dir,
                client=client,
                verbose=1,
            )
    df = analysis.dataframe()
    print(df[["trial_id", "slurm_job_id", "gpu_ids", "loss", "config/lr"]].to_string(index=False))
    print("best config:", analysis.get_best_config(metric="loss", mode="min"))


if __name__ == "__main__":
    main()
