"""Throughput as a user sees it: the wall time of the whole ``tune.run`` call, against a raw
asyncio actor loop doing the same number of calls, in one process on one running cluster.

    python -m bench.user_wall [--reps 5]

Cluster: ``LocalCluster(n_workers=2, threads_per_worker=1)``, started once, warmed with a small
run. Each repetition times, alternately:
- ``tune.run`` of 8 trials x 200 no-op results (``cpu: 0.25``, all 8 at once), from the call
  to its return; a callback splits it into start (call to first result), steady (first to last
  result) and end (last result to return);
- the raw loop: 8 no-op actors created before its clock starts (an asynchronous
  ``Client(..., direct_to_workers=True)`` in this process), one call in flight per actor, 200
  calls each.
Also 100 trials x 1 result (whole ``tune.run`` wall). Prints medians (min-max) and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from distributed import Client, LocalCluster

import dasktune as tune

TRIALS, RESULTS = 8, 200


class Noop(tune.Trainable):
    """Returns an empty result each step."""

    def _train(self):
        return {}


class NoopActor:
    """The raw loop's actor: one no-op method."""

    def step(self) -> int:
        """Nothing."""
        return 0


class Phases(tune.Callback):
    """When the first and the last result reached the driver."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last = 0.0

    def on_trial_result(self, iteration, trials, trial, result, **info):
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now


def time_tune_run(
    client: Client, local_dir: str, trials: int, results: int, **extra: Any
) -> dict[str, float]:
    """Wall seconds of one tune.run (``extra``: more of its arguments), and its
    start/steady/end split."""
    phases = Phases()
    started = time.perf_counter()
    tune.run(
        Noop,
        stop={"training_iteration": results},
        num_samples=trials,
        resources_per_trial={"cpu": 0.25},
        client=client,
        local_dir=local_dir,
        verbose=0,
        callbacks=[phases],
        **extra,
    )
    ended = time.perf_counter()
    first = phases.first or ended
    return {
        "wall": ended - started,
        "start": first - started,
        "steady": phases.last - first,
        "end": ended - phases.last,
    }


def time_raw_loop(address: str) -> float:
    """Wall seconds of TRIALS x RESULTS no-op actor calls, one in flight per actor, on an
    asynchronous ``Client(direct_to_workers=True)``; the actors exist before the clock starts
    (an actor handle binds to the newest Client in the process, hence a client of its own)."""

    async def measure() -> float:
        async with Client(address, asynchronous=True, direct_to_workers=True) as client:
            workers = sorted(await client.run(os.getpid))
            futures = [
                client.submit(NoopActor, actor=True, workers=[workers[i % len(workers)]])
                for i in range(TRIALS)
            ]
            actors = [await f for f in futures]

            async def drive(actor) -> None:
                for _ in range(RESULTS):
                    await actor.step()

            started = time.perf_counter()
            await asyncio.gather(*(drive(a) for a in actors))
            return time.perf_counter() - started

    return asyncio.run(measure())


def _fmt(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    values = [v * scale for v in values]
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def main(argv: list[str] | None = None) -> int:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--no-tensorboard",
        action="store_true",
        help="loggers=[JsonLogger, CSVLogger]: the default loggers less TensorBoard's",
    )
    args = parser.parse_args(argv)
    extra: dict[str, Any] = {}
    if args.no_tensorboard:
        from dasktune.logger import CSVLogger, JsonLogger

        extra["loggers"] = [JsonLogger, CSVLogger]
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster, direct_to_workers=True, set_as_default=False)
    runs, raw, small = [], [], []
    try:
        with tempfile.TemporaryDirectory() as local_dir:
            time_tune_run(client, local_dir, 2, 5)  # warm-up: worker imports
            time_raw_loop(cluster.scheduler_address)
            for _ in range(args.reps):
                runs.append(time_tune_run(client, local_dir, TRIALS, RESULTS, **extra))
                raw.append(time_raw_loop(cluster.scheduler_address))
                small.append(time_tune_run(client, local_dir, 100, 1, **extra)["wall"])
    finally:
        client.close()
        cluster.close()
    n = TRIALS * RESULTS
    rate = [n / r["wall"] for r in runs]
    raw_rate = [n / s for s in raw]
    ratios = [n / r["wall"] / (n / s) for r, s in zip(runs, raw, strict=True)]
    print(f"tune.run {TRIALS}x{RESULTS} results/s: {_fmt(rate, digits=0)}")
    print(f"raw asyncio actor loop calls/s:  {_fmt(raw_rate, digits=0)}")
    print(
        f"ratio (median of paired runs): {statistics.median(ratios):.2f} "
        f"({min(ratios):.2f}-{max(ratios):.2f}); target >= 0.72"
    )
    for phase in ("start", "steady", "end"):
        print(f"  {phase:6s} s: {_fmt([r[phase] for r in runs])}")
    print(f"  raw loop s: {_fmt(raw)}")
    print(f"tune.run 100x1 wall s: {_fmt(small)}; target <= 0.3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
