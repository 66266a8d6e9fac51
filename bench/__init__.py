"""dasktune benchmark harness: dasktune vs Ray Tune vs the raw Dask actor ceiling.

Run ``python -m bench --help``. Keep this package free of third-party imports at import
time: :mod:`bench.workloads_ray` imports it from the Ray venv, which has no Dask.
"""
