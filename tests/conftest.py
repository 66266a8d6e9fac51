"""Shared fixtures: real Dask clusters with worker processes, and the service fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import Client, LocalCluster
from helpers import slurm_partition_or_none

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


class ClusterFactory:
    """``factory(**kwargs)`` is ``make_cluster(**kwargs)``'s client; the clusters it made are
    closed (client first) by :meth:`close`. ``last_cluster`` is the newest one."""

    def __init__(self) -> None:
        self.made: list[tuple[LocalCluster, Client]] = []

    def __call__(self, **kwargs) -> Client:
        cluster, client = make_cluster(**kwargs)
        self.made.append((cluster, client))
        return client

    @property
    def last_cluster(self) -> LocalCluster:
        """The cluster of the newest client."""
        return self.made[-1][0]

    def close(self) -> None:
        """Close every client and cluster made, newest first, each client before its cluster."""
        while self.made:
            cluster, client = self.made.pop()
            client.close()
            cluster.close()


@pytest.fixture
def cluster_factory() -> Iterator[ClusterFactory]:
    """Makes clusters of a test's own (``make_cluster`` options); closes them at teardown."""
    factory = ClusterFactory()
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def slurm_partition() -> str:
    """Name of the default partition; skips unless ``ci/slurm.sh start`` (or a real SLURM) runs."""
    partition = slurm_partition_or_none()
    if partition is None:
        pytest.skip("no SLURM controller answers `scontrol ping`; run `bash ci/slurm.sh start`")
    return partition


@pytest.fixture
def results_dir(tmp_path):
    """Where a test's experiments go."""
    return str(tmp_path / "results")
