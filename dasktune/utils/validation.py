"""``validate_save_restore``: check a Trainable's ``_save``/``_restore`` before a long run."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from typing import Any

from ..backend.cluster import connect, run_on_client_loop
from ..backend.dask_backend import DaskBackend
from ..result import TRAINING_ITERATION
from ..shipping import dumps_trainable
from ..trainable import Trainable
from ..trial_info import TrialInfo


def validate_save_restore(
    trainable_cls: type[Trainable],
    config: dict[str, Any] | None = None,
    num_gpus: int = 0,
    use_object_store: bool = False,
    client: Any = None,
    address: str | None = None,
) -> bool:
    """Train 3 steps in one actor, save, restore into a second actor, and check that it goes on
    with iterations 4 and 5 (Ray's check, on the cluster ``tune.run`` would pick).

    The second actor is placed on another worker when the cluster has more than one, and the
    checkpoint goes through storage (a temporary directory), as in a real failover; with
    ``use_object_store=True`` it travels as bytes instead. Raises AssertionError naming what
    went wrong; returns True.
    """
    if num_gpus:
        raise ValueError(
            "validate_save_restore(num_gpus=...) is not supported: the check places actors "
            "itself; run it on a cluster whose workers have the GPUs the trainable needs."
        )
    connection = connect(client=client, address=address)
    scratch = tempfile.mkdtemp(prefix="dasktune_validate_")
    try:
        return run_on_client_loop(
            connection.client,
            _validate(
                DaskBackend(connection.client),
                trainable_cls,
                config or {},
                use_object_store,
                scratch,
            ),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        connection.close()


async def _validate(
    backend: DaskBackend,
    trainable_cls: type[Trainable],
    config: dict[str, Any],
    use_object_store: bool,
    scratch: str,
) -> bool:
    workers = sorted(await backend.worker_capacities())
    if not workers:
        raise AssertionError("validate_save_restore needs a cluster with at least one worker")
    cls_key = f"validate-{uuid.uuid4().hex[:8]}"
    cls_bytes = dumps_trainable(trainable_cls)
    first = await backend.get_host(workers[0])
    second = await backend.get_host(workers[-1])
    try:
        info = TrialInfo(trial_id="validate", trial_name="validate")
        await backend.call(first, "start", cls_key, cls_bytes, config, info)
        await backend.call(second, "start", cls_key, cls_bytes, config, info)
        result: dict[str, Any] = {}
        for _ in range(3):
            result = await backend.call(first, "train")
        if not result.get(TRAINING_ITERATION):
            raise AssertionError(
                "Validation will not pass because it requires `training_iteration` to be returned."
            )
        if use_object_store:
            blob, _ = await backend.call(first, "save_to_object")
            restore: Any = blob
        else:
            committed, _ = await backend.call(first, "save", scratch, {}, False)
            restore = (committed[-1][0], {})
        await backend.call(second, "start", cls_key, None, config, info, restore, True)
        for expected in (4, 5):
            result = await backend.call(second, "train")
            if result[TRAINING_ITERATION] != expected:
                raise AssertionError(
                    f"after restoring a checkpoint taken at iteration 3, train() reported "
                    f"training_iteration={result[TRAINING_ITERATION]}, expected {expected}: "
                    f"check that {trainable_cls.__name__}._restore restores the state _save "
                    "wrote."
                )
        await backend.call(first, "stop")
        await backend.call(second, "stop")
        return True
    finally:
        await backend.close()
