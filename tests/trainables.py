"""Trainables used by the tests (a module, so worker processes can import them)."""

from __future__ import annotations

import json
import os
import time

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
