"""PBT on the triangle-shaped learning-rate toy: wall time to a fixed score and exploit latency,
dasktune vs Ray Tune.

    python -m bench.pbt [--slots 4] [--target 30] [--sleep-s 0.05] [--reps 1]
                        [--no-reuse-actors] [--sides dasktune,ray]

The toy (our own variant of the problem in Ray's ``pbt_function`` example): a trial's
``mean_accuracy`` ``a`` starts at 0 and moves by its ``lr`` each step; the best ``lr`` is a
triangle in ``a``, ``max(0.1, min(a, 100 - a) / 10)`` (rising to 5 at ``a = 50``, falling
after). An ``lr`` at or below the best gains ``lr``; above it, the step gains ``best - (lr -
best) / 2`` (overshooting loses ground). The starting ``lr`` values (0.001-0.2) are far below
the best past ``a = 2``, so reaching the target (30 by default) takes PBT raising ``lr``.
Each step sleeps ``--sleep-s``; checkpoints hold ``a`` and the id of the trial that wrote
them.

Each side: ``PopulationBasedTraining(time_attr="training_iteration",
metric="mean_accuracy", mode="max", perturbation_interval=4, hyperparam_mutations={"lr":
uniform 0.01-5}, quantile_fraction=0.25)`` over 8 class trials (a grid of
starting ``lr`` from 0.001 to 0.2) on ``--slots`` one-CPU slots; a stopper ends the run when
any trial reaches ``--target`` (or a trial reaches 400 iterations); the default loggers are
off on both sides. A ``Callback`` on the driver records:

- **time to target**: from the ``tune.run`` call to the first result with ``mean_accuracy``
  ≥ target;
- **exploit latency**: a trial's first result computed from a checkpoint another trial
  wrote (the trainable marks it) minus the arrival of that trial's previous result, the one
  PBT decided the exploit on. It includes one step (``--sleep-s``) and any wait for a slot.

The dasktune side needs ``dasktune.schedulers.PopulationBasedTraining``; with
``BENCH_DASKTUNE_PATH=/other/worktree`` it imports dasktune from there (the cluster then runs
in the measuring process).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import side_by_side as sbs

START_LRS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
MAX_ITER = 400


def best_lr(a: float) -> float:
    """The learning rate that gains most at accuracy ``a`` (the triangle)."""
    return max(0.1, min(a, 100.0 - a) / 10.0)


def advance(a: float, lr: float) -> float:
    """Accuracy after one step at ``lr``."""
    best = best_lr(a)
    gain = lr if lr <= best else best - (lr - best) / 2.0
    return min(100.0, max(0.0, a + gain))


def sample_lr() -> float:
    """PBT's resample of ``lr`` (a plain callable: both frameworks accept one)."""
    return random.uniform(0.01, 5.0)


def make_trainable(tune: Any, side: str) -> type:
    """The toy trainable, against either framework's ``tune.Trainable``."""

    class Triangle(tune.Trainable):
        """One PBT member of the toy problem."""

        def setup(self, config: dict) -> None:
            self.lr = float(config["lr"])
            self.sleep_s = float(config["sleep_s"])
            self.acc = 0.0
            self.cloned_from: str | None = None

        def step(self) -> dict:
            time.sleep(self.sleep_s)
            self.acc = advance(self.acc, self.lr)
            result: dict = {"mean_accuracy": self.acc, "lr": self.lr, "best_lr": best_lr(self.acc)}
            if self.cloned_from is not None:
                result["exploited_from"] = self.cloned_from
                self.cloned_from = None
            return result

        def save_checkpoint(self, checkpoint_dir: str) -> Any:
            with open(os.path.join(checkpoint_dir, "state.json"), "w") as f:
                json.dump({"acc": self.acc, "owner": self.trial_id}, f)
            return checkpoint_dir if side == "dasktune" else None

        def load_checkpoint(self, checkpoint: Any) -> None:
            with open(os.path.join(checkpoint, "state.json")) as f:
                state = json.load(f)
            self.acc = state["acc"]
            if state["owner"] != self.trial_id:
                self.cloned_from = state["owner"]

        def reset_config(self, new_config: dict) -> bool:
            self.lr = float(new_config["lr"])
            self.sleep_s = float(new_config["sleep_s"])
            return True

    return Triangle


def make_callback_and_stopper(base_cb: type, base_stop: type, target: float) -> tuple[Any, Any]:
    """The recording callback and the stop-at-target stopper on either framework's bases."""

    class Recorder(base_cb):
        def __init__(self) -> None:
            self.t0 = time.perf_counter()
            self.last_seen: dict[str, float] = {}
            self.latencies: list[float] = []
            self.reached_s: float | None = None
            self.results = 0

        def on_trial_result(self, iteration, trials, trial, result, **info):
            now = time.perf_counter()
            self.results += 1
            tid = trial.trial_id
            if result.get("exploited_from") and tid in self.last_seen:
                self.latencies.append(now - self.last_seen[tid])
            self.last_seen[tid] = now
            if self.reached_s is None and result.get("mean_accuracy", 0) >= target:
                self.reached_s = now - self.t0

    class AtTarget(base_stop):
        def __init__(self) -> None:
            self.reached = False

        def __call__(self, trial_id, result):
            if result.get("mean_accuracy", 0) >= target:
                self.reached = True
            return self.reached or result.get("training_iteration", 0) >= MAX_ITER

        def stop_all(self):
            return self.reached

    return Recorder(), AtTarget()


def measure(side: str, args: argparse.Namespace) -> None:
    """Run one side and emit its record."""
    random.seed(args.seed)
    local = tempfile.mkdtemp(prefix=f"bench-pbt-{side}-")
    pbt_kwargs: dict[str, Any] = dict(
        time_attr="training_iteration",
        metric="mean_accuracy",
        mode="max",
        perturbation_interval=4,
        hyperparam_mutations={"lr": sample_lr},
        quantile_fraction=0.25,
    )
    common: dict[str, Any] = dict(
        resources_per_trial={"cpu": 1}, reuse_actors=args.reuse_actors, verbose=0
    )
    if side == "ray":
        # Loggers off on both sides: this measures the scheduler (and in a fresh process
        # dasktune's TensorBoard logger could import torch, which the Ray venv lacks).
        os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
        ray = sbs.ray_init(args.slots)
        from ray import tune
        from ray.tune import Callback
        from ray.tune.schedulers import PopulationBasedTraining
        from ray.tune.stopper import Stopper

        recorder, stopper = make_callback_and_stopper(Callback, Stopper, args.target)
        config = {"lr": tune.grid_search(list(START_LRS)), "sleep_s": args.sleep_s}
        recorder.t0 = time.perf_counter()
        analysis = tune.run(
            make_trainable(tune, side),
            config=config,
            scheduler=PopulationBasedTraining(**pbt_kwargs),
            stop=stopper,
            callbacks=[recorder],
            storage_path=local,
            **common,
        )
        wall = time.perf_counter() - recorder.t0
        version = ray.__version__
        trials = analysis.trials
        ray.shutdown()
    else:
        tune = sbs.import_dasktune()
        from dasktune.schedulers import PopulationBasedTraining

        recorder, stopper = make_callback_and_stopper(tune.Callback, tune.Stopper, args.target)
        config = {"lr": tune.grid_search(list(START_LRS)), "sleep_s": args.sleep_s}
        with sbs.dasktune_client(args.slots) as client:
            recorder.t0 = time.perf_counter()
            analysis = tune.run(
                make_trainable(tune, side),
                config=config,
                scheduler=PopulationBasedTraining(**pbt_kwargs),
                stop=stopper,
                callbacks=[recorder],
                local_dir=local,
                client=client,
                loggers=[],
                **common,
            )
            wall = time.perf_counter() - recorder.t0
        version = getattr(tune, "__version__", "?")
        trials = analysis.trials
    lat = recorder.latencies
    best = max(((t.last_result or {}).get("mean_accuracy", 0) for t in trials), default=0)
    sbs.emit_record(
        side,
        version=version,
        wall_s=round(wall, 3),
        time_to_target_s=None if recorder.reached_s is None else round(recorder.reached_s, 3),
        best_accuracy=round(best, 3),
        results=recorder.results,
        exploits=len(lat),
        exploit_latency_s={
            "median": sbs.median(lat),
            "p95": sbs.percentile(lat, 0.95),
            "max": max(lat, default=None),
        },
        latencies=[round(x, 4) for x in lat],
        trials=len(trials),
        errored=sum(str(t.status).upper().endswith("ERROR") for t in trials),
        sleep_s=args.sleep_s,
        slots=args.slots,
        target=args.target,
        reuse_actors=args.reuse_actors,
    )
    shutil.rmtree(local, ignore_errors=True)  # trial dirs: nothing in them is reported


def report(records: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The markdown table of the records."""
    lines = [
        f"`python -m bench.pbt --slots {args.slots} --target "
        f"{args.target} --sleep-s {args.sleep_s}`: reuse_actors={args.reuse_actors}, "
        "perturbation_interval=4, quantile_fraction=0.25.",
        "",
        "| side | time to target s | wall s | results | exploits | **exploit latency median / "
        "p95 s** | max s | errored | load before/after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['side']} | failed: {r['error']} ||||||||")
            continue
        lat = r["exploit_latency_s"]
        lines.append(
            f"| {r['side']} {r['version']} | {sbs.fmt(r['time_to_target_s'], 1)} | "
            f"{r['wall_s']:.1f} | {r['results']} | {r['exploits']} | "
            f"**{sbs.fmt(lat['median'])} / {sbs.fmt(lat['p95'])}** | {sbs.fmt(lat['max'])} | "
            f"{r['errored']} | {r['load_before']}/{r['load_after']} |"
        )
    lines += ["", "Exploit latency percentiles (s):", ""]
    for r in records:
        if "error" not in r and r["latencies"]:
            qs = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0)
            cells = ", ".join(
                f"p{round(q * 100)} {sbs.fmt(sbs.percentile(r['latencies'], q))}" for q in qs
            )
            lines.append(f"- {r['side']}: {cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runner (no ``--side``) or one measured side."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", choices=sbs.SIDES)
    p.add_argument("--sides", default="dasktune,ray")
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--target", type=float, default=30.0)
    p.add_argument("--sleep-s", type=float, default=0.05, help="sleep per training step")
    p.add_argument("--seed", type=int, default=0, help="the driver's random seed (PBT's draws)")
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--no-reuse-actors", dest="reuse_actors", action="store_false")
    p.add_argument("--no-install", action="store_true", help="never install the Ray venv")
    p.add_argument("--name", default="pbt", help="results file name part")
    args = p.parse_args(argv)
    if args.side:
        measure(args.side, args)
        return 0
    pythons = sbs.interpreters(args.sides.split(","), install=not args.no_install)
    passed = [
        f"--slots={args.slots}",
        f"--target={args.target}",
        f"--sleep-s={args.sleep_s}",
        f"--seed={args.seed}",
    ] + ([] if args.reuse_actors else ["--no-reuse-actors"])
    records = []
    for _ in range(args.reps):
        for side, python in pythons.items():
            rec = sbs.run_side("bench.pbt", python, side, passed, 1200)
            records.append(rec)
            if "error" not in rec:
                sbs.log(
                    f"  {side}: target in {rec['time_to_target_s']} s, "
                    f"exploit latency {rec['exploit_latency_s']}"
                )
    body = report(records, args)
    print(body)
    sbs.write_outputs(
        args.name,
        "PBT: time to target and exploit latency, dasktune vs Ray Tune",
        sbs.machine(pythons),
        records,
        body,
    )
    return 0 if all("error" not in r for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
