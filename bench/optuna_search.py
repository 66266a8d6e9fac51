"""Optuna TPE through three executors, same objective and seed (issue 13's benchmark).

    python -m bench.optuna_search               # every arm, one run each, then the table
    python -m bench.optuna_search --trials 40   # a quick look

Arms, each in a fresh process:

* ``dasktune``: ``tune.run(search_alg=dasktune.search.optuna.OptunaSearch(seed=...))`` on a
  Dask cluster of ``--slots`` slots (scheduler and workers in a child process);
* ``ray``: ``tune.run(search_alg=ray.tune.search.optuna.OptunaSearch(seed=...))`` with
  ``ray.init(num_cpus=slots)``, in the benchmark Ray venv (:mod:`bench.ray_env`);
* ``daskstorage``: plain Optuna with ``optuna.integration.DaskStorage`` on the same kind of
  Dask cluster, ``slots`` tasks submitted with ``client.submit``, each running
  ``study.optimize`` for its share of the trials (each with its own sampler seed, ``seed + i``:
  the same seed everywhere would make every task suggest the same start-up configs);
* ``adapter``: dasktune's OptunaSearch through the real controller and driver on the
  simulated backend (no cluster, simulated time), over the same seeds as ``plain``: the
  adapter's best values without timing noise;
* ``plain``: Optuna alone, no executor, to check that the adapters do not degrade the
  sampler: the best value after ``--trials`` trials, sequential and with ``slots`` trials in
  flight (ask ``slots``, then tell them), over several seeds for the seed noise.

Each trial reports ONE result after sleeping ``--interval-s``. Measured: wall time of the
search (cluster start-up excluded), driver-process CPU, CPU of the whole run (driver,
scheduler and workers; for Ray every process the driver started), and for the two tune
adapters the searcher's own time per trial (``suggest`` + ``on_trial_complete``).

Prints one JSON line per arm (``bench_record``) and writes
``bench/results/<date>-optuna-search.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a plain script: make ``import bench`` work
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import RECORD_KEY, cpu_s

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

ROOT = Path(__file__).resolve().parent.parent
METRIC = "loss"


def loss(lr: float, x: float, layers: int) -> float:
    """The objective: a log-scale valley in ``lr``, a quadratic in ``x``, a small integer
    term; its minimum is 0 at lr=10**-2.5, x=0.3, layers=3."""
    return (math.log10(lr) + 2.5) ** 2 + (x - 0.3) ** 2 + 0.1 * (layers - 3) ** 2


def _getrusage_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _cluster_cpu(client: Any) -> float:
    """CPU seconds used so far by the scheduler and every worker process."""
    total = client.run_on_scheduler(_getrusage_s)
    return total + sum(client.run(_getrusage_s).values())


def _emit(arm: str, **fields: Any) -> None:
    record = {RECORD_KEY: 1, "arm": arm, "pid": os.getpid(), **fields}
    print(json.dumps(record), flush=True)


# -- dasktune ------------------------------------------------------------------------------


def run_dasktune(trials: int, slots: int, interval_s: float, seed: int) -> None:
    """The dasktune arm (system interpreter)."""
    from dask.distributed import Client

    import dasktune as tune
    from bench.cluster import dask_cluster
    from dasktune.search.optuna import OptunaSearch

    class Timed(OptunaSearch):
        spent = 0.0

        def suggest(self, trial_id):  # type: ignore[override]
            t0 = time.perf_counter()
            try:
                return super().suggest(trial_id)
            finally:
                Timed.spent += time.perf_counter() - t0

        def on_trial_complete(self, trial_id, result=None, error=False):  # type: ignore[override]
            t0 = time.perf_counter()
            try:
                super().on_trial_complete(trial_id, result, error=error)
            finally:
                Timed.spent += time.perf_counter() - t0

    def objective(config: dict[str, Any]) -> None:
        time.sleep(config["interval_s"])
        tune.report(loss=loss(config["lr"], config["x"], config["layers"]))

    space = {
        "lr": tune.loguniform(1e-5, 1e-1),
        "x": tune.uniform(-1.0, 1.0),
        "layers": tune.randint(1, 8),
        "interval_s": interval_s,
    }
    searcher = Timed(metric=METRIC, mode="min", seed=seed)
    with dask_cluster(slots=slots, n_workers=2) as address, Client(address) as client:
        local = tempfile.mkdtemp(prefix="bench-optuna-dasktune-")
        cluster0, cpu0, t0 = _cluster_cpu(client), cpu_s(), time.perf_counter()
        analysis = tune.run(
            objective,
            search_alg=searcher,
            num_samples=trials,
            config=space,
            client=client,
            local_dir=local,
            verbose=0,
        )
        wall, cpu = time.perf_counter() - t0, cpu_s() - cpu0
        cluster_cpu = _cluster_cpu(client) - cluster0
    values = [t.last_result[METRIC] for t in analysis.trials if METRIC in t.last_result]
    _emit(
        "dasktune",
        trials=len(analysis.trials),
        wall_s=wall,
        driver_cpu_s=cpu,
        total_cpu_s=cpu + cluster_cpu,
        searcher_s=Timed.spent,
        best=min(values),
        study_trials=len(searcher.study.trials),
    )


# -- Ray Tune ------------------------------------------------------------------------------


def run_ray(trials: int, slots: int, interval_s: float, seed: int) -> None:
    """The Ray Tune arm (the benchmark venv's interpreter)."""
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    class Timed(OptunaSearch):
        spent = 0.0

        def suggest(self, trial_id):  # type: ignore[override]
            t0 = time.perf_counter()
            try:
                return super().suggest(trial_id)
            finally:
                Timed.spent += time.perf_counter() - t0

        def on_trial_complete(self, trial_id, result=None, error=False):  # type: ignore[override]
            t0 = time.perf_counter()
            try:
                super().on_trial_complete(trial_id, result, error=error)
            finally:
                Timed.spent += time.perf_counter() - t0

    def objective(config: dict[str, Any]) -> None:
        time.sleep(config["interval_s"])
        tune.report({METRIC: loss(config["lr"], config["x"], config["layers"])})

    space = {
        "lr": tune.loguniform(1e-5, 1e-1),
        "x": tune.uniform(-1.0, 1.0),
        "layers": tune.randint(1, 8),
        "interval_s": interval_s,
    }
    ray.init(num_cpus=slots, include_dashboard=False, logging_level="ERROR")
    searcher = Timed(metric=METRIC, mode="min", seed=seed)
    local = tempfile.mkdtemp(prefix="bench-optuna-ray-")
    tree0 = _tree_cpu()
    cpu0, t0 = cpu_s(), time.perf_counter()
    analysis = tune.run(
        objective,
        search_alg=searcher,
        num_samples=trials,
        config=space,
        resources_per_trial={"cpu": 1},
        storage_path=local,
        verbose=0,
    )
    wall, cpu = time.perf_counter() - t0, cpu_s() - cpu0
    tree = _tree_cpu()
    values = [t.last_result[METRIC] for t in analysis.trials if METRIC in t.last_result]
    _emit(
        "ray",
        trials=len(analysis.trials),
        wall_s=wall,
        driver_cpu_s=cpu,
        # processes that ended during the run (Ray's trial workers are reused) are missed
        total_cpu_s=None if tree is None or tree0 is None else cpu + tree - tree0,
        searcher_s=Timed.spent,
        best=min(values),
        version=ray.__version__,
    )
    ray.shutdown()


def _tree_cpu() -> float | None:
    """CPU seconds of every process the driver started (GCS, raylet, workers), if psutil."""
    try:
        import psutil
    except ImportError:
        return None
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


# -- Optuna's DaskStorage --------------------------------------------------------------------


def _dask_objective(trial: Any, interval_s: float) -> float:
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    x = trial.suggest_float("x", -1.0, 1.0)
    layers = trial.suggest_int("layers", 1, 7)
    time.sleep(interval_s)
    return loss(lr, x, layers)


def _optimize_share(study_name: str, storage: Any, seed: int, n: int, interval_s: float) -> int:
    """One task on a worker: its share of the trials, with a sampler of its own."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=optuna.samplers.TPESampler(seed=seed)
    )
    study.optimize(lambda t: _dask_objective(t, interval_s), n_trials=n)
    return n


def run_daskstorage(trials: int, slots: int, interval_s: float, seed: int) -> None:
    """The plain-Optuna-on-Dask arm (system interpreter; needs optuna-integration)."""
    import optuna
    from dask.distributed import Client, wait

    try:
        from optuna_integration.dask import DaskStorage
    except ImportError as exc:
        raise SystemExit(
            "the daskstorage arm needs Optuna's Dask integration: pip install "
            "'optuna-integration[dask]'"
        ) from exc
    from bench.cluster import dask_cluster

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    shares = [trials // slots + (1 if i < trials % slots else 0) for i in range(slots)]
    with dask_cluster(slots=slots, n_workers=2) as address, Client(address) as client:
        cluster0, cpu0, t0 = _cluster_cpu(client), cpu_s(), time.perf_counter()
        storage = DaskStorage(client=client)
        study = optuna.create_study(storage=storage, direction="minimize")
        futures = [
            client.submit(
                _optimize_share, study.study_name, storage, seed + i, n, interval_s, pure=False
            )
            for i, n in enumerate(shares)
        ]
        wait(futures)
        for future in futures:
            future.result()
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        best = study.best_value
        wall, cpu = time.perf_counter() - t0, cpu_s() - cpu0
        cluster_cpu = _cluster_cpu(client) - cluster0
    _emit(
        "daskstorage",
        trials=len(done),
        wall_s=wall,
        driver_cpu_s=cpu,
        total_cpu_s=cpu + cluster_cpu,
        searcher_s=None,
        best=best,
    )


# -- plain Optuna (the sampler's own quality) ------------------------------------------------


def plain_best(trials: int, seed: int, in_flight: int) -> float:
    """Optuna TPE alone on :func:`loss`: the best value after ``trials`` trials, with
    ``in_flight`` trials asked before their values are told (1: sequential)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {
        "lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
        "x": optuna.distributions.FloatDistribution(-1.0, 1.0),
        "layers": optuna.distributions.IntDistribution(1, 7),
    }
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    told = 0
    pending: list[Any] = []
    while told < trials:
        while len(pending) < in_flight and told + len(pending) < trials:
            pending.append(study.ask(dists))
        trial = pending.pop(0)
        study.tell(trial, loss(**trial.params))
        told += 1
    return study.best_value


def run_plain(trials: int, slots: int, seeds: int, seed: int) -> None:
    """The plain-Optuna arm: best values over ``seeds`` seeds, sequential and in flight."""
    t0 = time.perf_counter()
    sequential = [plain_best(trials, seed + s, 1) for s in range(seeds)]
    batched = [plain_best(trials, seed + s, slots) for s in range(seeds)]
    _emit(
        "plain",
        trials=trials,
        seeds=seeds,
        sequential=sequential,
        in_flight=batched,
        wall_s=time.perf_counter() - t0,
    )


def adapter_best(trials: int, slots: int, seed: int) -> float:
    """dasktune's OptunaSearch through the real controller and driver on the simulated
    backend (``slots`` workers, simulated time, no cluster): the best value after ``trials``
    trials. Isolates the adapter from timing noise: comparable to :func:`plain_best` with
    ``slots`` in flight."""
    import asyncio

    import dasktune as tune
    from dasktune.backend.simulated import ScriptedTrainable, SimulatedBackend
    from dasktune.controller import Controller
    from dasktune.driver import Driver
    from dasktune.listeners import Listeners
    from dasktune.resources import Resources
    from dasktune.search.optuna import OptunaSearch
    from dasktune.search.searcher import SearchGenerator
    from dasktune.stoppers import make_stopper
    from dasktune.trial import Trial

    space = {
        "lr": tune.loguniform(1e-5, 1e-1),
        "x": tune.uniform(-1.0, 1.0),
        "layers": tune.randint(1, 8),
    }
    searcher = OptunaSearch(metric=METRIC, mode="min", seed=seed)
    gen = SearchGenerator(searcher)
    gen.set_search_properties(None, None, space)
    made: list[Trial] = []

    def make(config: dict[str, Any], tag: str) -> Trial:
        i = len(made)
        made.append(
            Trial(
                trial_id=f"t{i}",
                index=i,
                trainable_name="T",
                config=config,
                experiment_tag=str(i),
                dirname=f"T_{i}",
                resources=Resources(),
            )
        )
        return made[-1]

    gen.setup_experiment(space, trials, seed, make)
    controller = Controller(stopper=make_stopper({"training_iteration": 1}), search_alg=gen)
    backend = SimulatedBackend(
        {f"w{i}": {"CPU": 1} for i in range(slots)},
        ScriptedTrainable(lambda c, i: {METRIC: loss(c["lr"], c["x"], c["layers"])}),
    )
    driver = Driver(
        controller,
        backend,
        storage=None,
        listeners=Listeners([]),
        build_state=dict,
        clock=backend.clock,
    )
    asyncio.run(driver.run())
    assert searcher.study is not None and len(searcher.study.trials) == trials
    return searcher.study.best_value


def run_adapter(trials: int, slots: int, seeds: int, seed: int) -> None:
    """The adapter-check arm: :func:`adapter_best` over ``seeds`` seeds."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    values = [adapter_best(trials, slots, seed + s) for s in range(seeds)]
    _emit("adapter", trials=trials, seeds=seeds, values=values, wall_s=time.perf_counter() - t0)


# -- the runner ----------------------------------------------------------------------------


def _arm_command(arm: str, args: argparse.Namespace) -> list[str] | None:
    common = [
        f"--trials={args.trials}",
        f"--slots={args.slots}",
        f"--interval-s={args.interval_s}",
        f"--seed={args.seed}",
        f"--seeds={args.seeds}",
    ]
    if arm == "ray":
        from bench.ray_env import ensure_ray_env

        env = ensure_ray_env(install=args.install_ray)
        if not env.ok or env.python is None:
            print(f"[optuna-search] no Ray venv: {env.reason}", file=sys.stderr)
            return None
        # Optuna is not one of the venv's pinned requirements (the other Ray workloads do not
        # need it): say how to add it rather than fail inside the arm.
        probe = subprocess.run([env.python, "-c", "import optuna"], capture_output=True)
        if probe.returncode != 0:
            print(
                f"[optuna-search] the Ray venv has no Optuna: {env.python} -m pip install optuna",
                file=sys.stderr,
            )
            return None
        return [env.python, "-m", "bench.optuna_search", "--arm", arm, *common]
    return [sys.executable, "-m", "bench.optuna_search", "--arm", arm, *common]


def _run_arm(arm: str, args: argparse.Namespace) -> dict[str, Any] | None:
    cmd = _arm_command(arm, args)
    if cmd is None:
        return None
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    print(f"[optuna-search] {arm} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    for line in reversed(proc.stdout.splitlines()):
        if RECORD_KEY in line:
            return json.loads(line)
    print(
        f"[optuna-search] {arm} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}",
        file=sys.stderr,
    )
    return {"arm": arm, "failed": proc.stderr[-600:]}


def _table(records: list[dict[str, Any]], args: argparse.Namespace, load: str) -> str:
    lines = [
        f"# Optuna TPE: {args.trials} trials x 1 result ({args.interval_s * 1000:g} ms), "
        f"{args.slots} slots, seed {args.seed}",
        "",
        f"Machine: {os.cpu_count()} cores; load average before the run: {load}.",
        "",
        "| arm | trials | wall s | ms/trial (wall) | driver CPU ms/trial | all-process CPU "
        "ms/trial | searcher ms/trial | best loss |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    plain = adapter = None
    for r in records:
        if r.get("arm") == "plain":
            plain = r
            continue
        if r.get("arm") == "adapter":
            adapter = r
            continue
        if "failed" in r:
            lines.append(f"| {r['arm']} | failed | | | | | | |")
            continue
        n = r["trials"] or 1

        def per(v: float | None, n: int = n) -> str:
            return "n/a" if v is None else f"{1000 * v / n:.1f}"

        lines.append(
            f"| {r['arm']} | {r['trials']} | {r['wall_s']:.1f} | {per(r['wall_s'])} | "
            f"{per(r['driver_cpu_s'])} | {per(r.get('total_cpu_s'))} | "
            f"{per(r.get('searcher_s'))} | {r['best']:.4f} |"
        )
    if plain is not None:
        seq, fl = plain["sequential"], plain["in_flight"]
        lines += [
            "",
            f"Plain Optuna, best loss after {plain['trials']} trials over seeds "
            f"{args.seed}..{args.seed + plain['seeds'] - 1}: sequential "
            f"{', '.join(f'{v:.4f}' for v in seq)}; {args.slots} in flight "
            f"{', '.join(f'{v:.4f}' for v in fl)}.",
        ]
    if adapter is not None:
        lines += [
            "",
            "dasktune's OptunaSearch through the controller in simulated time, "
            f"{args.slots} workers, same seeds: "
            f"{', '.join(f'{v:.4f}' for v in adapter['values'])}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run one arm (``--arm``) or, by default, every arm and write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arm", choices=("dasktune", "ray", "daskstorage", "plain", "adapter"))
    p.add_argument("--arms", default="dasktune,ray,daskstorage,plain,adapter")
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--interval-s", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=5, help="seeds for the plain-Optuna arm")
    p.add_argument("--install-ray", action="store_true", help="create the Ray venv if missing")
    p.add_argument("--out", default=None, help="results file stem (default: dated)")
    args = p.parse_args(argv)
    if args.arm == "dasktune":
        run_dasktune(args.trials, args.slots, args.interval_s, args.seed)
    elif args.arm == "ray":
        run_ray(args.trials, args.slots, args.interval_s, args.seed)
    elif args.arm == "daskstorage":
        run_daskstorage(args.trials, args.slots, args.interval_s, args.seed)
    elif args.arm == "plain":
        run_plain(args.trials, args.slots, args.seeds, args.seed)
    elif args.arm == "adapter":
        run_adapter(args.trials, args.slots, args.seeds, args.seed)
    else:
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        records = [r for arm in args.arms.split(",") if (r := _run_arm(arm, args))]
        table = _table(records, args, load)
        print(table)
        stem = args.out or f"{time.strftime('%Y-%m-%d')}-optuna-search"
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / f"{stem}.json").write_text(json.dumps({"load": load, "records": records}, indent=1))
        (out / f"{stem}.md").write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
