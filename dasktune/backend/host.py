"""The actor that hosts one trial's Trainable on a worker.

All of a worker's synchronous actor methods share one thread, so two trials on one worker would
take turns. Every method here is ``async`` (it runs on the worker's event loop) and hands the
user's code to a thread this host owns, so trials sharing a worker train at the same time.
Outcomes come back as ``(ok, value, output)`` with the traceback text on failure, because Dask
drops tracebacks when it ships an exception back; ``output`` is what the trial printed since
the last reply, for the driver to show (see :mod:`dasktune.trial_output`), or None.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import functools
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import trial_info
from ..checkpoints import download_checkpoint, upload_checkpoint
from ..placement import GpuAllocator
from ..result_batching import Batch, BatchPolicy
from ..shipping import loads_trainable
from ..trainable import Trainable, require_initialised
from ..trial_info import TrialInfo, constructing
from ..trial_output import TrialOutput, current_output, install_router

Reply = tuple[bool, Any, Any]

# One per worker process: every host on the worker draws device ids from it.
_gpus = GpuAllocator()


def _declared_gpus() -> float:
    try:
        from distributed import get_worker

        return float(get_worker().state.total_resources.get("GPU", 0))
    except ValueError:
        return 0.0


def _upload(
    directory: str,
    trial_url: str,
    checkpoint_path: str,
    iteration: int,
    storage_options: dict[str, Any],
    scratch: str,
) -> tuple[str, int]:
    try:
        url = upload_checkpoint(directory, trial_url, checkpoint_path, iteration, storage_options)
        return url, iteration
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _upload_output(
    directory: str, trial_name: str, url: str, storage_options: dict[str, Any]
) -> None:
    """Add a trial's output files to those in its remote directory (a restarted trial's
    earlier output stays in front: object stores cannot append, so the file is rewritten),
    then remove the scratch dir (best effort: output is not worth failing a trial over)."""
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(url, **storage_options)
        for name in os.listdir(directory):
            local, remote = os.path.join(directory, name), f"{path}/{name}"
            if fs.exists(remote):
                with open(local, "rb") as new:
                    fs.pipe_file(remote, fs.cat_file(remote) + new.read())
            else:
                fs.put_file(local, remote)
    except Exception as exc:  # noqa: BLE001 - said in the worker's log
        print(f"dasktune: could not upload the output of {trial_name} to {url}: {exc!r}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class TrialHost:
    """Hosts one Trainable at a time; reused for later trials on the same worker."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="dasktune-trial")
        self._classes: dict[str, type[Trainable]] = {}
        self._trainable: Trainable | None = None
        self._trial_id: str | None = None
        # Checkpoint uploads run here, in order, while the trial goes on training.
        self._uploader = ThreadPoolExecutor(1, thread_name_prefix="dasktune-upload")
        self._uploads: list[concurrent.futures.Future[tuple[str, int]]] = []
        # Set by start() for the trial being hosted.
        self._policy: BatchPolicy | None = None
        self._keep_for_reuse = False
        # What the hosted trial prints: its files, and the share the driver shows.
        install_router()
        self._output: TrialOutput | None = None
        self._output_upload: tuple[str, dict[str, Any]] | None = None

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Reply:
        loop = asyncio.get_running_loop()
        # The copied context carries Dask's current-worker variable into the trial's thread,
        # so distributed.get_worker()/get_client() work in user code there; and the trial's
        # output, so what it prints is routed to it (a function's thread inherits both).
        context = contextvars.copy_context()
        context.run(current_output().set, self._output)
        try:
            reply: Reply = (
                True,
                await loop.run_in_executor(self._thread, context.run, fn, *args),
                None,
            )
        except Exception:
            reply = (False, traceback.format_exc(), None)
        # The call ended the trial (finish, stop, a batch with its last result): its last
        # output, and its files closed; with remote storage uploaded (in the upload thread,
        # after the trial's checkpoints) before the reply, so they are there when the run ends.
        ended = self._trial_id is None and self._output is not None
        reply = (reply[0], reply[1], self._drain(final=ended))
        if ended:
            upload = self._close_output()
            if upload is not None:
                await asyncio.wrap_future(upload)
        return reply

    def _drain(self, final: bool = False) -> dict[str, Any] | None:
        output = self._output
        return output.drain(final) if output is not None else None

    def _open_output(self, info: TrialInfo, output: dict[str, Any] | None) -> None:
        """The new trial's output: in its directory (local storage) or in a scratch dir that
        is uploaded to its directory when it ends (``output["url"]``: remote storage)."""
        self._close_output()
        if output is None:
            return
        url = output.get("url")
        directory = info.logdir if url is None else tempfile.mkdtemp(prefix="dasktune_output_")
        if directory is None:
            return
        self._output = TrialOutput(
            info.trial_name, directory, bool(output.get("forward")), shown_dir=url
        )
        self._output_upload = (url, output.get("storage_options") or {}) if url else None

    def _close_output(self) -> concurrent.futures.Future[None] | None:
        """Close the trial's output files; with remote storage, their upload in the upload
        thread (None: nothing to upload)."""
        output, upload = self._output, self._output_upload
        self._output = self._output_upload = None
        if output is None:
            return None
        output.close()
        if upload is None:
            return None
        return self._uploader.submit(_upload_output, output.directory, output.trial_name, *upload)

    def _require(self) -> Trainable:
        if self._trainable is None:
            raise RuntimeError("no trainable is running in this host (start() first)")
        return self._trainable

    async def start(
        self,
        cls_key: str,
        cls_bytes: bytes | None,
        config: dict[str, Any],
        info: TrialInfo,
        restore: tuple[str, dict[str, Any]] | bytes | None = None,
        reuse: bool = False,
        policy: BatchPolicy | None = None,
        keep_for_reuse: bool = False,
        output: dict[str, Any] | None = None,
    ) -> Reply:
        """Build the trial's Trainable (or reset the current one) and restore its checkpoint.

        ``restore`` is ``(checkpoint_url, storage_options)`` or checkpoint bytes. ``policy`` is
        what :meth:`train_batch` follows for this trial (sent once here, not with every call).
        ``reuse`` resets a loaded trainable of the same class instead of building a new one;
        ``keep_for_reuse`` keeps it, not stopped, when a batch ends the trial. ``output``: keep
        what the trial prints (``forward``: for the driver too; ``url``/``storage_options``:
        the trial's remote directory); None keeps nothing. Returns ``(True, "reset"|"new")``.
        """
        if self._trial_id is not None:
            _gpus.release(self._trial_id)
        gpu_amount = float(info.placement.get("own", {}).get("GPU", 0))
        info = dataclasses.replace(
            info, gpu_ids=_gpus.allocate(info.trial_id, gpu_amount, _declared_gpus())
        )
        self._trial_id = info.trial_id
        self._policy = policy
        self._keep_for_reuse = keep_for_reuse
        self._open_output(info, output)

        def build() -> str:
            trial_info.set_current(info)
            # Uploads left by an earlier trial that failed before they were collected belong
            # to that trial: finish them, never report them as this trial's.
            concurrent.futures.wait(self._uploads)
            self._uploads.clear()
            if cls_bytes is not None:
                self._classes[cls_key] = loads_trainable(cls_bytes)
            cls = self._classes[cls_key]
            how = "new"
            current = self._trainable
            if reuse and current is not None and type(current) is cls:
                if current.reset_for_trial(config, info):
                    how = "reset"
            if how == "new":
                if current is not None:
                    current.stop()
                    self._trainable = None
                with constructing(info):
                    trainable = cls(config=config)
                require_initialised(trainable)
                self._trainable = trainable
            if restore is not None:
                self._restore(restore)
            return how

        return await self._run(build)

    def _restore(self, restore: tuple[str, dict[str, Any]] | bytes) -> None:
        trainable = self._require()
        if isinstance(restore, bytes):
            trainable.restore_from_object(restore)
            return
        url, storage_options = restore
        scratch = tempfile.mkdtemp(prefix="dasktune_restore_")
        try:
            local = download_checkpoint(url, scratch, storage_options)
            trainable.restore(local)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def train(self) -> Reply:
        """One ``train()`` of the hosted Trainable: ``(True, result)``."""
        return await self._run(lambda: self._require().train())

    async def train_batch(self) -> Reply:
        """Train until the driver must see a result, following the policy given to
        :meth:`start` (see :mod:`dasktune.result_batching`).

        When the batch ends on a result that ends the trial with no checkpoint to take and no
        upload running, the trainable is stopped here too (as :meth:`finish`), saving the
        driver a round trip. A step (or that ending) that raises after some results ends the
        batch; those results still come back with the traceback, so nothing the trial
        reported is lost.
        """

        policy = self._policy or BatchPolicy(max_seconds=0, max_results=1)
        train_async = getattr(self._trainable, "train_async", None)
        if policy.max_results == 1 and train_async is not None:
            # A function trainable's thread hands its report to this loop directly (and when
            # it starts the function's thread here, that thread inherits the trial's output).
            token = current_output().set(self._output)
            try:
                result = await train_async()
            except Exception:
                return False, traceback.format_exc(), self._drain()
            finally:
                current_output().reset(token)
            if not self._may_finish(policy, result):
                return True, Batch([result]), self._drain()
            return await self._run(lambda: self._ending_batch([result]))

        def batch() -> Batch:
            trainable = self._require()
            results: list[dict[str, Any]] = []
            deadline = time.monotonic() + policy.max_seconds
            while True:
                try:
                    result = trainable.train()
                except Exception:
                    if not results:
                        raise
                    return Batch(results, error=traceback.format_exc())
                results.append(result)
                if policy.ends_batch(result):
                    break
                if len(results) >= policy.max_results or time.monotonic() >= deadline:
                    return Batch(results)
            if self._may_finish(policy, results[-1]):
                return self._ending_batch(results)
            return Batch(results)

        return await self._run(batch)

    def _may_finish(self, policy: BatchPolicy, last: dict[str, Any]) -> bool:
        # Uploads still running leave the ending to the driver's finish call, which waits for
        # them under the checkpoint timeout.
        return policy.finishes(last) and all(u.done() for u in self._uploads)

    def _ending_batch(self, results: list[dict[str, Any]]) -> Batch:
        """The batch of a trial's last results, the trial ended here (in the trial's thread)."""
        try:
            return Batch(results, finished=self._finish(self._keep_for_reuse))
        except Exception:  # the results stand; the driver fails the trial after them
            return Batch(results, error=traceback.format_exc())

    async def finish(self) -> Reply:
        """End the trial: wait for its uploads, then stop the trainable (unless :meth:`start`
        said to keep it for reuse). ``(True, committed)`` as for ``flush_checkpoints``; when an
        upload failed, the error comes back and the trainable is left for the driver to stop."""
        return await self._run(lambda: self._finish(self._keep_for_reuse))

    def _finish(self, keep_for_reuse: bool) -> list[tuple[str, int]]:
        committed = self._collect_uploads(wait=True)
        trainable = self._trainable
        try:
            if trainable is not None and not keep_for_reuse:
                self._trainable = None
                trainable.stop()
        finally:
            if self._trial_id is not None:
                _gpus.release(self._trial_id)
                self._trial_id = None
        return committed

    async def save(
        self, trial_url: str, storage_options: dict[str, Any], background: bool = True
    ) -> Reply:
        """Checkpoint into the trial's storage.

        The trainable saves to a local scratch dir in its own thread; the upload and commit
        then run in this host's upload thread while the trial trains on (``background``), or
        before returning. Returns ``(True, committed)``: the ``(url, iteration)`` of every
        checkpoint committed since the last report, oldest first. A failed background upload
        is raised at the next ``save`` or ``flush_checkpoints``. The reply is
        ``(True, (committed, iteration))`` with the iteration of the checkpoint just taken.
        """

        def save() -> tuple[list[tuple[str, int]], int]:
            trainable = self._require()
            iteration = trainable.iteration
            scratch = tempfile.mkdtemp(prefix="dasktune_save_")
            try:
                path = trainable.save(scratch)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            directory = os.path.join(scratch, f"checkpoint_{iteration}")
            job = functools.partial(
                _upload, directory, trial_url, path, iteration, storage_options, scratch
            )
            if not background:
                return [*self._collect_uploads(wait=True), job()], iteration
            # Back-pressure: at most one upload waits behind the running one.
            running = [u for u in self._uploads if not u.done()]
            while len(running) > 1:
                concurrent.futures.wait(running, return_when="FIRST_COMPLETED")
                running = [u for u in running if not u.done()]
            self._uploads.append(self._uploader.submit(job))
            return self._collect_uploads(wait=False), iteration

        return await self._run(save)

    async def flush_checkpoints(self) -> Reply:
        """Wait for this host's background uploads: ``(True, committed)`` as for ``save``."""
        return await self._run(lambda: self._collect_uploads(wait=True))

    def _collect_uploads(self, wait: bool) -> list[tuple[str, int]]:
        """Committed checkpoints of finished uploads, in order; raises a failed upload's error
        (the uploads after it are still collected next time)."""
        committed = []
        while self._uploads and (wait or self._uploads[0].done()):
            upload = self._uploads.pop(0)
            committed.append(upload.result())
        return committed

    async def save_to_object(self) -> Reply:
        """Checkpoint into bytes: ``(True, (bytes, iteration))``."""
        return await self._run(
            lambda: (self._require().save_to_object(), self._require().iteration)
        )

    async def stop(self, keep_for_reuse: bool = False) -> Reply:
        """End the hosted trial (``_stop``/``cleanup``), unless it is kept to be reset."""

        def stop() -> None:
            trainable = self._trainable
            if trainable is None or keep_for_reuse:
                return
            self._trainable = None
            trainable.stop()

        if self._trial_id is not None:
            _gpus.release(self._trial_id)
            self._trial_id = None
        return await self._run(stop)
