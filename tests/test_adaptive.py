"""Adaptive scale-down must spare workers that host running trials."""

from __future__ import annotations

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
