"""Pause/resume cost in synchronous HyperBand with 1 MB checkpoints, dasktune vs Ray Tune.

    python -m bench.pause_resume [--max-t 27] [--sleep-s 0.05] [--checkpoint-mb 1] [--reps 1]

Each side, in one process on one cluster (one Ray instance), runs twice:

1. ``HyperBandScheduler(max_t=--max-t, reduction_factor=3)`` (synchronous: a trial that
   reaches its rung's milestone is PAUSED, saving a checkpoint, until the rung is complete;
   the promoted ones then resume from their checkpoints, the rest stop), over one full
   HyperBand iteration of trials (49 for ``max_t=27``);
2. the same work without pauses: FIFO, every trial running exactly as many steps as it ran
   under HyperBand (it reports ``done`` then), same trials, same order.

A one-trial, one-step warm-up run comes first (worker imports). Both on ONE slot
(``num_cpus=1`` / one Dask worker thread) with ``reuse_actors=False`` (a paused trial holds
no actor), so nothing overlaps and the difference of the walls is what the pauses cost.
Every step sleeps ``--sleep-s``; every checkpoint writes ``--checkpoint-mb`` of random bytes
(and a restore reads them back). The trainable appends a line per setup, save and restore to
an events file, from which the pauses (saves) and resumes (restores) are counted. Per
pause+resume cycle: (HyperBand wall − FIFO wall) ÷ resumes; this charges the saves of trials
paused and then stopped to the cycles that did resume, so it is also given per pause.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import side_by_side as sbs

RF = 3
PAYLOAD = "payload.bin"


def hyperband_trials(max_t: int, rf: int = RF) -> int:
    """Trials in one full HyperBand iteration (all brackets filled), as Ray counts them."""
    s_max_1 = int(round(math.log(max_t) / math.log(rf))) + 1
    return sum(math.ceil(s_max_1 / (s + 1) * rf**s) for s in range(s_max_1))


def make_trainable(tune: Any, side: str) -> type:
    """The checkpointing trainable, against either framework's ``tune.Trainable``."""

    class Steps(tune.Trainable):
        """Sleeps per step; checkpoints a payload; logs setups, saves and restores."""

        def setup(self, config: dict) -> None:
            self.i = int(config["i"])
            self.sleep_s = float(config["sleep_s"])
            self.steps = config.get("plan", {}).get(str(self.i))  # FIFO: stop there
            self.payload = os.urandom(int(float(config["checkpoint_mb"]) * 2**20))
            self.events = config["events"]
            self.t = 0
            self._log("setup")

        def _log(self, event: str) -> None:
            with open(self.events, "a") as f:
                f.write(json.dumps({"ev": event, "i": self.i, "at": time.time()}) + "\n")

        def step(self) -> dict:
            time.sleep(self.sleep_s)
            self.t += 1
            result: dict = {"score": (self.i % 7) + self.t / 100.0}
            if self.steps is not None and self.t >= self.steps:
                result["done"] = True
            return result

        def save_checkpoint(self, checkpoint_dir: str) -> Any:
            with open(os.path.join(checkpoint_dir, PAYLOAD), "wb") as f:
                f.write(self.payload)
            with open(os.path.join(checkpoint_dir, "t.json"), "w") as f:
                json.dump({"t": self.t}, f)
            self._log("save")
            # dasktune (Ray 0.8-1.x contract) wants the path back; Ray 2.x wants None/dict.
            return checkpoint_dir if side == "dasktune" else None

        def load_checkpoint(self, checkpoint: Any) -> None:
            with open(os.path.join(checkpoint, PAYLOAD), "rb") as f:
                self.payload = f.read()
            with open(os.path.join(checkpoint, "t.json")) as f:
                self.t = json.load(f)["t"]
            self._log("restore")

    return Steps


def _count(events: str) -> dict[str, int]:
    counts = {"setup": 0, "save": 0, "restore": 0}
    with open(events) as f:
        for line in f:
            counts[json.loads(line)["ev"]] += 1
    return counts


def measure(side: str, args: argparse.Namespace) -> None:
    """Run HyperBand then the same work under FIFO on one side; emit the record."""
    n = hyperband_trials(args.max_t)
    local = tempfile.mkdtemp(prefix=f"bench-pause-{side}-")
    base = {"sleep_s": args.sleep_s, "checkpoint_mb": args.checkpoint_mb}
    common: dict[str, Any] = dict(resources_per_trial={"cpu": 1}, reuse_actors=False, verbose=0)
    out: dict[str, Any] = {}

    def one(run: Any, tune: Any, trainable: type, name: str, extra: dict) -> None:
        events = os.path.join(local, f"{name}.events")
        trials = list(range(1 if name == "warmup" else n))
        config = {**base, "events": events, "i": tune.grid_search(trials), **extra}
        kwargs = dict(config=config, name=name, **common)
        if name == "hyperband":
            from_mod = "ray.tune.schedulers" if side == "ray" else "dasktune.schedulers"
            hb = __import__(from_mod, fromlist=["HyperBandScheduler"]).HyperBandScheduler
            kwargs["scheduler"] = hb(
                metric="score", mode="max", max_t=args.max_t, reduction_factor=RF
            )
        t0, started_at = time.perf_counter(), time.time()
        analysis = run(trainable, **kwargs)
        wall = time.perf_counter() - t0
        if name == "warmup":
            return
        with open(events) as f:
            stamps = [json.loads(line)["at"] for line in f]
        steps = {
            str(t.config["i"]): int((t.last_result or {}).get("training_iteration", 0) or 0)
            for t in analysis.trials
        }
        out[name] = {
            "wall_s": round(wall, 3),
            "trials": len(analysis.trials),
            "errored": sum(str(t.status).upper().endswith("ERROR") for t in analysis.trials),
            "steps": sum(steps.values()),
            "events": _count(events),
            # before the first setup and after the last event: start-up and wind-down
            "lead_s": round(min(stamps) - started_at, 3),
            "trail_s": round(started_at + wall - max(stamps), 3),
            "per_trial_steps": steps,
        }

    if side == "ray":
        ray = sbs.ray_init(1)
        from ray import tune

        def run(trainable: type, **kw: Any) -> Any:
            return tune.run(trainable, storage_path=local, **kw)

        trainable = make_trainable(tune, side)
        one(run, tune, trainable, "warmup", {"plan": {"0": 1}})
        one(run, tune, trainable, "hyperband", {})
        one(run, tune, trainable, "fifo", {"plan": out["hyperband"]["per_trial_steps"]})
        version = ray.__version__
        ray.shutdown()
    else:
        tune = sbs.import_dasktune()
        trainable = make_trainable(tune, side)
        with sbs.dasktune_client(1, n_workers=1) as client:

            def run(trainable: type, **kw: Any) -> Any:
                return tune.run(trainable, local_dir=local, client=client, **kw)

            one(run, tune, trainable, "warmup", {"plan": {"0": 1}})
            one(run, tune, trainable, "hyperband", {})
            one(run, tune, trainable, "fifo", {"plan": out["hyperband"]["per_trial_steps"]})
        version = getattr(tune, "__version__", "?")
    hb, fifo = out["hyperband"], out["fifo"]
    extra_s = hb["wall_s"] - fifo["wall_s"]
    pauses, resumes = hb["events"]["save"], hb["events"]["restore"]
    sbs.emit_record(
        side,
        version=version,
        hyperband={k: v for k, v in hb.items() if k != "per_trial_steps"},
        fifo={k: v for k, v in fifo.items() if k != "per_trial_steps"},
        same_work=hb["per_trial_steps"] == fifo["per_trial_steps"],
        extra_s=round(extra_s, 3),
        pauses=pauses,
        resumes=resumes,
        per_cycle_s=round(extra_s / resumes, 4) if resumes else None,
        per_pause_s=round(extra_s / pauses, 4) if pauses else None,
        max_t=args.max_t,
        sleep_s=args.sleep_s,
        checkpoint_mb=args.checkpoint_mb,
    )
    shutil.rmtree(local, ignore_errors=True)  # trial dirs: nothing in them is reported


def report(records: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The markdown table of the records."""
    lines = [
        f"`python -m bench.pause_resume --max-t {args.max_t} --sleep-s {args.sleep_s} "
        f"--checkpoint-mb {args.checkpoint_mb}`: {hyperband_trials(args.max_t)} trials, "
        f"HyperBand max_t={args.max_t}, reduction_factor={RF}, 1 slot, reuse_actors=False.",
        "",
        "| side | HyperBand wall s | same work, FIFO, wall s | steps (HB/FIFO) | pauses (saves) | "
        "resumes (restores) | **s per pause+resume** | s per pause | errored | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['side']} | failed: {r['error']} |||||||||")
            continue
        hb, fifo = r["hyperband"], r["fifo"]
        lines.append(
            f"| {r['side']} {r['version']} | {hb['wall_s']:.1f} | {fifo['wall_s']:.1f} | "
            f"{hb['steps']}/{fifo['steps']}{'' if r['same_work'] else ' (differ!)'} | "
            f"{r['pauses']} | {r['resumes']} | **{sbs.fmt(r['per_cycle_s'])}** | "
            f"{sbs.fmt(r['per_pause_s'])} | {hb['errored'] + fifo['errored']} | "
            f"{r['load_before']}/{r['load_after']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runner (no ``--side``) or one measured side."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", choices=sbs.SIDES)
    p.add_argument("--sides", default="dasktune,ray")
    p.add_argument("--max-t", type=int, default=27)
    p.add_argument("--sleep-s", type=float, default=0.05, help="sleep per training step")
    p.add_argument("--checkpoint-mb", type=float, default=1.0)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--no-install", action="store_true", help="never install the Ray venv")
    p.add_argument("--name", default="pause-resume", help="results file name part")
    args = p.parse_args(argv)
    if args.side:
        measure(args.side, args)
        return 0
    pythons = sbs.interpreters(args.sides.split(","), install=not args.no_install)
    passed = [
        f"--max-t={args.max_t}",
        f"--sleep-s={args.sleep_s}",
        f"--checkpoint-mb={args.checkpoint_mb}",
    ]
    records = []
    for _ in range(args.reps):
        for side, python in pythons.items():
            rec = sbs.run_side("bench.pause_resume", python, side, passed, 1800)
            records.append(rec)
            if "error" not in rec:
                sbs.log(f"  {side}: {rec['per_cycle_s']} s per pause+resume")
    body = report(records, args)
    print(body)
    sbs.write_outputs(
        args.name,
        "Pause/resume cost in synchronous HyperBand, dasktune vs Ray Tune",
        sbs.machine(pythons),
        records,
        body,
    )
    return 0 if all("error" not in r for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
