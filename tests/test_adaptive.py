"""Adaptive scaling follows trials: it grows for pending ones and spares running ones."""

from __future__ import annotations

import threading
import time

import pytest
from distributed import Client, LocalCluster
from trainables import Sleeper

import dasktune as tune
from dasktune.backend import dask_backend

pytestmark = pytest.mark.slow


def run_under_adapt(tmp_path):
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster, direct_to_workers=True, set_as_default=False)
    # Adaptive sees no tasks, so it wants to shrink to one worker within about a second.
    cluster.adapt(minimum=1, maximum=2, interval="200ms", wait_count=2)
    try:
        return tune.run(
            Sleeper,
            stop={"training_iteration": 8},
            config={"sleep": 0.5},
            num_samples=2,
            local_dir=str(tmp_path),
            client=client,
            verbose=0,
            raise_on_failed_trial=False,
        )
    finally:
        client.close()
        cluster.close()


def test_busy_workers_are_not_scaled_down(tmp_path):
    analysis = run_under_adapt(tmp_path)
    assert [t.status for t in analysis.trials] == ["TERMINATED", "TERMINATED"]
    assert all(t.num_failures == 0 for t in analysis.trials)


def test_without_protection_adaptive_kills_a_trial(tmp_path, monkeypatch):
    # The control: proves the scenario above really scales down when nothing protects.
    async def no_protection(self):
        self._protected = False
        return None

    monkeypatch.setattr(dask_backend.DaskBackend, "install_protection", no_protection)
    analysis = run_under_adapt(tmp_path)
    assert "ERROR" in [t.status for t in analysis.trials]


def test_adaptive_cluster_grows_for_pending_trials_and_shrinks_after(tmp_path):
    """adapt(minimum=0): no worker at the start; the run's pending trials make the cluster
    grow to its maximum, and once they ended it goes back to no workers."""
    cluster = LocalCluster(
        n_workers=0, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster, direct_to_workers=True, set_as_default=False)
    cluster.adapt(minimum=0, maximum=2, interval="200ms", wait_count=3)
    sizes: list[int] = []
    sampling = threading.Event()

    def sample() -> None:
        # The scheduler lives in this process: its worker table is the cluster's size.
        while not sampling.is_set():
            sizes.append(len(cluster.scheduler.workers))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        assert len(cluster.scheduler.workers) == 0
        sampler.start()
        started = time.monotonic()
        analysis = tune.run(
            Sleeper,
            stop={"training_iteration": 4},
            config={"sleep": 0.3},
            num_samples=4,
            local_dir=str(tmp_path),
            client=client,
            verbose=0,
            raise_on_failed_trial=False,
        )
        ran = time.monotonic() - started
        deadline = time.monotonic() + 30
        while cluster.scheduler.workers and time.monotonic() < deadline:
            time.sleep(0.1)
        shrunk = time.monotonic() - started - ran
        sampling.set()
        sampler.join()
        left = len(cluster.scheduler.workers)
    finally:
        sampling.set()
        client.close()
        cluster.close()

    print(f"\nrun {ran:.1f} s, back to {left} workers {shrunk:.1f} s later; max {max(sizes)}")
    assert [t.status for t in analysis.trials] == ["TERMINATED"] * 4
    assert all(t.num_failures == 0 for t in analysis.trials)
    assert sizes[0] == 0
    assert max(sizes) == 2, sizes
    assert left == 0
