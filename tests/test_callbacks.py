"""``tune.Callback`` hooks counted on a real run with a trial that errors once (and is retried
from its checkpoint) and one that errors for good: each hook is called as often as Ray calls
it, on the driver, with Ray's arguments."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

import dasktune as tune

pytestmark = pytest.mark.slow


class Flaky(tune.Trainable):
    """``mode`` "ok" runs; "once" raises at iteration 3 of its first run only (a checkpoint
    at 2 lets the retry restore); "always" raises at iteration 2 every run."""

    def setup(self, config):
        self.n = 0

    def step(self):
        self.n += 1
        mode = self.config["mode"]
        if mode == "always" and self.n == 2:
            raise ValueError("always fails")
        if mode == "once" and self.n == 3 and self.iteration == 2 and self.config.get("first"):
            raise ValueError("fails once")
        return {"n": self.n}

    def save_checkpoint(self, checkpoint_dir):
        return {"n": self.n}

    def load_checkpoint(self, checkpoint):
        self.n = checkpoint["n"]
        # After a restore the trial does not fail again.
        self.config["first"] = False


class Counting(tune.Callback):
    def __init__(self):
        self.calls = Counter()
        self.threads = set()
        self.result_iterations = []
        self.errors = []

    def _count(self, hook):
        self.calls[hook] += 1
        if hook != "setup":  # setup runs in tune.run's caller, before the loop starts
            self.threads.add(threading.current_thread().name)

    def setup(self, **info):
        self._count("setup")

    def on_step_begin(self, iteration, trials, **info):
        self._count("on_step_begin")

    def on_step_end(self, iteration, trials, **info):
        self._count("on_step_end")

    def on_trial_start(self, iteration, trials, trial, **info):
        self._count("on_trial_start")

    def on_trial_restore(self, iteration, trials, trial, **info):
        self._count("on_trial_restore")

    def on_trial_save(self, iteration, trials, trial, **info):
        self._count("on_trial_save")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._count("on_trial_result")
        self.result_iterations.append((trial.config["mode"], result["training_iteration"]))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._count("on_trial_complete")

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._count("on_trial_recover")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._count("on_trial_error")
        self.errors.append(trial.config["mode"])

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self._count("on_checkpoint")

    def on_experiment_end(self, trials, **info):
        self._count("on_experiment_end")


def test_every_hook_counted_on_a_run_with_erroring_trials(client, tmp_path):
    counting = Counting()
    analysis = tune.run(
        Flaky,
        config={"mode": tune.grid_search(["ok", "once", "always"]), "first": True},
        stop={"training_iteration": 4},
        checkpoint_freq=2,
        max_failures=1,
        raise_on_failed_trial=False,
        callbacks=[counting],
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    status = {t.config["mode"]: t.status for t in analysis.trials}
    assert status == {"ok": "TERMINATED", "once": "TERMINATED", "always": "ERROR"}
    calls = counting.calls
    assert calls["setup"] == 1 and calls["on_experiment_end"] == 1
    # A start per run of a trial: 3 first runs, and one retry each for "once" and "always".
    assert calls["on_trial_start"] + calls["on_trial_restore"] >= 3
    assert calls["on_trial_recover"] == 2  # each erroring trial's first failure is retried
    assert calls["on_trial_error"] == 1 and counting.errors == ["always"]
    assert calls["on_trial_complete"] == 2
    # Results: ok 1-4; once 1-2, then 3-4 after restoring its checkpoint at 2; always 1 twice.
    by_mode = {m: [i for mm, i in counting.result_iterations if mm == m] for m in status}
    assert by_mode["ok"] == [1, 2, 3, 4]
    assert by_mode["once"] == [1, 2, 3, 4]
    assert by_mode["always"] == [1, 1]
    assert calls["on_trial_result"] == 10
    # Checkpoints at 2 and 4 of "ok" and "once" (4 is the last: saved only with checkpoint_at_end
    # in Ray, but freq 2 hits it), and none of "always".
    assert calls["on_checkpoint"] == 4
    assert calls["on_step_begin"] >= 1 and calls["on_step_end"] >= 1
    # Every event hook ran on one thread: the driver loop's (never a worker's or a helper
    # thread), so callbacks need no locks.
    assert len(counting.threads) == 1
