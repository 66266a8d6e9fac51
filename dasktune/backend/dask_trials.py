"""Trials as Dask actors: the :class:`~dasktune.backend.protocol.TrialBackend` the driver uses on
a real cluster.

Each running trial has a :class:`~dasktune.backend.host.TrialHost` on its worker, taken from
that worker's pool of idle hosts (one call to start a trial, not an actor creation) and given
back when the trial ends. Checkpoint saves, commits and restores are bounded by dask config
``dasktune.checkpoint-timeout``, so storage that stops answering fails the trial instead of
hanging it.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass, field
from typing import Any

import dask
from dask.utils import parse_timedelta

from ..checkpoints import committed_checkpoints, delete_checkpoint
from ..error import StorageTimeoutError
from ..ledger import Placement
from ..result_batching import Batch, BatchPolicy
from ..storage import ExperimentStorage
from ..storage_calls import in_thread, storage_timeout
from ..trial import Trial
from ..trial_info import TrialInfo
from .dask_backend import DaskBackend, HostHandle
from .protocol import Committed, TrialCodeError, WorkerLost

# Default limit on one checkpoint save or commit (dask config ``dasktune.checkpoint-timeout``).
DEFAULT_CHECKPOINT_TIMEOUT = "10 minutes"
# How long a trainable's stop()/cleanup may take after a failure or when the run shuts down.
STOP_TIMEOUT_S = 10.0


@dataclass
class RunSpec:
    """What every trial of a run shares: the trainable (pickled once), storage and options."""

    cls_key: str
    cls_bytes: bytes
    experiment_id: str
    storage: ExperimentStorage
    storage_options: dict[str, Any] = field(default_factory=dict)
    reuse_actors: bool = False
    batch_policy: BatchPolicy = field(default_factory=lambda: BatchPolicy(max_seconds=0))
    # Whether what trials print is shown on the driver (it is kept in their dirs either way).
    log_to_driver: bool = True


def checkpoint_timeout() -> float:
    """Seconds one checkpoint save or commit may take (dask config)."""
    return parse_timedelta(
        dask.config.get("dasktune.checkpoint-timeout", DEFAULT_CHECKPOINT_TIMEOUT)
    )


def _timeout_error(what: str, timeout: float) -> TrialCodeError:
    return TrialCodeError(
        f"{what} took longer than {timeout:g} s (storage unreachable or too slow?); check the "
        "storage, or raise dask config 'dasktune.checkpoint-timeout' for very large checkpoints."
    )


class DaskTrialBackend:
    """Runs each trial's trainable in a host actor on the worker the controller chose."""

    def __init__(self, hosts: DaskBackend, spec: RunSpec) -> None:
        self.hosts = hosts
        self.spec = spec
        self._remote = not spec.storage.location.is_local
        self._running: dict[str, HostHandle] = {}
        self._warned_no_reset = False

    async def install_protection(self) -> str | None:
        """Register the scheduler plugin (adaptive scaling follows the trials)."""
        return await self.hosts.install_protection()

    async def worker_capacities(self) -> dict[str, dict[str, float]]:
        """The cluster's running workers and their slots."""
        return await self.hosts.worker_capacities()

    async def report_usage(self, workers: frozenset[str], demand: int) -> str | None:
        """Busy workers and wanted workers, to the scheduler plugin."""
        return await self.hosts.report_usage(self.spec.experiment_id, workers, demand)

    def _host(self, trial: Trial) -> HostHandle:
        host = self._running.get(trial.trial_id)
        if host is None:
            raise TrialCodeError(f"trial {trial} has no host (it was not started or has ended)")
        return host

    async def start(self, trial: Trial, run: int, placement: Placement, restore: str | None) -> str:
        """Take an idle host on the placement's worker (or make one) and build the trainable."""
        spec = self.spec
        host = await self.hosts.get_host(placement.worker, spec.cls_key)
        self._running[trial.trial_id] = host
        info = TrialInfo(
            trial_id=trial.trial_id,
            trial_name=str(trial),
            experiment_id=spec.experiment_id,
            logdir=trial.logdir if not self._remote else None,
            placement=placement.as_public_dict(),
        )
        reuse = spec.reuse_actors and host.loaded_class == spec.cls_key
        call = self.hosts.call(
            host,
            "start",
            spec.cls_key,
            None if spec.cls_key in host.classes else spec.cls_bytes,
            trial.config,
            info,
            (restore, spec.storage_options) if restore else None,
            reuse,
            spec.batch_policy,
            spec.reuse_actors,
            {
                "forward": spec.log_to_driver,
                "url": trial.logdir if self._remote else None,
                "storage_options": spec.storage_options if self._remote else None,
            },
        )
        if restore is None:
            how = await call
        else:
            # The worker downloads the checkpoint: bounded like a save, so a store that stops
            # answering fails the start instead of hanging it.
            timeout = checkpoint_timeout()
            try:
                how = await asyncio.wait_for(call, timeout)
            except asyncio.TimeoutError:
                raise _timeout_error(f"restoring {trial} from {restore}", timeout) from None
        host.classes.add(spec.cls_key)
        host.loaded_class = spec.cls_key
        if reuse and how != "reset" and not self._warned_no_reset:
            self._warned_no_reset = True
            warnings.warn(
                f"reuse_actors=True, but {trial.trainable_name}.reset_config() returned False, "
                "so each trial gets a fresh trainable. Implement reset_config(new_config) "
                "returning True to reuse trainables.",
                stacklevel=1,
            )
        return how

    async def train(self, trial: Trial) -> Batch:
        """One ``train_batch`` call; a batch that ended the trial gives its host back."""
        host = self._host(trial)
        batch: Batch = await self.hosts.call(host, "train_batch")
        if batch.finished is not None and batch.error is None:
            self._release(trial, healthy=True)
        return batch

    async def save(self, trial: Trial, commit: bool = False) -> tuple[Committed, int]:
        """Save now, upload and commit in the background (``commit``: before returning)."""
        timeout = checkpoint_timeout()
        call = self.hosts.call(
            self._host(trial),
            "save",
            self.spec.storage.trial_location(trial.dirname).url,
            self.spec.storage_options,
            not commit,
        )
        try:
            committed, iteration = await asyncio.wait_for(call, timeout)
        except asyncio.TimeoutError:
            raise _timeout_error(f"saving a checkpoint of {trial}", timeout) from None
        return committed, iteration

    async def finish(self, trial: Trial) -> Committed:
        """Commit the trial's uploads and stop its trainable, in one call."""
        timeout = checkpoint_timeout()
        try:
            committed = await asyncio.wait_for(
                self.hosts.call(self._host(trial), "finish"), timeout
            )
        except asyncio.TimeoutError:
            raise _timeout_error(
                f"committing the checkpoints of {trial} and stopping it", timeout
            ) from None
        self._release(trial, healthy=True)
        return committed

    async def stop(self, trial: Trial) -> tuple[Committed, bool]:
        """Commit what uploads can still finish, then run the trainable's stop."""
        host = self._running.get(trial.trial_id)
        if host is None:
            return [], True
        committed: Committed = []
        try:
            committed = await asyncio.wait_for(
                self.hosts.call(host, "flush_checkpoints"), checkpoint_timeout()
            )
        except (TrialCodeError, WorkerLost, asyncio.TimeoutError):
            pass  # a failed upload is simply not committed
        try:
            await asyncio.wait_for(self.hosts.call(host, "stop", False), STOP_TIMEOUT_S)
            host.loaded_class = None
            healthy = True
        except (TrialCodeError, WorkerLost, asyncio.TimeoutError):
            healthy = False
        self._release(trial, healthy)
        return committed, healthy

    def abandon(self, trial: Trial) -> None:
        """The trial's worker is gone: drop its host."""
        self._release(trial, healthy=False)

    def _release(self, trial: Trial, healthy: bool) -> None:
        host = self._running.pop(trial.trial_id, None)
        if host is None:
            return
        if not self.spec.reuse_actors:
            host.loaded_class = None
        if healthy:
            self.hosts.give_back(host)
        else:
            self.hosts.discard(host)

    def delete_checkpoint(self, url: str) -> None:
        """Delete it from storage, manifest first (never seen half-deleted)."""
        delete_checkpoint(url, self.spec.storage_options)

    async def find_checkpoint(
        self, trial: Trial, iterations: frozenset[int]
    ) -> tuple[str, int] | None:
        """Newest committed checkpoint in storage among those the run asked for."""
        url = self.spec.storage.trial_location(trial.dirname).url
        listing = asyncio.wrap_future(
            in_thread(committed_checkpoints, url, self.spec.storage_options)
        )
        timeout = storage_timeout()
        try:
            found = await asyncio.wait_for(listing, timeout)
        except asyncio.TimeoutError:
            raise StorageTimeoutError(url, "listing committed checkpoints", timeout) from None
        ours = [(url, i) for i, url in found if i in iterations]
        return ours[-1] if ours else None

    async def close(self, stop_timeout: float | None = None) -> None:
        """Stop what still runs (best effort, all at once), then release every host."""
        timeout = STOP_TIMEOUT_S if stop_timeout is None else stop_timeout
        hosts = [self._running.pop(t) for t in list(self._running)]
        if hosts:
            await asyncio.gather(
                *(asyncio.wait_for(self.hosts.call(h, "stop", False), timeout) for h in hosts),
                return_exceptions=True,
            )
        await self.hosts.close(stop_timeout=timeout)
