"""Reaching the cluster: a scheduler that is still starting is waited for, and TLS-secured
clusters run trials and checkpoints, given as ``client=`` or as ``address="tls://..."`` (with
``security=`` or dask config ``distributed.comm.tls.*``). A refused ``address=`` is a row of
``tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import threading
import time

import dask
import pytest
from distributed import LocalCluster
from distributed.security import Security
from services.s3 import free_port
from trainables import FileCounter

import dasktune as tune
from dasktune.checkpoints import committed_checkpoints

pytestmark = pytest.mark.slow


def _run_counter(tmp_path, name, **kwargs):
    analysis = tune.run(
        FileCounter,
        name=name,
        stop={"training_iteration": 3},
        checkpoint_freq=1,
        local_dir=str(tmp_path / "results"),
        verbose=0,
        **kwargs,
    )
    trial = analysis.trials[0]
    assert trial.status == "TERMINATED"
    assert [i for i, _ in committed_checkpoints(trial.logdir)] == [1, 2, 3]
    return analysis


def test_a_scheduler_still_starting_is_waited_for(tmp_path):
    port = free_port()
    started_clusters = []

    def start_cluster():
        started_clusters.append(
            LocalCluster(
                n_workers=1,
                threads_per_worker=1,
                host="127.0.0.1",
                scheduler_port=port,
                dashboard_address=":0",
            )
        )

    # The scheduler opens its port 2 s after the run begins (its worker joins later still).
    timer = threading.Timer(2.0, start_cluster)
    timer.start()
    try:
        started = time.monotonic()
        _run_counter(tmp_path, "slow-start", address=f"tcp://127.0.0.1:{port}")
        assert time.monotonic() - started > 1.5  # it really waited for the port to open
    finally:
        timer.join()
        for cluster in started_clusters:
            cluster.close()


def test_tls_cluster_as_client(cluster_factory, tmp_path):
    client = cluster_factory(n_workers=1, security=True)
    assert client.scheduler.address.startswith("tls://")
    _run_counter(tmp_path, "tls-client", client=client)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """PEM files of a CA and a certificate/key signed by it (Dask's temporary credentials)."""
    made = Security.temporary()
    folder = tmp_path_factory.mktemp("tls")
    files = {}
    for name, text in (
        ("ca", made.tls_ca_file),
        ("cert", made.tls_client_cert),
        ("key", made.tls_client_key),
    ):
        files[name] = str(folder / f"{name}.pem")
        with open(files[name], "w") as f:
            f.write(text)
    return files


@pytest.fixture(scope="module")
def tls_scheduler(tls_files):
    """A scheduler and worker that accept TLS connections only, started from certificate
    files; yields its ``tls://`` address."""
    security = Security(
        tls_ca_file=tls_files["ca"],
        tls_scheduler_cert=tls_files["cert"],
        tls_scheduler_key=tls_files["key"],
        tls_worker_cert=tls_files["cert"],
        tls_worker_key=tls_files["key"],
        tls_client_cert=tls_files["cert"],
        tls_client_key=tls_files["key"],
        require_encryption=True,
    )
    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        security=security,
        protocol="tls://",
        dashboard_address=":0",
    )
    yield cluster.scheduler_address
    cluster.close()


def test_tls_scheduler_by_address_with_security(tls_scheduler, tls_files, tmp_path):
    assert tls_scheduler.startswith("tls://")
    security = Security(
        tls_ca_file=tls_files["ca"],
        tls_client_cert=tls_files["cert"],
        tls_client_key=tls_files["key"],
        require_encryption=True,
    )
    _run_counter(tmp_path, "tls-address", address=tls_scheduler, security=security)


def test_tls_scheduler_by_address_with_dask_config(tls_scheduler, tls_files, tmp_path):
    settings = {
        "distributed.comm.tls.ca-file": tls_files["ca"],
        "distributed.comm.tls.client.cert": tls_files["cert"],
        "distributed.comm.tls.client.key": tls_files["key"],
        "distributed.comm.require-encryption": True,
    }
    with dask.config.set(settings):
        _run_counter(tmp_path, "tls-config", address=tls_scheduler)
