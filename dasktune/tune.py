"""``dasktune.run``: Ray Tune's ``tune.run`` on a Dask cluster."""

from __future__ import annotations

import difflib
import inspect
import os
import posixpath
import random
import re
import uuid
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .backend.cluster import connect, run_on_client_loop
from .backend.dask_backend import DaskBackend
from .checkpoints import committed_checkpoints
from .controller import CheckpointPolicy, Controller, FailurePolicy
from .driver import Driver, DriverConfig, RetentionPolicy
from .error import TuneError
from .experiment_state import plan_resume, search_space_fingerprint, trial_from_record
from .function_trainable import trainable_name_of
from .ledger import ResourceLedger
from .progress import ProgressReporter
from .registry import get_trainable_cls, to_trainable_class
from .resources import Resources
from .result import EXPERIMENT_STATE_FILE
from .schedulers import FIFOScheduler, TrialScheduler
from .search import generate_variants
from .shipping import dumps_trainable
from .stoppers import make_stopper
from .storage import ExperimentStorage, StorageLocation
from .trainable import Trainable
from .trial import Trial

if TYPE_CHECKING:
    from .analysis import ExperimentAnalysis

DEFAULT_LOCAL_DIR = os.path.join("~", "dasktune_results")
_MAX_DIRNAME = 130

# Ray arguments that have no meaning here, and why (a warning says so when one is passed).
_IGNORED_RAY_ARGS = {
    "sync_to_cloud": "workers write to storage themselves",
    "sync_to_driver": "workers write to storage themselves",
    "sync_on_checkpoint": "checkpoints are committed to storage before they count",
    "global_checkpoint_period": "the experiment state is written on a timer",
    "with_server": "there is no Tune server",
    "server_port": "there is no Tune server",
    "queue_trials": "pending trials always wait for free slots",
    "ray_auto_init": "there is no Ray to start",
    "trial_executor": "the Dask backend is the executor",
    "loggers": "result.json and progress.csv are always written",
    "export_formats": "model export is not supported",
    "progress_reporter": "progress is printed according to verbose",
    "log_to_file": "worker logs stay with Dask",
    "callbacks": "callbacks are not supported yet",
}


def run(
    run_or_experiment: Any,
    name: str | None = None,
    stop: Any = None,
    config: dict[str, Any] | None = None,
    resources_per_trial: Mapping[str, Any] | Resources | None = None,
    num_samples: int = 1,
    local_dir: str | None = None,
    upload_dir: str | None = None,
    trial_name_creator: Callable[[Trial], str] | None = None,
    trial_dirname_creator: Callable[[Trial], str] | None = None,
    checkpoint_freq: int = 0,
    checkpoint_at_end: bool = False,
    keep_checkpoints_num: int | None = None,
    checkpoint_score_attr: str | None = None,
    max_failures: int = 0,
    fail_fast: bool = False,
    restore: str | None = None,
    search_alg: Any = None,
    scheduler: TrialScheduler | None = None,
    verbose: int | bool = 1,
    resume: bool | str = False,
    reuse_actors: bool = False,
    raise_on_failed_trial: bool = True,
    return_trials: bool = False,
    metric: str | None = None,
    mode: str | None = None,
    max_concurrent_trials: int | None = None,
    client: Any = None,
    address: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    worker_wait_timeout_s: float | None = None,
    seed: int | None = None,
    **ray_only_args: Any,
) -> ExperimentAnalysis | list[Trial]:
    """Run an experiment: every configuration of ``config`` (x ``num_samples``) as a trial.

    Same arguments and meaning as Ray Tune's ``tune.run``; dasktune adds ``client=``/
    ``address=`` (which Dask cluster; by default the current Client, dask config
    ``scheduler-address``, else a LocalCluster started and closed by the run),
    ``storage_options=`` (fsspec options for ``local_dir``/``upload_dir`` URLs, passed to every
    process that touches storage), ``worker_wait_timeout_s=`` (how long to wait for a cluster with
    no workers; default: forever, with a message) and ``seed=`` (reproducible sampling).

    Returns an :class:`ExperimentAnalysis` (or the trials, with ``return_trials=True``). Raises
    :class:`TuneError` after all trials end if any failed and ``raise_on_failed_trial``.
    """
    _check_ray_only_args(ray_only_args)
    verbose = _verbosity(verbose)
    trainable_cls, trainable_name = _resolve_trainable(run_or_experiment)
    stopper = make_stopper(stop)
    _check_arguments(
        trainable_cls,
        trainable_name,
        num_samples=num_samples,
        checkpoint_freq=checkpoint_freq,
        checkpoint_at_end=checkpoint_at_end,
        keep_checkpoints_num=keep_checkpoints_num,
        max_failures=max_failures,
        verbose=verbose,
        max_concurrent_trials=max_concurrent_trials,
        mode=mode,
        scheduler=scheduler,
        search_alg=search_alg,
        resume=resume,
    )
    if config is None:
        config = {}
    default_resources = (
        Resources.from_request(resources_per_trial) if resources_per_trial is not None else None
    )
    storage_options = dict(storage_options or {})
    root = StorageLocation(upload_dir or local_dir or DEFAULT_LOCAL_DIR, storage_options)
    fingerprint = search_space_fingerprint(config, num_samples)

    if resume:
        location = _experiment_to_resume(root, name, trainable_name)
        trials, run_uid = _resume_trials(location, trainable_name, fingerprint, resume)
        experiment_name = posixpath.basename(location.url.rstrip("/").replace(os.sep, "/"))
    else:
        if seed is None:
            seed = random.getrandbits(64)  # so random.seed(...) before run() reproduces trials
        variants = generate_variants(config, num_samples=num_samples, seed=seed)
        run_uid = uuid.uuid4().hex[:5]
        experiment_name, location = _new_experiment(root, name, trainable_name, run_uid)
        trials = _new_trials(
            trainable_cls,
            trainable_name,
            variants,
            run_uid,
            default_resources,
            restore,
            trial_name_creator,
            trial_dirname_creator,
        )
    for trial in trials:
        trial.logdir = location.join(trial.dirname)

    controller = Controller(
        stopper=stopper,
        checkpoint_policy=CheckpointPolicy(freq=checkpoint_freq, at_end=checkpoint_at_end),
        failure_policy=FailurePolicy(max_failures=max_failures, fail_fast=fail_fast),
        scheduler=scheduler or FIFOScheduler(),
        max_concurrent_trials=max_concurrent_trials,
    )
    for trial in trials:
        controller.add_trial(trial)
    progress = ProgressReporter(verbose)
    connection = connect(
        client=client,
        address=address,
        trial_requests={t.resources for t in trials},
        max_trials_at_once=max_concurrent_trials,
    )
    try:
        storage = ExperimentStorage(location)
        driver = Driver(
            controller=controller,
            backend=DaskBackend(connection.client),
            storage=storage,
            progress=progress,
            config=DriverConfig(
                cls_key=f"{run_uid}:{trainable_name}",
                cls_bytes=dumps_trainable(trainable_cls),
                experiment_id=run_uid,
                storage_options=storage_options,
                reuse_actors=reuse_actors,
                retention=RetentionPolicy(keep_checkpoints_num, checkpoint_score_attr),
                worker_wait_timeout_s=worker_wait_timeout_s,
                state_meta={
                    "name": experiment_name,
                    "trainable_name": trainable_name,
                    "search_space": fingerprint,
                },
            ),
            infeasible_check=_cluster_check({t.resources for t in trials}),
        )
        progress.on_start(storage.url, len(trials), _describe_cluster(connection.client))
        run_on_client_loop(connection.client, driver.run())
    finally:
        connection.close()

    errored = controller.errored()
    if errored and raise_on_failed_trial:
        listing = "; ".join(f"{t} (see {t.logdir}/error.txt)" for t in errored)
        raise TuneError(f"{len(errored)} trial(s) did not complete: {listing}")
    if return_trials:
        return trials
    from .analysis import ExperimentAnalysis

    analysis = ExperimentAnalysis(
        storage.url, storage_options=storage_options, default_metric=metric, default_mode=mode
    )
    analysis.trials = trials
    return analysis


def _check_arguments(
    trainable_cls: type[Trainable],
    trainable_name: str,
    *,
    num_samples: Any,
    checkpoint_freq: Any,
    checkpoint_at_end: bool,
    keep_checkpoints_num: Any,
    max_failures: Any,
    verbose: Any,
    max_concurrent_trials: Any,
    mode: Any,
    scheduler: Any,
    search_alg: Any,
    resume: Any,
) -> None:
    """Every check on run()'s arguments that needs no cluster, so bad input fails at once."""
    if search_alg is not None:
        raise ValueError(
            "search_alg= is not supported yet: dasktune generates trials from config= (grid "
            "search and random sampling). Remove search_alg= or use tune.grid_search/sample_from."
        )
    if resume not in (False, True, "ERRORED_ONLY"):
        raise ValueError(
            f"resume must be False, True or 'ERRORED_ONLY', got {resume!r}; True continues every "
            "unfinished trial from its newest checkpoint, 'ERRORED_ONLY' also reruns failed ones."
        )
    _check_int("num_samples", num_samples, minimum=1)
    _check_int("checkpoint_freq", checkpoint_freq, minimum=0)
    _check_int("max_failures", max_failures, minimum=-1)
    _check_int("verbose", verbose, minimum=0)
    if keep_checkpoints_num is not None:
        _check_int("keep_checkpoints_num", keep_checkpoints_num, minimum=1)
    if max_concurrent_trials is not None:
        _check_int("max_concurrent_trials", max_concurrent_trials, minimum=1)
    if mode is not None and mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if scheduler is not None and not isinstance(scheduler, TrialScheduler):
        raise TypeError(
            "scheduler= must be a dasktune.schedulers.TrialScheduler, got "
            f"{type(scheduler).__name__}"
        )
    wants_checkpoints = checkpoint_freq or checkpoint_at_end
    if wants_checkpoints and not trainable_cls.can_checkpoint():
        raise ValueError(
            f"checkpoint_freq/checkpoint_at_end need a trainable that can checkpoint, but "
            f"{trainable_name} has no _save/_restore (save_checkpoint/load_checkpoint). Implement "
            "them, or drop the checkpoint arguments."
        )


def _new_trials(
    trainable_cls: type[Trainable],
    trainable_name: str,
    variants: list[Any],
    run_uid: str,
    default_resources: Resources | None,
    restore: str | None,
    name_creator: Callable[[Trial], str] | None,
    dirname_creator: Callable[[Trial], str] | None,
) -> list[Trial]:
    """One Trial per sampled configuration."""
    trials = []
    for index, variant in enumerate(variants):
        trial = Trial(
            trial_id=f"{run_uid}_{index:05d}",
            index=index,
            trainable_name=trainable_name,
            config=variant.config,
            experiment_tag=f"{index}_{variant.tag}" if variant.tag else str(index),
            dirname="",
            resources=_trial_resources(trainable_cls, variant.config, default_resources),
            restore_path=restore,
        )
        trial.dirname = _trial_dirname(trial, name_creator, dirname_creator)
        trials.append(trial)
    return trials


def _new_experiment(
    root: StorageLocation, name: str | None, trainable_name: str, run_uid: str
) -> tuple[str, StorageLocation]:
    if name is None:
        name = f"{trainable_name}_{datetime.now():%Y-%m-%d_%H-%M-%S}"
        if root.exists(name):
            name = f"{name}_{run_uid}"
    location = root.child(name)
    if location.exists(EXPERIMENT_STATE_FILE):
        raise ValueError(
            f"{location.url} already holds an experiment ({EXPERIMENT_STATE_FILE}); pass "
            "resume=True to continue it, resume='ERRORED_ONLY' to also rerun its failed trials, "
            "or choose another name=."
        )
    return name, location


def _experiment_to_resume(
    root: StorageLocation, name: str | None, trainable_name: str
) -> StorageLocation:
    if name is not None:
        location = root.child(name)
        if not location.exists(EXPERIMENT_STATE_FILE):
            raise ValueError(
                f"resume=True, but {location.url} holds no {EXPERIMENT_STATE_FILE} to resume "
                "from; check name=/local_dir=, or run without resume= to start it."
            )
        return location
    newest: tuple[float, StorageLocation] | None = None
    for child in root.subdirs():
        state = ExperimentStorage(child, create=False).read_state()
        if state and state.get("trainable_name") == trainable_name:
            if newest is None or state.get("timestamp", 0) > newest[0]:
                newest = (state.get("timestamp", 0), child)
    if newest is None:
        raise ValueError(
            f"resume=True, but no experiment of {trainable_name} was found under {root.url}; "
            "pass name= of the experiment to resume."
        )
    return newest[1]


def _resume_trials(
    location: StorageLocation, trainable_name: str, fingerprint: str, mode: bool | str
) -> tuple[list[Trial], str]:
    state = ExperimentStorage(location, create=False).read_state()
    assert state is not None
    if state.get("trainable_name") != trainable_name:
        raise ValueError(
            f"cannot resume {location.url} with {trainable_name}: it was run with "
            f"{state.get('trainable_name')}. Pass the same trainable, or a new name=."
        )
    if state.get("search_space") != fingerprint:
        raise ValueError(
            f"cannot resume {location.url}: config/num_samples differ from the run that made it "
            "(the trials keep the configs they were sampled with). Pass the same config= and "
            "num_samples=, or start a new experiment with another name=."
        )
    trials = [trial_from_record(record) for record in state["trials"]]
    for trial in trials:
        found = committed_checkpoints(location.join(trial.dirname), location.storage_options)
        plan_resume(trial, found[-1] if found else None, mode)
    return trials, state["experiment_id"]


def _cluster_check(shapes: set[Resources]) -> Callable[[ResourceLedger], str | None]:
    """A check run whenever workers join: why the trials can never run here (or None), and a
    one-time warning when the cluster has GPUs no trial asks for."""
    wants_gpu = any(s.gpu or s.extra_gpu for s in shapes)

    def check(ledger: ResourceLedger) -> str | None:
        if not wants_gpu and ledger.total_capacity().get("GPU", 0) > 0:
            _warn_idle_gpus()
        for shape in shapes:
            message = ledger.explain_infeasible(shape)
            if message:
                return message
        return None

    return check


_warned_idle_gpus = False


def _warn_idle_gpus() -> None:
    global _warned_idle_gpus
    if not _warned_idle_gpus:
        _warned_idle_gpus = True
        warnings.warn(
            "the cluster has GPUs but no trial asks for one, so trials will not use them; "
            "pass resources_per_trial={'gpu': 1} (or a fraction) to train on them.",
            stacklevel=1,
        )


def _describe_cluster(client: Any) -> str:
    try:
        return str(client.scheduler.address)
    except Exception:  # noqa: BLE001 - only for a status line
        return "a Dask cluster"


def _check_ray_only_args(args: Mapping[str, Any]) -> None:
    unknown = [k for k in args if k not in _IGNORED_RAY_ARGS]
    if unknown:
        known = list(inspect.signature(run).parameters) + list(_IGNORED_RAY_ARGS)
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise TypeError(
            f"tune.run() got unknown keyword argument(s) {', '.join(hints)}; see "
            "help(dasktune.run) for the accepted arguments."
        )
    for key, value in args.items():
        if value not in (None, False, 0, "", [], {}):
            warnings.warn(
                f"tune.run({key}=...) has no effect in dasktune: {_IGNORED_RAY_ARGS[key]}.",
                stacklevel=3,
            )


def _resolve_trainable(run_or_experiment: Any) -> tuple[type[Trainable], str]:
    if isinstance(run_or_experiment, str):
        return get_trainable_cls(run_or_experiment), run_or_experiment
    cls = to_trainable_class(run_or_experiment)
    return cls, trainable_name_of(run_or_experiment)


def _verbosity(verbose: Any) -> Any:
    """Ray's bools for ``verbose``: False is 0 (silent), True the default level (1)."""
    if isinstance(verbose, bool):
        return int(verbose)
    return verbose


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _trial_resources(
    cls: type[Trainable], config: dict[str, Any], default: Resources | None
) -> Resources:
    request_fn = getattr(cls, "default_resource_request", None)
    requested = request_fn(config) if request_fn is not None else None
    if requested is None and hasattr(cls, "default_resource_requests"):
        requested = cls.default_resource_requests(config)
    if requested is None:
        return default or Resources()
    if default is not None:
        raise ValueError(
            f"{cls.__name__}.default_resource_request() already sets the resources of each trial "
            f"({Resources.from_request(requested).summary()}); remove resources_per_trial from "
            "tune.run(), or make default_resource_request return None."
        )
    return Resources.from_request(requested)


def _trial_dirname(
    trial: Trial,
    name_creator: Callable[[Trial], str] | None,
    dirname_creator: Callable[[Trial], str] | None,
) -> str:
    if dirname_creator is not None:
        raw = dirname_creator(trial)
    elif name_creator is not None:
        raw = name_creator(trial)
    else:
        raw = f"{trial.trainable_name}_{trial.index:05d}"
        tag = trial.experiment_tag.split("_", 1)[1] if "_" in trial.experiment_tag else ""
        if tag:
            raw = f"{raw}_{tag}"
    clean = re.sub(r"[^\w.=,+\-\[\]]", "_", str(raw))[:_MAX_DIRNAME]
    if not clean:
        raise ValueError(
            f"the trial name creator returned an empty name for trial {trial.trial_id}"
        )
    return clean
