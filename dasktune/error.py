"""Exceptions raised by dasktune."""

from __future__ import annotations


class TuneError(Exception):
    """A tuning run failed: a trial errored, the cluster cannot host a request, or state is bad.

    Same name and meaning as ``ray.tune.error.TuneError``.
    """


class StorageTimeoutError(TuneError, TimeoutError):
    """Storage did not answer a call within dask config ``dasktune.storage-timeout``.

    ``url`` is the storage location and ``what`` the call that was given up on.
    """

    def __init__(self, url: str, what: str, timeout: float) -> None:
        self.url = url
        self.what = what
        self.timeout = timeout
        super().__init__(
            f"storage at {url} did not answer within {timeout:g} s ({what}). Check that it is "
            "reachable (endpoint, network, credentials), or raise dask config "
            "'dasktune.storage-timeout' (e.g. DASK_DASKTUNE__STORAGE_TIMEOUT=120s) if it is "
            "only slow."
        )
