"""Trials are made as they can start: a billion samples under a time budget end on time with
flat driver memory, and a resumed run continues the search where it was (no trial twice)."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest
from trainables import Counter

import dasktune as tune
from dasktune.schedulers import FIFOScheduler

pytestmark = pytest.mark.slow


def quick(config):
    tune.track.log(score=config["x"])


def test_a_billion_samples_with_a_time_budget_end_in_bounded_time(client, tmp_path):
    tracemalloc.start()
    started = time.monotonic()
    analysis = tune.run(
        quick,
        config={"x": tune.uniform(0, 1)},
        num_samples=10**9,
        time_budget_s=5,
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 20
    trials = analysis.trials
    assert 10 < len(trials) < 100_000
    # As in Ray, every trial (started or not) ends TERMINATED, and tune.run raises nothing.
    assert {t.status for t in trials} == {"TERMINATED"}
    assert peak < 300 * 2**20, f"driver peak {peak / 2**20:.0f} MiB"


def test_unbounded_samples_need_a_way_to_end(client, tmp_path):
    analysis = tune.run(
        Counter,
        num_samples=-1,
        time_budget_s=3,
        stop={"training_iteration": 2},
        client=client,
        local_dir=str(tmp_path),
        verbose=0,
    )
    assert len(analysis.trials) > 2


class StopAfter(tune.Stopper):
    """Stops the whole run once ``n`` trials have completed."""

    def __init__(self, n):
        self.n, self.done = n, set()

    def __call__(self, trial_id, result):
        if result["training_iteration"] >= 2:
            self.done.add(trial_id)
            return True
        return False

    def stop_all(self):
        return len(self.done) >= self.n


class CountingFIFO(FIFOScheduler):
    """A stateful scheduler: counts the results it saw (``counts`` records each count)."""

    counts: list[int] = []

    def __init__(self):
        super().__init__()
        self.seen = 0

    def on_trial_result(self, trial_runner, trial, result):
        self.seen += 1
        CountingFIFO.counts.append(self.seen)
        return self.CONTINUE


def test_resume_continues_the_search_and_the_scheduler(client, tmp_path):
    common = dict(
        config={"x": tune.randint(0, 10**9)},
        num_samples=6,
        max_concurrent_trials=1,
        client=client,
        local_dir=str(tmp_path),
        name="exp",
        verbose=0,
        seed=7,
    )
    first = tune.run(Counter, stop=StopAfter(2), scheduler=CountingFIFO(), **common)
    seen_first = CountingFIFO.counts[-1]
    made_first = [t.config["x"] for t in first.trials]
    assert 2 <= len(made_first) < 6
    state = json.loads((tmp_path / "exp" / "experiment_state.json").read_text())
    assert state["search_alg"] == {"created": len(made_first)}
    CountingFIFO.counts.clear()
    second = tune.run(
        Counter, stop={"training_iteration": 2}, scheduler=CountingFIFO(), resume=True, **common
    )
    # The saved scheduler (with its count) went on, not the new empty one.
    assert CountingFIFO.counts[0] == seen_first + 1
    configs = [t.config["x"] for t in second.trials]
    assert len(configs) == 6 and len(set(configs)) == 6
    assert configs[: len(made_first)] == made_first
    # The same six configs a fresh run with this seed samples: the search went on, not over.
    fresh = tune.run(
        Counter,
        stop={"training_iteration": 1},
        **{**common, "name": "fresh", "max_concurrent_trials": None},
    )
    assert configs == [t.config["x"] for t in fresh.trials]
    assert {t.status for t in second.trials} == {"TERMINATED"}
