"""Callbacks that let training libraries report to dasktune (Ray Tune's ``tune.integration``).

Each integration lives in its own submodule (``dasktune.integration.keras``) and is imported
on demand, so ``import dasktune`` never pulls in a deep-learning framework.
"""
