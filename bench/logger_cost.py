"""What the default loggers cost: 8 × 200 no-op results with loggers on vs off, dasktune and
Ray Tune side by side, in one invocation.

    python -m bench.logger_cost [--reps 3] [--paired-reps 5] [--sides dasktune,ray]

Two measures:

1. **Process per run, both frameworks** (the measure behind issue 14's Ray figure, 182 vs
   216 results/s): the ``throughput`` workload of :mod:`bench.workloads_dasktune` and
   :mod:`bench.workloads_ray` (8 class trials × 200 no-op results, 16 one-CPU slots, a fresh
   process and cluster per run, ``tune.run`` timed alone) with ``--loggers on`` (JSON + CSV +
   TensorBoard: both frameworks' defaults) and ``--loggers off`` (dasktune ``loggers=[]``,
   Ray ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1``), interleaved dasktune on, dasktune off, Ray
   on, Ray off per repetition.
2. **dasktune paired on one cluster** (``--side paired``): :func:`bench.user_wall.time_tune_run`
   on one warm ``LocalCluster``, alternating default loggers, ``loggers=[JsonLogger,
   CSVLogger]`` (user_wall's ``--no-tensorboard``) and ``loggers=[]``; the ratio of each
   repetition's pair, so machine drift cancels.

Cost = 1 − (results/s with loggers ÷ results/s without); issue 14's target for dasktune is
≤ 10 %.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import side_by_side as sbs
from bench.common import Params, to_argv

TRIALS, RESULTS = 8, 200
VARIANTS = ("default", "json+csv", "off")


def paired(reps: int) -> None:
    """dasktune only: alternate the logger variants on one warm cluster; emit the record."""
    tune = sbs.import_dasktune()
    from distributed import Client, LocalCluster

    from bench.user_wall import time_tune_run
    from dasktune.logger import CSVLogger, JsonLogger

    extras: dict[str, dict[str, Any]] = {
        "default": {},
        "json+csv": {"loggers": [JsonLogger, CSVLogger]},
        "off": {"loggers": []},
    }
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster, direct_to_workers=True, set_as_default=False)
    try:
        with tempfile.TemporaryDirectory() as local_dir:
            time_tune_run(client, local_dir, 2, 5)  # warm-up: worker imports
            for _ in range(reps):
                for variant in VARIANTS:
                    wall = time_tune_run(client, local_dir, TRIALS, RESULTS, **extras[variant])
                    rates[variant].append(TRIALS * RESULTS / wall["wall"])
    finally:
        client.close()
        cluster.close()
    cost = {
        v: [1 - a / b for a, b in zip(rates[v], rates["off"], strict=True)]
        for v in ("default", "json+csv")
    }
    sbs.emit_record(
        "dasktune",
        version=getattr(tune, "__version__", "?"),
        rates=rates,
        cost=cost,
        cost_median={v: round(statistics.median(c), 4) for v, c in cost.items()},
    )


def _median_rate(records: list[dict[str, Any]], side: str, loggers: bool) -> float | None:
    rates = [
        r["results"] / r["wall_s"]
        for r in records
        if r.get("side") == side
        and "error" not in r
        and r.get("params", {}).get("loggers") is loggers
        and r.get("wall_s")
    ]
    return sbs.median(rates)


def report(records: list[dict[str, Any]], paired_rec: dict[str, Any] | None, reps: int) -> str:
    """Markdown: per framework, results/s on and off and the cost; then the paired figures."""
    lines = [
        f"Process per run: {TRIALS} × {RESULTS} no-op class results, 16 slots, {reps} "
        "repetition(s), interleaved; medians (all runs in the JSON).",
        "",
        "| framework | results/s, loggers on | results/s, loggers off | **cost of the loggers** | "
        "runs' load (1-min) |",
        "|---|---|---|---|---|",
    ]
    for side in ("dasktune", "ray"):
        on, off = _median_rate(records, side, True), _median_rate(records, side, False)
        if on is None or off is None:
            lines.append(f"| {side} | n/a | n/a | n/a | |")
            continue
        loads = [r["load_before"] for r in records if r.get("side") == side]
        lines.append(
            f"| {side} | {on:,.0f} | {off:,.0f} | **{100 * (1 - on / off):.1f} %** | "
            f"{min(loads)}–{max(loads)} |"
        )
    errors = [f"{r.get('side')}: {r['error']}" for r in records if "error" in r]
    if errors:
        lines += ["", "Failed runs: " + "; ".join(errors)]
    if paired_rec and "error" not in paired_rec:
        lines += [
            "",
            f"dasktune paired on one warm cluster (`--side paired`), "
            f"{len(paired_rec['rates']['off'])} alternations, load "
            f"{paired_rec['load_before']}/{paired_rec['load_after']}:",
            "",
            "| loggers | results/s (median, min–max) | cost vs `loggers=[]` (median of pairs) |",
            "|---|---|---|",
        ]
        for v in VARIANTS:
            rs = paired_rec["rates"][v]
            cost = paired_rec["cost_median"].get(v)
            lines.append(
                f"| {v} | {statistics.median(rs):,.0f} ({min(rs):,.0f}–{max(rs):,.0f}) | "
                f"{'—' if cost is None else f'{100 * cost:.1f} %'} |"
            )
    elif paired_rec:
        lines += ["", f"Paired dasktune run failed: {paired_rec['error']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runner (no ``--side``) or the paired dasktune process (``--side paired``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", choices=("paired",))
    p.add_argument("--sides", default="dasktune,ray")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--paired-reps", type=int, default=5, help="0 skips the paired measure")
    p.add_argument("--no-install", action="store_true", help="never install the Ray venv")
    p.add_argument("--name", default="logger-cost", help="results file name part")
    args = p.parse_args(argv)
    if args.side == "paired":
        paired(args.paired_reps)
        return 0
    from bench.run import run_process

    pythons = sbs.interpreters(args.sides.split(","), install=not args.no_install)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(sbs.ROOT), env.get("PYTHONPATH", "")) if p)
    records: list[dict[str, Any]] = []
    for _ in range(args.reps):
        for side, python in pythons.items():
            for loggers in (True, False):
                params = Params("throughput", trials=TRIALS, results=RESULTS, loggers=loggers)
                module = "bench.workloads_dasktune" if side == "dasktune" else "bench.workloads_ray"
                before = sbs.load_average()
                sbs.log(f"{module} loggers={'on' if loggers else 'off'} (load {before})")
                rec = run_process([python, "-m", module, *to_argv(params)], env, 600)
                rec.update(side=side, load_before=before, load_after=sbs.load_average())
                if "error" in rec:
                    sbs.log(f"  failed: {rec['error']}")
                elif rec.get("results") != TRIALS * RESULTS or rec.get("errored"):
                    rec["error"] = f"{rec.get('results')} results, {rec.get('errored')} errored"
                else:
                    sbs.log(f"  {rec['results'] / rec['wall_s']:.0f} results/s")
                records.append(rec)
    paired_rec = None
    if "dasktune" in pythons and args.paired_reps > 0:
        paired_rec = sbs.run_side(
            "bench.logger_cost",
            sys.executable,
            "paired",
            [f"--paired-reps={args.paired_reps}"],
            900,
        )
    body = report(records, paired_rec, args.reps)
    print(body)
    sbs.write_outputs(
        args.name,
        "Cost of the default loggers, dasktune vs Ray Tune",
        sbs.machine(pythons),
        records + ([paired_rec] if paired_rec else []),
        body,
    )
    return 0 if all("error" not in r for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
