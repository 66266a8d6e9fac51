"""``tune.SyncConfig`` (Ray 1.x's ``ray.tune.syncer.SyncConfig``).

Ray copies trial directories from the nodes to the driver and to ``upload_dir`` on a timer.
dasktune has nothing to copy: every process writes through fsspec straight to the experiment's
storage, so ``upload_dir`` (a URL such as ``s3://bucket/prefix``) is where the experiment
lives, and the timing fields have no effect. A custom syncer is user code dasktune cannot run,
so it is refused with the fix rather than ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_NO_EFFECT = ("sync_on_checkpoint", "sync_period", "node_sync_period", "cloud_sync_period")


@dataclass
class SyncConfig:
    """Where the experiment is uploaded (``upload_dir``), with Ray's other fields accepted.

    Raises:
        ValueError: ``syncer``, ``sync_to_cloud`` or ``sync_to_driver`` is a function or a
            Syncer (custom sync code).
    """

    upload_dir: str | None = None
    syncer: Any = "auto"
    sync_on_checkpoint: bool = True
    sync_period: float = 300
    sync_to_cloud: Any = None
    sync_to_driver: Any = None
    node_sync_period: float = -1
    cloud_sync_period: float = -1

    def __post_init__(self) -> None:
        for name in ("syncer", "sync_to_cloud", "sync_to_driver"):
            value = getattr(self, name)
            if value not in (None, "auto", True, False):
                raise ValueError(
                    f"SyncConfig({name}={value!r}): dasktune runs no sync code (every process "
                    "writes to the experiment's storage itself, through fsspec); leave it out, "
                    "and give upload_dir= (or tune.run(local_dir=)) an fsspec URL such as "
                    "'s3://bucket/prefix', with tune.run(storage_options=) for credentials."
                )
        if self.upload_dir is not None and not isinstance(self.upload_dir, str):
            raise TypeError(
                f"SyncConfig(upload_dir=...) must be a path or URL string, got "
                f"{type(self.upload_dir).__name__}."
            )
