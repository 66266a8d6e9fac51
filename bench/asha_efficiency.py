"""ASHA efficiency: wall time ÷ (work ASHA chose to run ÷ slots), dasktune and Ray Tune.

    python -m bench.asha_efficiency [--sleep-s 0.5] [--trials 256] [--slots 8] [--reps 1]
                                    [--reuse-actors] [--sides dasktune,ray]

Each side runs ``tune.run`` of ``--trials`` class trainables (a grid over a trial index, the
same trials in the same order on both sides) under ``AsyncHyperBandScheduler`` /
``ASHAScheduler`` with ``max_t=81``, ``grace_period=1``, ``reduction_factor=3``, one bracket,
on ``--slots`` one-CPU slots. A trial's step sleeps ``--sleep-s`` and reports a synthetic
learning curve ``score = q * (1 - exp(-t / tau))`` (``q`` and ``tau`` drawn from the trial
index, so curves cross and ASHA's choices matter). The work ASHA chose to run is the sum of
the trials' final ``training_iteration`` times the sleep; with perfect packing and no
overhead the run would take that work ÷ slots. The figure is ``tune.run``'s wall (call to
return) divided by that; target ≤ 1.05. Also reported: the bound ASHA's own choices set,
max(work ÷ slots, the longest trial), since the last promoted trials run alone at the end.
"""

from __future__ import annotations

import argparse
import math
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

MAX_T, GRACE, RF = 81, 1, 3


def curve(index: int) -> tuple[float, float]:
    """The trial's (q, tau): final score and time constant, fixed by its index."""
    rng = random.Random(index)
    return rng.uniform(0.5, 1.0), rng.uniform(2.0, 40.0)


def make_trainable(tune: Any) -> type:
    """The learning-curve trainable, against either framework's ``tune.Trainable``."""

    class Curve(tune.Trainable):
        """Sleeps per step and reports a point of its synthetic learning curve."""

        def setup(self, config: dict) -> None:
            self.q, self.tau = curve(int(config["i"]))
            self.sleep_s = float(config["sleep_s"])
            self.t = 0
            self.started_at = time.time()

        def step(self) -> dict:
            time.sleep(self.sleep_s)
            self.t += 1
            return {
                "score": self.q * (1.0 - math.exp(-self.t / self.tau)),
                "started_at": self.started_at,
                "ended_at": time.time(),
            }

        def reset_config(self, new_config: dict) -> bool:
            self.setup(new_config)
            return True

    return Curve


def launch_gaps(spans: list[tuple[float, float]], slots: int) -> dict[str, float | None]:
    """Idle slot time per trial launch while trials were still waiting to start.

    ``spans`` are the trials' (setup, last step's end) times. Between the first setup and
    the last one every slot should be busy; the slot-seconds not covered by a span there,
    divided by the launches after the first ``slots``, is what each stop-and-start cost. The
    rest of the run (``tail_s``, last setup to last step) is the promoted trials finishing.
    """
    if len(spans) <= slots:
        return {"idle_per_launch_s": None, "tail_s": None}
    first = min(s for s, _ in spans)
    last_start = max(s for s, _ in spans)
    busy = sum(max(0.0, min(e, last_start) - max(s, first)) for s, e in spans)
    idle = slots * (last_start - first) - busy
    return {
        "idle_per_launch_s": round(idle / (len(spans) - slots), 4),
        "fill_s": round(last_start - first, 3),
        "tail_s": round(max(e for _, e in spans) - last_start, 3),
    }


def measure(side: str, args: argparse.Namespace) -> None:
    """Run one side and emit its record."""
    local = tempfile.mkdtemp(prefix=f"bench-asha-{side}-")
    common: dict[str, Any] = dict(
        stop={"training_iteration": MAX_T},
        resources_per_trial={"cpu": 1},
        reuse_actors=args.reuse_actors,
        verbose=0,
    )
    if side == "ray":
        ray = sbs.ray_init(args.slots)
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler

        sched = ASHAScheduler(
            metric="score", mode="max", max_t=MAX_T, grace_period=GRACE, reduction_factor=RF
        )
        config = {"i": tune.grid_search(list(range(args.trials))), "sleep_s": args.sleep_s}
        t0 = time.perf_counter()
        analysis = tune.run(
            make_trainable(tune), config=config, scheduler=sched, storage_path=local, **common
        )
        wall = time.perf_counter() - t0
        version = ray.__version__
        trials = analysis.trials
        ray.shutdown()
    else:
        dasktune = sbs.import_dasktune()
        from dasktune.schedulers import ASHAScheduler

        sched = ASHAScheduler(
            metric="score", mode="max", max_t=MAX_T, grace_period=GRACE, reduction_factor=RF
        )
        config = {"i": dasktune.grid_search(list(range(args.trials))), "sleep_s": args.sleep_s}
        with sbs.dasktune_client(args.slots) as client:
            t0 = time.perf_counter()
            analysis = dasktune.run(
                make_trainable(dasktune),
                config=config,
                scheduler=sched,
                local_dir=local,
                client=client,
                **common,
            )
            wall = time.perf_counter() - t0
        version = getattr(dasktune, "__version__", "?")
        trials = analysis.trials
    steps = [int((t.last_result or {}).get("training_iteration", 0) or 0) for t in trials]
    errored = sum(str(t.status).upper().endswith("ERROR") for t in trials)
    work_s = sum(steps) * args.sleep_s
    ideal_s = work_s / args.slots
    bound_s = max(ideal_s, max(steps, default=0) * args.sleep_s)
    spans = [
        (float(t.last_result["started_at"]), float(t.last_result["ended_at"]))
        for t in trials
        if (t.last_result or {}).get("started_at")
    ]
    rungs = {str(m): sum(s >= m for s in steps) for m in (1, 3, 9, 27, 81)}
    sbs.emit_record(
        side,
        version=version,
        wall_s=round(wall, 3),
        trials=len(trials),
        errored=errored,
        steps=sum(steps),
        work_s=round(work_s, 3),
        ideal_s=round(ideal_s, 3),
        bound_s=round(bound_s, 3),
        efficiency=round(wall / ideal_s, 4) if ideal_s else None,
        over_bound=round(wall / bound_s, 4) if bound_s else None,
        reached_rung=rungs,
        **launch_gaps(spans, args.slots),
        sleep_s=args.sleep_s,
        slots=args.slots,
        reuse_actors=args.reuse_actors,
    )
    shutil.rmtree(local, ignore_errors=True)  # trial dirs: nothing in them is reported


def report(records: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The markdown table of the records."""
    lines = [
        f"`python -m bench.asha_efficiency --sleep-s {args.sleep_s} --trials {args.trials} "
        f"--slots {args.slots}{' --reuse-actors' if args.reuse_actors else ''}`: "
        f"ASHA max_t={MAX_T}, grace_period={GRACE}, reduction_factor={RF}, "
        f"reuse_actors={args.reuse_actors}.",
        "",
        "| side | wall s | steps run | work ÷ slots s | **wall ÷ (work ÷ slots)** | "
        "ASHA's bound s | wall ÷ bound | idle slot s per launch | tail s | "
        "trials reaching t=1/3/9/27/81 | errored | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['side']} | failed: {r['error']} |||||||||||")
            continue
        reached = "/".join(str(v) for v in r["reached_rung"].values())
        lines.append(
            f"| {r['side']} {r['version']} | {r['wall_s']:.1f} | {r['steps']} | "
            f"{r['ideal_s']:.1f} | **{r['efficiency']:.3f}** | {r['bound_s']:.1f} | "
            f"{r['over_bound']:.3f} | {sbs.fmt(r.get('idle_per_launch_s'))} | "
            f"{sbs.fmt(r.get('tail_s'), 1)} | {reached} | {r['errored']} | "
            f"{r['load_before']}/{r['load_after']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runner (no ``--side``) or one measured side."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", choices=sbs.SIDES)
    p.add_argument("--sides", default="dasktune,ray")
    p.add_argument("--sleep-s", type=float, default=0.5, help="sleep per training step")
    p.add_argument("--trials", type=int, default=256)
    p.add_argument("--slots", type=int, default=8)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--reuse-actors", action="store_true")
    p.add_argument("--no-install", action="store_true", help="never install the Ray venv")
    p.add_argument("--name", default="asha-efficiency", help="results file name part")
    args = p.parse_args(argv)
    if args.side:
        measure(args.side, args)
        return 0
    pythons = sbs.interpreters(args.sides.split(","), install=not args.no_install)
    passed = [
        f"--sleep-s={args.sleep_s}",
        f"--trials={args.trials}",
        f"--slots={args.slots}",
    ] + (["--reuse-actors"] if args.reuse_actors else [])
    records = []
    for _ in range(args.reps):
        for side, python in pythons.items():
            rec = sbs.run_side("bench.asha_efficiency", python, side, passed, 1800)
            records.append(rec)
            if "error" not in rec:
                sbs.log(f"  {side}: wall {rec['wall_s']} s, ratio {rec['efficiency']}")
    body = report(records, args)
    print(body)
    sbs.write_outputs(
        args.name, "ASHA efficiency, dasktune vs Ray Tune", sbs.machine(pythons), records, body
    )
    return 0 if all("error" not in r for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
