"""Shared fixtures: real Dask clusters with worker processes, and the service fixtures."""

from __future__ import annotations

import pytest
from distributed import Client, LocalCluster

pytest_plugins = ["services.fixtures"]


def make_cluster(**kwargs) -> tuple[LocalCluster, Client]:
    """A LocalCluster with worker processes and a client for it (direct to workers)."""
    options = {
        "n_workers": 2,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": ":0",
    }
    options.update(kwargs)
    cluster = LocalCluster(**options)
    client = Client(cluster, direct_to_workers=True, set_as_default=False)
    return cluster, client


@pytest.fixture(scope="module")
def client():
    """A 2-worker, 1-thread-each cluster shared by a test module."""
    cluster, client = make_cluster()
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def results_dir(tmp_path):
    """Where a test's experiments go."""
    return str(tmp_path / "results")
