"""Exceptions raised by dasktune."""

from __future__ import annotations


class TuneError(Exception):
    """A tuning run failed: a trial errored, the cluster cannot host a request, or state is bad.

    Same name and meaning as ``ray.tune.error.TuneError``.
    """
