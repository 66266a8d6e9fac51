"""The class API: ``Trainable``, with Ray Tune 0.8's underscore hooks and the modern names."""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import shutil
import socket
import tarfile
import tempfile
import time
import uuid
from datetime import datetime
from typing import Any

from . import result as R
from .placement import TrialPlacement
from .result_check import check_result
from .trial_info import TrialInfo, info_for_new_trainable

_METADATA_SUFFIX = ".tune_metadata"
_DICT_CHECKPOINT_FILE = "checkpoint"


class Trainable:
    """Base class for a trainable: subclass it and implement ``_setup``/``_train`` (or the modern
    ``setup``/``step``), and ``_save``/``_restore`` (``save_checkpoint``/``load_checkpoint``) for
    checkpoints.

    dasktune builds one instance per trial inside a Dask actor on a worker, calls ``train()``
    once per result, and ``stop()`` when the trial ends however it ends.
    """

    def __init__(self, config: dict[str, Any] | None = None, logger_creator: Any = None) -> None:
        info = info_for_new_trainable() or TrialInfo()
        self._trial_info = info
        self.config: dict[str, Any] = config if config is not None else {}
        self._experiment_id = info.experiment_id or uuid.uuid4().hex
        self._set_progress(iteration=0, time_total=0.0, timesteps_total=None, episodes_total=None)
        self._stopped = False
        # A logdir this trainable made for itself (with remote storage) is removed at stop().
        self._own_logdir: str | None = None
        self._logdir = self._make_logdir(info, logger_creator)
        self._local_ip = _local_ip()
        self._setup(copy.deepcopy(self.config))

    def __getattr__(self, name: str) -> Any:
        # Only reached when the normal lookup fails, so it costs nothing otherwise. A subclass
        # __init__ that skipped Trainable.__init__ leaves all of our attributes missing: say
        # so, rather than name whichever of them happens to be used first.
        if not name.startswith("__") and "_trial_info" not in self.__dict__:
            raise AttributeError(missing_init_message(type(self)), name=name, obj=self)
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
        )

    def _set_progress(
        self,
        iteration: int,
        time_total: float,
        timesteps_total: float | None,
        episodes_total: float | None,
    ) -> None:
        """Set the totals (a new trial: zeros; a restore: the checkpoint's) and start the
        since-restore counters over."""
        self._iteration = iteration
        self._time_total = time_total
        self._timesteps_total = timesteps_total
        self._episodes_total = episodes_total
        self._time_since_restore = 0.0
        self._timesteps_since_restore = 0.0
        self._iterations_since_restore = 0

    def _make_logdir(self, info: TrialInfo, logger_creator: Any) -> str:
        if logger_creator is not None:
            logger = logger_creator(self.config)
            logdir = getattr(logger, "logdir", None)
            if logdir:
                return str(logdir)
        if info.logdir:
            os.makedirs(info.logdir, exist_ok=True)
            return info.logdir
        self._own_logdir = tempfile.mkdtemp(prefix=f"{type(self).__name__}_")
        return self._own_logdir

    def _remove_own_logdir(self) -> None:
        if self._own_logdir is not None:
            shutil.rmtree(self._own_logdir, ignore_errors=True)
            self._own_logdir = None

    # -- hooks a subclass implements (underscore names are Ray 0.8's; plain names are modern) ---
    def _setup(self, config: dict[str, Any]) -> None:
        """Set up the trainable; gets a copy of the config. Defaults to calling ``setup``."""
        self.setup(config)

    def setup(self, config: dict[str, Any]) -> None:
        """Modern name for ``_setup``. Default: nothing to set up."""

    def _train(self) -> dict[str, Any]:
        """Run one logical iteration and return a result dict. Defaults to calling ``step``."""
        return self.step()

    def step(self) -> dict[str, Any]:
        """Modern name for ``_train``."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement _train() (or step()) returning a dict of "
            "metrics."
        )

    def _save(self, tmp_checkpoint_dir: str) -> str | dict[str, Any]:
        """Write a checkpoint under ``tmp_checkpoint_dir``; return a path in it, or a dict.

        Defaults to calling ``save_checkpoint``.
        """
        return self.save_checkpoint(tmp_checkpoint_dir)

    def save_checkpoint(self, tmp_checkpoint_dir: str) -> str | dict[str, Any]:
        """Modern name for ``_save``."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot checkpoint: implement _save(tmp_checkpoint_dir) and "
            "_restore(checkpoint) (or save_checkpoint/load_checkpoint)."
        )

    def _restore(self, checkpoint: str | dict[str, Any]) -> None:
        """Restore from what ``_save`` returned (a path, same layout; or the dict).

        Defaults to calling ``load_checkpoint``.
        """
        self.load_checkpoint(checkpoint)

    def load_checkpoint(self, checkpoint: str | dict[str, Any]) -> None:
        """Modern name for ``_restore``."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot restore: implement _restore(checkpoint) (or "
            "load_checkpoint)."
        )

    def _stop(self) -> None:
        """Release what the trainable holds. Defaults to calling ``cleanup``."""
        self.cleanup()

    def cleanup(self) -> None:
        """Modern name for ``_stop``. Default: nothing to release."""

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Take a new config in place (for ``reuse_actors=True``); return True on success.

        The default returns False, meaning this trainable cannot be reused.
        """
        return False

    def reset_for_trial(self, new_config: dict[str, Any], info: TrialInfo) -> bool:
        """Reuse this instance for another trial (``reuse_actors=True``) via ``reset_config``.

        On success the config, trial identity, logdir and counters are the new trial's; returns
        False (nothing changed but what ``reset_config`` did) when the trainable declines.
        """
        if not self.reset_config(new_config):
            return False
        self.config = new_config
        self._trial_info = info
        self._remove_own_logdir()
        self._logdir = self._make_logdir(info, None)
        self._set_progress(iteration=0, time_total=0.0, timesteps_total=None, episodes_total=None)
        return True

    @classmethod
    def default_resource_request(cls, config: dict[str, Any]) -> Any:
        """Resources a trial with this config needs (a ``Resources`` or a Ray-style dict), or
        None to use ``resources_per_trial``. Also accepted under Ray 0.8's spelling
        ``default_resource_requests``."""
        return None

    # -- what dasktune calls ---------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Run one iteration via ``_train`` and return its result with the auto-filled fields.

        The result is checked first (``done`` a bool, keys the logs can write, values that can
        travel to the driver), so a bad one fails this trial, with its key and the fix.
        """
        start = time.time()
        result = self._train()
        if not isinstance(result, dict):
            raise TypeError(
                f"{self._result_source()} must return a dict of metrics, but it returned "
                f"{type(result).__name__}: {result!r:.200}"
            )
        return self._complete_result(self._checked(dict(result)), start)

    def _result_source(self) -> str:
        return f"trial {self.trial_name}: {type(self).__name__}._train() (or step())"

    def _checked(self, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` checked as it leaves the user's code (see :mod:`dasktune.result_check`)."""
        return check_result(result, self._result_source())

    def _complete_result(self, result: dict[str, Any], start: float) -> dict[str, Any]:
        self._iteration += 1
        self._iterations_since_restore += 1
        if result.get(R.TIME_THIS_ITER_S) is not None:
            time_this_iter = float(result[R.TIME_THIS_ITER_S])
        else:
            time_this_iter = time.time() - start
        self._time_total += time_this_iter
        self._time_since_restore += time_this_iter
        result.setdefault(R.DONE, False)
        if result.get(R.TIMESTEPS_THIS_ITER) is not None:
            self._timesteps_total = (self._timesteps_total or 0) + result[R.TIMESTEPS_THIS_ITER]
            self._timesteps_since_restore += result[R.TIMESTEPS_THIS_ITER]
        if result.get(R.EPISODES_THIS_ITER) is not None:
            self._episodes_total = (self._episodes_total or 0) + result[R.EPISODES_THIS_ITER]
        if self._timesteps_total is not None:
            result.setdefault(R.TIMESTEPS_TOTAL, self._timesteps_total)
            result.setdefault(R.TIMESTEPS_SINCE_RESTORE, self._timesteps_since_restore)
        if self._episodes_total is not None:
            result.setdefault(R.EPISODES_TOTAL, self._episodes_total)
        # A user-reported iteration wins; keep the counter in step so checkpoints agree with it.
        result.setdefault(R.TRAINING_ITERATION, self._iteration)
        if result.get("mean_loss") is not None:
            result.setdefault("neg_mean_loss", -result["mean_loss"])
        now = datetime.today()
        result.update(
            {
                R.EXPERIMENT_ID: self._experiment_id,
                R.DATE: now.strftime("%Y-%m-%d_%H-%M-%S"),
                R.TIMESTAMP: int(now.timestamp()),
                R.TIME_THIS_ITER_S: time_this_iter,
                R.TIME_TOTAL_S: self._time_total,
                R.PID: os.getpid(),
                R.HOSTNAME: socket.gethostname(),
                R.NODE_IP: self._local_ip,
                R.CONFIG: self.config,
                R.TIME_SINCE_RESTORE: self._time_since_restore,
                R.ITERATIONS_SINCE_RESTORE: self._iterations_since_restore,
                R.TRIAL_ID: self._trial_info.trial_id,
            }
        )
        return result

    def stop(self) -> None:
        """End the trainable: runs ``_stop`` (``cleanup``) once, then removes the scratch
        ``logdir`` made when the trial's storage is remote (files kept there are lost; put
        them in checkpoints)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._stop()
        finally:
            self._remove_own_logdir()

    # -- checkpoints ---------------------------------------------------------------------------
    @classmethod
    def can_checkpoint(cls) -> bool:
        """Whether the class implements saving (``_save`` or ``save_checkpoint``)."""
        return (
            cls._save is not Trainable._save or cls.save_checkpoint is not Trainable.save_checkpoint
        )

    def save(self, checkpoint_dir: str | None = None) -> str:
        """Save to ``<checkpoint_dir or logdir>/checkpoint_<iteration>``; return the checkpoint
        path (the path ``_save`` returned, or the file its dict was pickled into)."""
        base = checkpoint_dir if checkpoint_dir is not None else self.logdir
        directory = os.path.join(base, f"checkpoint_{self._iteration}")
        os.makedirs(directory, exist_ok=True)
        saved = self._save(directory)
        if isinstance(saved, dict):
            path = os.path.join(directory, _DICT_CHECKPOINT_FILE)
            with open(path, "wb") as f:
                pickle.dump(saved, f)
            as_dict = True
        elif isinstance(saved, (str, os.PathLike)):
            as_dict = False
            path = os.path.abspath(os.fspath(saved))
            if not (path + os.sep).startswith(os.path.abspath(directory) + os.sep):
                raise ValueError(
                    f"{type(self).__name__}._save() returned {path!r}, which is outside the "
                    f"checkpoint dir {directory!r} it was given; return a path inside it (or "
                    "the dir itself), since checkpoints are moved between workers."
                )
        else:
            raise TypeError(
                f"{type(self).__name__}._save() must return a path inside the checkpoint dir or "
                f"a dict, but returned {type(saved).__name__}."
            )
        metadata = {
            "experiment_id": self._experiment_id,
            **self._saved_progress(),
            "saved_as_dict": as_dict,
            "relative_path": os.path.relpath(path, directory),
        }
        with open(_metadata_path(path), "w") as f:
            json.dump(metadata, f)
        return path

    def _saved_progress(self) -> dict[str, Any]:
        """The totals the saved state is at (where a restore continues counting from)."""
        return {
            "iteration": self._iteration,
            "timesteps_total": self._timesteps_total,
            "time_total": self._time_total,
            "episodes_total": self._episodes_total,
        }

    def restore(self, checkpoint_path: str) -> None:
        """Restore from a path that ``save`` returned (a copy of its directory works too)."""
        checkpoint_path = os.fspath(checkpoint_path)
        if not os.path.exists(_metadata_path(checkpoint_path)):
            checkpoint_path = find_checkpoint_path(checkpoint_path)
        with open(_metadata_path(checkpoint_path)) as f:
            metadata = json.load(f)
        if metadata["saved_as_dict"]:
            with open(checkpoint_path, "rb") as f:
                self._restore(pickle.load(f))
        else:
            self._restore(checkpoint_path)
        self._set_progress(
            iteration=metadata["iteration"],
            time_total=metadata["time_total"],
            timesteps_total=metadata["timesteps_total"],
            episodes_total=metadata["episodes_total"],
        )

    def save_to_object(self) -> bytes:
        """Save a checkpoint into bytes (for moving a trial without shared storage)."""
        tmp = tempfile.mkdtemp(prefix="dasktune_obj_")
        try:
            path = self.save(tmp)
            return pack_checkpoint(os.path.dirname(path) if not os.path.isdir(path) else path, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def restore_from_object(self, obj: bytes) -> None:
        """Restore from bytes made by ``save_to_object``."""
        tmp = tempfile.mkdtemp(prefix="dasktune_obj_")
        try:
            directory = unpack_checkpoint(obj, tmp)
            self.restore(directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def delete_checkpoint(self, checkpoint_path: str) -> None:
        """Delete the local checkpoint directory that holds ``checkpoint_path``."""
        directory = (
            checkpoint_path if os.path.isdir(checkpoint_path) else os.path.dirname(checkpoint_path)
        )
        shutil.rmtree(directory, ignore_errors=True)

    # -- properties ----------------------------------------------------------------------------
    @property
    def logdir(self) -> str:
        """Directory for this trial's own files on the worker: the trial dir with local storage, a
        scratch dir removed when the trial ends with remote storage."""
        return self._logdir

    @property
    def iteration(self) -> int:
        """Iterations trained so far (restored checkpoints count)."""
        return self._iteration

    @property
    def training_iteration(self) -> int:
        """Same as ``iteration`` (Ray 1.x name)."""
        return self._iteration

    @property
    def trial_id(self) -> str:
        """The trial's id (``"default"`` outside a tuning run)."""
        return self._trial_info.trial_id

    @property
    def trial_name(self) -> str:
        """The trial's name (``"default"`` outside a tuning run)."""
        return self._trial_info.trial_name

    @property
    def placement(self) -> TrialPlacement:
        """Where this trial runs and the extra slots reserved for its own sub-work."""
        return TrialPlacement.from_info(self._trial_info)

    def get_config(self) -> dict[str, Any]:
        """The config this trainable was built or last reset with."""
        return self.config

    def get_current_ip(self) -> str:
        """IP address of the machine running this trainable."""
        return self._local_ip


def missing_init_message(cls: type) -> str:
    """Why a trainable whose ``__init__`` did not call ``Trainable.__init__`` fails, and the fix."""
    name = cls.__name__
    return (
        f"{name}.__init__ did not call super().__init__(config), so the Trainable was never set "
        "up (its config, iteration counters and trial info are missing). Call "
        f"super().__init__(config) in {name}.__init__ (Ray's signature is "
        "__init__(self, config=None, logger_creator=None)), or move that code into setup()."
    )


def require_initialised(trainable: Trainable) -> None:
    """Raise ``TypeError`` (see :func:`missing_init_message`) unless ``Trainable.__init__`` ran."""
    if "_trial_info" not in vars(trainable):
        raise TypeError(missing_init_message(type(trainable)))


def _metadata_path(checkpoint_path: str) -> str:
    # A checkpoint that is a whole directory keeps its metadata inside it (Ray 0.8 wrote it
    # beside the directory, where copying the directory alone would lose it).
    if os.path.isdir(checkpoint_path):
        return os.path.join(checkpoint_path, _METADATA_SUFFIX)
    return checkpoint_path + _METADATA_SUFFIX


def find_checkpoint_path(directory: str) -> str:
    """The checkpoint path inside a ``checkpoint_<iter>`` directory (the one with metadata)."""
    if os.path.isfile(directory):
        directory = os.path.dirname(directory)
    for root, _dirs, files in os.walk(directory):
        for name in sorted(files):
            if name == _METADATA_SUFFIX:
                return root
            if name.endswith(_METADATA_SUFFIX):
                return os.path.join(root, name[: -len(_METADATA_SUFFIX)])
    raise FileNotFoundError(
        f"{directory!r} holds no dasktune checkpoint (no *{_METADATA_SUFFIX} file); pass a "
        "checkpoint_<iter> directory or the path that Trainable.save() returned."
    )


def pack_checkpoint(directory: str, relative_to: str) -> bytes:
    """Tar a checkpoint directory into bytes, paths relative to ``relative_to``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(directory, arcname=os.path.relpath(directory, relative_to))
    return buffer.getvalue()


def unpack_checkpoint(data: bytes, target: str) -> str:
    """Untar bytes from :func:`pack_checkpoint` under ``target``; return the checkpoint dir."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        top = {m.name.split("/", 1)[0] for m in tar.getmembers()}
        try:
            tar.extractall(target, filter="data")
        except TypeError:  # Python < 3.10.12 has no extraction filters
            tar.extractall(target)
    if len(top) != 1:
        raise ValueError("checkpoint bytes must hold exactly one checkpoint directory")
    return os.path.join(target, top.pop())


def _local_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
