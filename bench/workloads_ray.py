"""Ray Tune side of the benchmark: one workload per process, one JSON line out.

Runs under the benchmark venv's interpreter (``bench/.venv-ray/bin/python``, see
:mod:`bench.ray_env`), e.g.::

    bench/.venv-ray/bin/python -m bench.workloads_ray throughput --trials 8 --results 200
    bench/.venv-ray/bin/python bench/workloads_ray.py driver --trials 1000 --reuse-actors

Written against Ray 2.60: ``tune.track`` no longer exists, so the function API reports
with ``ray.tune.report(dict)``; the class API uses ``setup/step`` and
``save_checkpoint/load_checkpoint``; ``tune.run(storage_path=...)`` replaces
``local_dir``; ``--loggers off`` sets ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1`` (no CSV,
JSON or TensorBoard logger callbacks).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlparse

if __package__ in (None, ""):  # run as a plain script: make ``import bench`` work
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import Params, Stopwatch, count_results, emit, parse_params

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def _make_trainables() -> tuple[type, Any]:
    """Build the class and function trainables (imports Ray lazily)."""
    from ray import tune

    class BenchTrainable(tune.Trainable):
        """No-op (or sleeping, or checkpointing) class-API trainable."""

        def setup(self, config: dict) -> None:
            self.interval_s = float(config.get("interval_s", 0.0))
            mb = float(config.get("checkpoint_mb", 0.0))
            self.payload = os.urandom(int(mb * 2**20)) if mb else b""

        def step(self) -> dict:
            if self.interval_s:
                time.sleep(self.interval_s)
            return {"x": self.iteration}

        def save_checkpoint(self, checkpoint_dir: str) -> dict | None:
            with open(os.path.join(checkpoint_dir, "payload.bin"), "wb") as f:
                f.write(self.payload)
            return None

        def load_checkpoint(self, checkpoint: Any) -> None:
            pass

        def reset_config(self, new_config: dict) -> bool:
            self.setup(new_config)
            return True

    def bench_function(config: dict) -> None:
        """No-op (or sleeping) function-API trainable."""
        interval_s = float(config.get("interval_s", 0.0))
        for i in range(int(config["results"])):
            if interval_s:
                time.sleep(interval_s)
            tune.report({"x": i})

    return BenchTrainable, bench_function


def _s3_filesystem(endpoint: str) -> Any:
    """A pyarrow S3 filesystem on the loopback moto server."""
    import pyarrow.fs

    url = urlparse(endpoint)
    return pyarrow.fs.S3FileSystem(
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        endpoint_override=url.netloc,
        scheme=url.scheme or "http",
    )


def run(params: Params) -> None:
    """Run one workload with Ray Tune and emit its measurement line."""
    if not params.loggers:
        os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    import ray
    from ray import tune

    t0 = time.perf_counter()
    ray.init(num_cpus=params.slots, include_dashboard=False, logging_level="ERROR")
    setup_s = time.perf_counter() - t0

    cls, fn = _make_trainables()
    trainable = fn if params.api == "function" else cls
    config = {
        "results": params.results,
        "interval_s": params.interval_s,
        "checkpoint_mb": params.checkpoint_mb,
    }
    kwargs: dict[str, Any] = {}
    local = tempfile.mkdtemp(prefix="bench-ray-")
    if params.kind == "release_durable":
        if not (params.s3_endpoint and params.bucket):
            raise SystemExit("release_durable needs --s3-endpoint and --bucket")
        kwargs["storage_filesystem"] = _s3_filesystem(params.s3_endpoint)
        kwargs["storage_path"] = f"{params.bucket}/ray-{os.getpid()}"
        kwargs["checkpoint_config"] = tune.CheckpointConfig(
            num_to_keep=params.keep, checkpoint_frequency=1
        )
    else:
        kwargs["storage_path"] = local

    with Stopwatch() as watch:
        analysis = tune.run(
            trainable,
            stop={"training_iteration": params.results},
            num_samples=params.trials,
            config=config,
            resources_per_trial={"cpu": 1},
            reuse_actors=params.reuse_actors,
            verbose=0,
            raise_on_failed_trial=False,
            **kwargs,
        )
    results, errored = count_results(analysis.trials)
    emit(
        "ray",
        params,
        watch,
        setup_s=round(setup_s, 3),
        results=results,
        trials_done=len(analysis.trials),
        errored=errored,
        version=ray.__version__,
    )
    ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: parse the workload command line and run it."""
    run(parse_params(argv, __doc__.splitlines()[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
