"""pytest fixtures for the local S3 service.

Register them from a conftest with ``pytest_plugins = ["tests.services.fixtures"]``
(or import the fixture names into it).

* ``moto_server`` (session): one :class:`~tests.services.s3.MotoServer` for the run.
* ``s3_bucket`` (function): ``(url_prefix, storage_options)``, e.g.
  ``("s3://bucket-1a2b3c4d", {...})``, after a server reset and with a new, empty bucket.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .s3 import MotoServer

__all__ = ["moto_server", "s3_bucket"]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto S3 server subprocess on loopback, shared by the whole test session."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("s3://bucket-<random>", storage_options)`` on a freshly reset server.

    The storage options are self-contained (endpoint, credentials, region), so
    they can be handed to Dask workers in other processes as they are.
    """
    # Reset first rather than last: moto keeps every object in memory, and a
    # failed test must not leave its data in the next one's way.
    moto_server.reset()
    name = f"bucket-{uuid.uuid4().hex[:8]}"
    url = moto_server.make_bucket(name)
    yield url, moto_server.storage_options()
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
