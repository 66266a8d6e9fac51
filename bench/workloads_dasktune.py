"""dasktune side of the benchmark: one workload per process, one JSON line out.

Uses only dasktune's public, Ray-compatible API (``import dasktune as tune``):
``tune.run(trainable, stop=, num_samples=, config=, resources_per_trial=, reuse_actors=,
verbose=0, local_dir=, client=)``, ``tune.Trainable`` with ``setup/step`` and
``save_checkpoint/load_checkpoint`` (the older ``_setup/_train/_save/_restore`` names are
aliased too), and the function API reporting with ``tune.track.log(x=i)``.

The cluster (:mod:`bench.cluster`) runs in a child process so that this process's
``getrusage`` figures are the driver's alone, as for Ray. Examples::

    python -m bench.workloads_dasktune throughput --trials 8 --results 200 --api function
    python bench/workloads_dasktune.py driver --trials 1000 --reuse-actors
"""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
import time
from typing import Any

if __package__ in (None, ""):  # run as a plain script: make ``import bench`` work
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.cluster import dask_cluster
from bench.common import Params, Stopwatch, count_results, emit, parse_params, s3_env


def _make_trainables() -> tuple[type, Any]:
    """Build the class and function trainables against dasktune's API."""
    import dasktune as tune

    class BenchTrainable(tune.Trainable):
        """No-op (or sleeping, or checkpointing) class-API trainable."""

        def setup(self, config: dict) -> None:
            self.interval_s = float(config.get("interval_s", 0.0))
            mb = float(config.get("checkpoint_mb", 0.0))
            self.payload = os.urandom(int(mb * 2**20)) if mb else b""
            self.steps = 0

        def step(self) -> dict:
            if self.interval_s:
                time.sleep(self.interval_s)
            self.steps += 1
            return {"x": self.steps}

        def save_checkpoint(self, checkpoint_dir: str) -> str:
            with open(os.path.join(checkpoint_dir, "payload.bin"), "wb") as f:
                f.write(self.payload)
            return checkpoint_dir

        def load_checkpoint(self, checkpoint: Any) -> None:
            pass

        def reset_config(self, new_config: dict) -> bool:
            self.setup(new_config)
            return True

        # Ray < 0.8.7 spelling, in case the engine calls these names.
        _setup = setup
        _train = step
        _save = save_checkpoint
        _restore = load_checkpoint

    def bench_function(config: dict) -> None:
        """No-op (or sleeping) function-API trainable."""
        interval_s = float(config.get("interval_s", 0.0))
        for i in range(int(config["results"])):
            if interval_s:
                time.sleep(interval_s)
            tune.track.log(x=i)

    return BenchTrainable, bench_function


def _durable_kwargs(run_params: set[str], params: Params, local: str) -> dict[str, Any]:
    """Point checkpoints at the moto bucket with whichever argument tune.run offers."""
    url = f"s3://{params.bucket}/dasktune-{os.getpid()}"
    kwargs: dict[str, Any] = {"checkpoint_freq": 1, "keep_checkpoints_num": params.keep}
    if "storage_options" in run_params:  # explicit fsspec options; the env covers the rest
        kwargs["storage_options"] = {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": params.s3_endpoint},
            "config_kwargs": {"region_name": "us-east-1"},
        }
    if "upload_dir" in run_params:
        kwargs.update(upload_dir=url, local_dir=local)
    elif "storage_path" in run_params:
        kwargs["storage_path"] = url
    else:
        kwargs["local_dir"] = url
    return kwargs


def run(params: Params) -> None:
    """Run one workload with dasktune and emit its measurement line."""
    env: dict[str, str] = {}
    if params.kind == "release_durable":
        if not (params.s3_endpoint and params.bucket):
            raise SystemExit("release_durable needs --s3-endpoint and --bucket")
        env = s3_env(params.s3_endpoint)
        os.environ.update(env)  # the driver's s3fs; the cluster inherits it too

    from distributed import Client

    import dasktune as tune

    run_params = set(inspect.signature(tune.run).parameters)
    cls, fn = _make_trainables()
    trainable = fn if params.api == "function" else cls
    config = {
        "results": params.results,
        "interval_s": params.interval_s,
        "checkpoint_mb": params.checkpoint_mb,
    }
    local = tempfile.mkdtemp(prefix="bench-dasktune-")
    kwargs: dict[str, Any] = {"local_dir": local}
    if params.kind == "release_durable":
        kwargs = _durable_kwargs(run_params, params, local)
    if not params.loggers:
        if "loggers" not in run_params:
            raise SystemExit("this dasktune's tune.run has no loggers= argument")
        kwargs["loggers"] = []

    t0 = time.perf_counter()
    with dask_cluster(slots=params.slots, n_workers=params.dask_workers, env=env) as address:
        with Client(address, direct_to_workers=True) as client:
            setup_s = time.perf_counter() - t0
            with Stopwatch() as watch:
                analysis = tune.run(
                    trainable,
                    stop={"training_iteration": params.results},
                    num_samples=params.trials,
                    config=config,
                    resources_per_trial={"cpu": 1},
                    reuse_actors=params.reuse_actors,
                    verbose=0,
                    client=client,
                    **kwargs,
                )
    results, errored = count_results(list(getattr(analysis, "trials", [])))
    emit(
        "dasktune",
        params,
        watch,
        setup_s=round(setup_s, 3),
        results=results,
        trials_done=len(getattr(analysis, "trials", [])),
        errored=errored,
        version=getattr(tune, "__version__", "unknown"),
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: parse the workload command line and run it."""
    run(parse_params(argv, __doc__.splitlines()[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
