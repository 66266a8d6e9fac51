"""Trainables used by the tests (a module, so worker processes can import them)."""

from __future__ import annotations

import json
import os
import time

from fsspec.implementations.local import LocalFileSystem

import dasktune as tune


class Guesser(tune.Trainable):
    """The seed document's example."""

    def _setup(self, config):
        self.guess = config["guess"]
        self.iter = 0
        self.password = 1024

    def _train(self):
        self.iter += 1
        self.guess += 1
        return {"accuracy": abs(self.guess - self.password), "training_iteration": self.iter}


class Counter(tune.Trainable):
    """Reports value = start + i * step; can checkpoint."""

    def _setup(self, config):
        self.value = config.get("start", 0)

    def _train(self):
        self.value += self.config.get("step", 1)
        return {"value": self.value, "done": self.value >= self.config.get("done_at", 1 << 30)}

    def _save(self, tmp_checkpoint_dir):
        return {"value": self.value}

    def _restore(self, checkpoint):
        self.value = checkpoint["value"]


def counter_function(config):
    """Function-API twin of Counter."""
    value = config.get("start", 0)
    while True:
        value += config.get("step", 1)
        tune.track.log(value=value, done=value >= config.get("done_at", 1 << 30))


def counter_with_reporter(config, reporter):
    """Reporter-argument twin of Counter."""
    value = config.get("start", 0)
    while True:
        value += config.get("step", 1)
        reporter(value=value)


class Sleeper(tune.Trainable):
    """Sleeps config['sleep'] seconds per step and records when it ran."""

    def step(self):
        start = time.time()
        time.sleep(self.config.get("sleep", 1.0))
        return {"start": start, "end": time.time(), "worker_pid": os.getpid()}


class Raiser(tune.Trainable):
    """Raises at iteration config['fail_at']; its cleanup leaves a marker file."""

    def setup(self, config):
        self.i = 0

    def step(self):
        self.i += 1
        if self.i >= self.config["fail_at"]:
            raise ValueError(f"boom at {self.i}")
        return {"i": self.i}

    def cleanup(self):
        marker = self.config.get("cleanup_marker")
        if marker:
            with open(marker, "a") as f:
                f.write(json.dumps({"trial_id": self.trial_id}) + "\n")


def logging_function(config):
    """Logs forever, appending each iteration to config['trace'] before reporting it."""
    i = 0
    while True:
        i += 1
        with open(config["trace"], "a") as f:
            f.write(f"{i}\n")
        tune.track.log(i=i)


def checkpointing_function(config, checkpoint_dir=None):
    """Function API with tune.checkpoint_dir: counts up from its checkpoint."""
    value = 0
    if checkpoint_dir:
        with open(os.path.join(checkpoint_dir, "value.txt")) as f:
            value = int(f.read())
    while True:
        value += 1
        with tune.checkpoint_dir(step=value) as d:
            with open(os.path.join(d, "value.txt"), "w") as f:
                f.write(str(value))
        tune.track.log(value=value)


class FileCounter(tune.Trainable):
    """Counts; checkpoints to a file whose size is config['ckpt_bytes']."""

    def setup(self, config):
        self.value = 0

    def step(self):
        self.value += 1
        return {"value": self.value, "score": config_score(self.config, self.value)}

    def save_checkpoint(self, d):
        path = os.path.join(d, "state.bin")
        with open(path, "wb") as f:
            f.write(self.value.to_bytes(8, "little"))
            f.write(b"\0" * self.config.get("ckpt_bytes", 0))
        return path

    def load_checkpoint(self, path):
        with open(path, "rb") as f:
            self.value = int.from_bytes(f.read(8), "little")


def config_score(config, value):
    """A score that peaks at config['peak'] (for checkpoint_score_attr tests)."""
    return -abs(value - config.get("peak", 0))


class SuicidalCounter(FileCounter):
    """Kills its own worker process once, at iteration config['kill_at'] (guarded by a marker
    file), to test recovery from a lost worker."""

    def step(self):
        result = super().step()
        marker = self.config["marker"]
        if self.value == self.config["kill_at"] and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            os.kill(os.getpid(), 9)
        return result


class KillingFileSystem(LocalFileSystem):
    """A local filesystem (``killfs://``) that SIGKILLs its own process halfway through
    uploading a file named ``big.bin`` into a ``checkpoint_<kill_at>`` dir, once (guarded by
    a marker file next to it). Lets a test kill a worker in the middle of a checkpoint save."""

    protocol = "killfs"

    def put_file(self, lpath, rpath, **kwargs):
        rpath = self._strip_protocol(rpath)
        parts = rpath.split("/")
        marker = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(rpath))), "KILLED")
        if parts[-1] == "big.bin" and parts[-2] == "checkpoint_3" and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            with open(lpath, "rb") as src, open(rpath, "wb") as dst:
                data = src.read()
                dst.write(data[: len(data) // 2])
                dst.flush()
            os.kill(os.getpid(), 9)
        return super().put_file(lpath, rpath, **kwargs)


class TwoFileCounter(FileCounter):
    """FileCounter whose checkpoints are a small state file plus a large ``big.bin``."""

    def save_checkpoint(self, d):
        path = super().save_checkpoint(d)
        with open(os.path.join(d, "big.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        return path


class Introspect(tune.Trainable):
    """Reports where it runs: placement, GPU ids, and a sub-task run on its reserved slots."""

    def step(self):
        placement = self.placement
        sub = None
        if self.config.get("submit"):
            sub = placement.submit(os.getpid).result(timeout=30)
        time.sleep(self.config.get("sleep", 0.0))
        return {
            "start": time.time(),
            "worker": placement.worker,
            "extras": placement.extras,
            "gpu_ids": tune.get_gpu_ids(),
            "placement_gpu_ids": list(tune.get_placement().gpu_ids),
            "sub_pid": sub,
            "pid": os.getpid(),
        }


class Reusable(tune.Trainable):
    """Records each construction; accepts reset_config when config['accept_reset']."""

    def setup(self, config):
        with open(config["log"], "a") as f:
            f.write(f"{os.getpid()}-{id(self)}\n")

    def step(self):
        time.sleep(0.05)
        return {"x": self.config["x"], "trial": self.trial_id}

    def reset_config(self, new_config):
        return new_config.get("accept_reset", True)


def _worker_address() -> str:
    """Address of the Dask worker running the caller ("" outside a worker)."""
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:
        return ""


class GpuJobReporter(tune.Trainable):
    """Sleeps config['sleep'] seconds per step; reports its GPU ids, worker and SLURM job."""

    def step(self):
        start = time.time()
        time.sleep(self.config.get("sleep", 1.0))
        return {
            "start": start,
            "end": time.time(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "gpu_ids": tune.get_gpu_ids(),
            "worker": _worker_address(),
            "placement_worker": tune.get_placement().worker,
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        }


class SlowJobCounter(FileCounter):
    """FileCounter that sleeps config['sleep'] seconds per step and reports its SLURM job and
    GPU ids (value comes back from the checkpoint, so value == training_iteration after a
    restore proves the restore)."""

    def step(self):
        time.sleep(self.config.get("sleep", 0.5))
        result = super().step()
        result.update(
            slurm_job_id=os.environ.get("SLURM_JOB_ID"),
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
            gpu_ids=tune.get_gpu_ids(),
            worker=_worker_address(),
        )
        return result


class BrokenRestore(FileCounter):
    """Reports its own iteration count (like the seed's Guesser) but does not restore it:
    validate_save_restore must catch it."""

    def step(self):
        result = super().step()
        return {**result, "training_iteration": self.value}

    def load_checkpoint(self, path):
        self.value = 0


class FlakyOnce(FileCounter):
    """Raises once at iteration config['fail_at'] (marker file), then behaves."""

    def step(self):
        result = super().step()
        marker = self.config["marker"]
        if self.value == self.config["fail_at"] and not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("transient failure")
        return result


class DurableCounter(tune.DurableTrainable, FileCounter):
    """Ray code subclassing DurableTrainable."""


class StepRecorder(tune.Trainable):
    """Counts the steps it really ran: its cleanup writes the count to
    ``config['trace_dir']/<trial_id>.steps``; its checkpoints hold the count at save time.
    Raises at step ``config['fail_at']`` if set, and in cleanup if ``config['cleanup_raises']``;
    sleeps ``config['sleep']`` per step."""

    def setup(self, config):
        self.steps = 0

    def step(self):
        self.steps += 1
        if self.steps == self.config.get("fail_at"):
            raise ValueError(f"boom at step {self.steps}")
        if self.config.get("sleep"):
            time.sleep(self.config["sleep"])
        return {"steps": self.steps, "metric": self.steps * self.config.get("scale", 1)}

    def save_checkpoint(self, d):
        path = os.path.join(d, "steps.txt")
        with open(path, "w") as f:
            f.write(str(self.steps))
        return path

    def load_checkpoint(self, path):
        with open(path) as f:
            self.steps = int(f.read())

    def cleanup(self):
        trace_dir = self.config.get("trace_dir")
        if trace_dir:
            with open(os.path.join(trace_dir, f"{self.trial_id}.steps"), "w") as f:
                f.write(str(self.steps))
        if self.config.get("cleanup_raises"):
            raise RuntimeError("cleanup failed")


def step_recording_function(config):
    """Function-API twin of StepRecorder: writes its step count before every report."""
    path = os.path.join(config["trace_dir"], f"{tune.track.trial_id()}.steps")
    steps = 0
    while True:
        steps += 1
        with open(path, "w") as f:
            f.write(str(steps))
        tune.track.log(steps=steps)
