"""``dasktune.run``: Ray Tune's ``tune.run`` on a Dask cluster."""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import os
import posixpath
import random
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import cloudpickle
import dask
from dask.utils import parse_timedelta

from . import result as R
from .backend.cluster import connect, run_on_client_loop
from .backend.dask_backend import DaskBackend
from .backend.dask_trials import DaskTrialBackend, RunSpec
from .callback import CallbackListener, check_callbacks
from .checkpoint_book import RetentionPolicy
from .checkpoints import committed_checkpoints
from .config_check import check_config_space, pickled_config
from .controller import CheckpointPolicy, Controller, FailurePolicy
from .dashboard import DashboardListener
from .driver import Driver
from .error import StorageTimeoutError, TuneError
from .experiment import Experiment, run_arguments_with
from .experiment_lock import LOCK_FILE, ExperimentLock, ExperimentLocked
from .experiment_state import (
    build_state,
    checkpoint_to_resume,
    plan_resume,
    restore_run_objects,
    run_objects_record,
    search_space_fingerprint,
    trial_from_record,
)
from .function_trainable import trainable_name_of
from .ledger import ResourceLedger
from .listeners import Listeners
from .logger import DEFAULT_LOGGERS, CSVLogger, JsonLogger, Logger
from .logger.base import BuiltinLoggerCallback
from .logger.listener import LoggerListener, check_loggers
from .naming import (
    TrialDirnames,
    check_experiment_name,
    check_storage_dir,
    created_name,
    default_experiment_name,
)
from .pickle_check import type_name, unpicklable_member
from .progress import ProgressListener, RunPrinter
from .progress_reporter import CLIReporter, ProgressReporter
from .registry import get_trainable_cls, to_trainable_class
from .resources import CPU, GPU, Resources
from .result import EXPERIMENT_STATE_FILE
from .result_batching import DEFAULT_BATCH_TIME
from .result_logs import ResultLogListener
from .schedulers import FIFOScheduler, TrialScheduler
from .search.search_algorithm import BasicVariantGenerator, SearchAlgorithm
from .search.searcher import Searcher, SearchGenerator
from .shipping import dumps_trainable
from .stoppers import make_stopper
from .storage import ExperimentStorage, StorageLocation
from .storage_calls import StorageCalls, bounded
from .syncer import SyncConfig
from .trainable import Trainable
from .trial import Trial, TrialStatus
from .trial_output import OutputPrinter, log_to_driver

if TYPE_CHECKING:
    from distributed.security import Security

    from .analysis import ExperimentAnalysis

DEFAULT_LOCAL_DIR = os.path.join("~", "dasktune_results")
# Files of the experiment itself, which no trial directory may take the name of.
_EXPERIMENT_FILES = (EXPERIMENT_STATE_FILE, LOCK_FILE)

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
    "export_formats": "model export is not supported",
    "log_to_file": "worker logs stay with Dask",
}

# Ray arguments that carry user code dasktune cannot run: refused, never ignored.
_REFUSED_RAY_ARGS: dict[str, str] = {
    "trial_executor": "dasktune's Dask backend runs the trials, so a custom Ray TrialExecutor "
    "cannot; remove trial_executor=, and put what it did in a tune.Callback (callbacks=) or a "
    "scheduler (scheduler=)",
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
    security: Security | None = None,
    storage_options: Mapping[str, Any] | None = None,
    worker_wait_timeout_s: float | None = None,
    seed: int | None = None,
    time_budget_s: float | None = None,
    callbacks: list[Any] | None = None,
    loggers: list[type[Logger]] | tuple[type[Logger], ...] | None = None,
    progress_reporter: ProgressReporter | None = None,
    sync_config: SyncConfig | None = None,
    **ray_only_args: Any,
) -> ExperimentAnalysis | list[Trial]:
    """Run an experiment: every configuration of ``config`` (x ``num_samples``) as a trial.

    Same arguments and meaning as Ray Tune's ``tune.run``; dasktune adds ``client=``/
    ``address=`` (which Dask cluster; by default the current Client, dask config
    ``scheduler-address``, else a local cluster started and closed by the run), ``security=``
    (a ``distributed.security.Security`` for a TLS scheduler given by ``address=``; without it
    dask config ``distributed.comm.tls.*`` applies),
    ``storage_options=`` (fsspec options for ``local_dir``/``upload_dir`` URLs, passed to every
    process that touches storage), ``worker_wait_timeout_s=`` (how long to wait for a cluster with
    no workers; default: forever, with a message) and ``seed=`` (reproducible sampling).
    ``num_samples=-1`` samples until ``time_budget_s`` (or a Stopper) ends the run; trials are
    made as they can start, so memory does not grow with ``num_samples``.

    Returns an :class:`ExperimentAnalysis` (or the trials, with ``return_trials=True``). Raises
    :class:`TuneError` after all trials end if any failed and ``raise_on_failed_trial``.
    """
    if isinstance(run_or_experiment, Experiment):  # Ray's tune.run(tune.Experiment(...))
        return run(**run_arguments_with(run_or_experiment, locals()))
    _check_ray_only_args(ray_only_args)
    verbose = _verbosity(verbose)
    trainable_cls, trainable_name = _resolve_trainable(run_or_experiment)
    stopper = make_stopper(stop)
    callback_list = check_callbacks(callbacks)
    logger_classes = _logger_classes(loggers, callback_list)
    reporter = _check_reporter(progress_reporter)
    _check_bools(
        checkpoint_at_end=checkpoint_at_end,
        reuse_actors=reuse_actors,
        raise_on_failed_trial=raise_on_failed_trial,
        return_trials=return_trials,
    )
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
        time_budget_s=time_budget_s,
        fail_fast=fail_fast,
    )
    upload_dir = _upload_dir(upload_dir, sync_config)
    check_storage_dir("local_dir", local_dir)
    check_storage_dir("upload_dir", upload_dir)
    if config is None:
        config = {}
    check_config_space(config)
    default_resources = (
        Resources.from_request(resources_per_trial) if resources_per_trial is not None else None
    )
    storage_options = dict(storage_options or {})
    root = StorageLocation(os.fspath(upload_dir or local_dir or DEFAULT_LOCAL_DIR), storage_options)
    check_experiment_name(name, root.url)
    fingerprint = search_space_fingerprint(config, num_samples)
    scheduler = scheduler or FIFOScheduler()
    if isinstance(search_alg, Searcher):  # as Ray does: a bare Searcher is wrapped
        search_alg = SearchGenerator(search_alg)
    search_alg = search_alg or BasicVariantGenerator()
    _set_search_properties(scheduler, search_alg, metric, mode, config)

    # The experiment directory is locked before anything is read from or written to it, and
    # unlocked when the run ends, however it ends (see experiment_lock.py).
    run_uid = uuid.uuid4().hex[:5]
    if resume:
        location = _experiment_to_resume(root, name, trainable_name)
        experiment_name = posixpath.basename(location.url.rstrip("/").replace(os.sep, "/"))
        lock = _acquire(location, take_over=True)
    else:
        experiment_name, location, lock = _new_experiment(root, name, trainable_name, run_uid)
    with lock:
        resumed: list[Trial] = []
        known, ended = False, frozenset()
        state: dict[str, Any] | None = None
        if resume:
            state = _state_to_resume(location, trainable_name, fingerprint)
            resumed, scheduler, known, ended = _resume_trials(location, state, scheduler, resume)
            run_uid = state["experiment_id"]
            seed = state.get("seed", seed)
        elif seed is None:
            seed = random.getrandbits(64)  # so random.seed(...) before run() reproduces trials
        # Directories already there count as taken: a trial made after the last state write
        # of a run that died has one, and no state entry.
        dirnames = TrialDirnames(
            [*_EXPERIMENT_FILES, *location.subdir_names(), *(t.dirname for t in resumed)]
        )
        make_trial = _trial_factory(
            trainable_cls,
            trainable_name,
            run_uid,
            default_resources,
            restore,
            trial_name_creator,
            trial_dirname_creator,
            dirnames,
            location,
            first_index=len(resumed),
        )
        search_alg.setup_experiment(config, num_samples, seed, make_trial)
        if state is not None and state.get("search_alg") is not None:
            search_alg.set_state(state["search_alg"])
        for trial in resumed:
            trial.logdir = location.join(trial.dirname)
        # The last storage call before any worker starts: an unreachable store fails here, fast.
        storage = bounded(
            location.url, "creating the experiment directory", ExperimentStorage, location
        )

        checker = _ClusterCheck()
        controller = Controller(
            stopper=stopper,
            search_alg=search_alg,
            scheduler=scheduler,
            checkpoint_policy=CheckpointPolicy(freq=checkpoint_freq, at_end=checkpoint_at_end),
            failure_policy=FailurePolicy(max_failures=max_failures, fail_fast=fail_fast),
            retention=RetentionPolicy(keep_checkpoints_num, checkpoint_score_attr),
            max_concurrent_trials=max_concurrent_trials,
            time_budget_s=time_budget_s,
            worker_wait_timeout_s=worker_wait_timeout_s,
            infeasible_check=checker,
            can_checkpoint=trainable_cls.can_checkpoint(),
        )
        for trial in resumed:
            controller.add_trial(trial, known_to_scheduler=known, ended=trial.trial_id in ended)
        controller.top_up()  # the first trial now: the embedded cluster is shaped to it
        # Before any worker starts: a trainable that cannot be pickled fails here, named.
        cls_bytes = dumps_trainable(trainable_cls)
        progress = RunPrinter(verbose)
        storage_calls = StorageCalls(storage.url)
        connection = connect(
            client=client,
            address=address,
            security=security,
            trial_requests={t.resources for t in controller.trials},
            max_trials_at_once=max_concurrent_trials,
        )
        try:
            state_meta = {
                "name": experiment_name,
                "trainable_name": trainable_name,
                "search_space": fingerprint,
                "seed": seed,
                # ExperimentAnalysis.stats()'s start_time, as Ray records it.
                "start_time": time.time(),
            }
            batch_time = parse_timedelta(
                dask.config.get("dasktune.result-batch-time", DEFAULT_BATCH_TIME)
            )
            hosts = DaskBackend(connection.client)
            hosts.on_output = OutputPrinter()
            backend = DaskTrialBackend(
                hosts,
                RunSpec(
                    cls_key=f"{run_uid}:{trainable_name}",
                    cls_bytes=cls_bytes,
                    experiment_id=run_uid,
                    storage=storage,
                    storage_options=storage_options,
                    reuse_actors=reuse_actors,
                    batch_policy=controller.batch_policy(batch_time),
                    log_to_driver=log_to_driver(),
                ),
            )
            callback_listener = CallbackListener(callback_list)
            driver = Driver(
                controller=controller,
                backend=backend,
                storage=storage,
                listeners=Listeners(
                    [
                        ResultLogListener(
                            storage,
                            progress,
                            storage_calls,
                            existing=frozenset(t.trial_id for t in resumed),
                            files=_result_files(logger_classes),
                        ),
                        LoggerListener(
                            [c for c in logger_classes if c not in (JsonLogger, CSVLogger)],
                            storage,
                            storage_calls,
                        ),
                        ProgressListener(
                            progress, reporter, lambda: _sys_info(controller, storage.url)
                        ),
                        callback_listener,
                        DashboardListener(
                            lambda update: hosts.report_page(run_uid, update),
                            name=experiment_name,
                            logdir=storage.url,
                            metric=metric,
                            mode=mode,
                        ),
                    ]
                ),
                build_state=_Snapshot(controller, run_uid, state_meta),
                lock=lock,
                storage_calls=storage_calls,
            )
            total = search_alg.total_samples()
            # Ray's optional reporter hooks; a duck-typed reporter may lack them.
            for hook, args in (
                ("set_total_samples", (total,)),
                ("set_search_properties", (metric, mode)),
            ):
                if callable(getattr(reporter, hook, None)):
                    getattr(reporter, hook)(*args)
            callback_listener.setup(stop=stop, num_samples=num_samples, total_num_samples=total)
            progress.on_start(
                storage.url,
                total if total is not None else "unbounded",
                _describe_cluster(connection.client),
                _dashboard_link(connection.client),
            )
            run_on_client_loop(
                connection.client,
                driver.run(),
                on_interrupt=lambda: (
                    f"stopping {controller.num_running} running trial(s), closing their logs "
                    "and writing the experiment state (resume=True continues them)"
                ),
            )
        finally:
            connection.close()

    errored = controller.errored()
    if errored and raise_on_failed_trial:
        listing = "; ".join(f"{t} (see {t.logdir}/error.txt)" for t in errored)
        raise TuneError(f"{len(errored)} trial(s) did not complete: {listing}")
    trials = controller.trials
    if return_trials:
        return trials
    analysis = _analysis(storage, storage_calls, trials, storage_options, metric, mode)
    analysis.trials = trials
    return analysis


def _analysis(
    storage: ExperimentStorage,
    storage_calls: StorageCalls,
    trials: list[Trial],
    storage_options: dict[str, Any],
    metric: str | None,
    mode: str | None,
) -> ExperimentAnalysis:
    """The run's analysis, read from storage; or, when storage does not answer, one that lists
    the run's trials as they are known here and reads their results when first used."""
    from .analysis import ExperimentAnalysis

    def read() -> ExperimentAnalysis:
        return ExperimentAnalysis(
            storage.url, storage_options=storage_options, default_metric=metric, default_mode=mode
        )

    if not storage_calls.unfinished():  # else the run's last writes were already given up on
        try:
            return bounded(storage.url, "reading the experiment back", read)
        except StorageTimeoutError as exc:
            warnings.warn(
                f"dasktune: {exc} The returned analysis lists the run's trials without reading "
                "storage; their results are read when first used.",
                stacklevel=3,
            )
    return ExperimentAnalysis(
        storage.url,
        storage_options=storage_options,
        default_metric=metric,
        default_mode=mode,
        trial_logdirs=[t.logdir for t in trials if t.run_number or t.num_results],
    )


class _Snapshot:
    """The experiment state now: trials, the search algorithm's place, a stateful scheduler.

    A scheduler that cannot be pickled is warned about once and left out of the state (resume
    then starts it afresh): the state is a convenience, not worth stopping the run for.
    """

    def __init__(self, controller: Controller, run_uid: str, meta: dict[str, Any]) -> None:
        self.controller = controller
        self.run_uid = run_uid
        self.meta = meta
        self._keep_scheduler = True

    def __call__(self) -> dict[str, Any]:
        """The state file's content."""
        controller = self.controller
        state = build_state(controller.trials, self.run_uid, self.meta)
        state["search_alg"] = controller.search_alg.get_state()
        state["pausing"] = controller.pausing_trial_ids()
        state["run_objects"] = None
        if self._keep_scheduler:
            try:
                state["run_objects"] = run_objects_record(controller.scheduler, controller.trials)
            except Exception as exc:  # noqa: BLE001 - the run goes on; only resume loses out
                self._keep_scheduler = False
                _warn_unpicklable_scheduler(controller.scheduler, exc)
        return state


def _warn_unpicklable_scheduler(scheduler: TrialScheduler, exc: BaseException) -> None:
    name = type(scheduler).__name__
    try:
        culprit, value, _ = unpicklable_member(scheduler, name, cloudpickle.dumps)
        what = f"{culprit} (a {type_name(value)})"
    except ValueError:  # the scheduler alone pickles: a trial it refers to does not
        what = "what it refers to"
    warnings.warn(
        f"the experiment state cannot keep the scheduler {name}: {what} cannot be pickled "
        f"({type(exc).__name__}: {exc}). The run goes on, but resume=True will start {name} "
        "afresh. Make it picklable (create such objects lazily, or drop them in "
        "__getstate__) to resume it with its state.",
        stacklevel=1,
    )


def _set_search_properties(
    scheduler: TrialScheduler,
    search_alg: SearchAlgorithm,
    metric: str | None,
    mode: str | None,
    config: dict[str, Any],
) -> None:
    if not scheduler.set_search_properties(metric, mode):
        raise ValueError(
            f"tune.run(metric={metric!r}, mode={mode!r}) contradicts the metric/mode of "
            f"{type(scheduler).__name__} ({scheduler.metric!r}, {scheduler.mode!r}); set them "
            "in one place."
        )
    if not search_alg.set_search_properties(metric, mode, config):
        raise ValueError(
            f"{type(search_alg).__name__} cannot take tune.run(metric={metric!r}, "
            f"mode={mode!r}); set them on the search algorithm."
        )


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
    time_budget_s: Any,
    fail_fast: Any = False,
) -> None:
    """Every check on run()'s arguments that needs no cluster, so bad input fails at once."""
    if search_alg is not None and not isinstance(search_alg, (SearchAlgorithm, Searcher)):
        raise TypeError(
            "search_alg= must be a dasktune search algorithm or Searcher (e.g. "
            "dasktune.search.BasicVariantGenerator() or dasktune.search.optuna.OptunaSearch()), "
            f"got {type(search_alg).__name__}."
        )
    if time_budget_s is not None and (
        isinstance(time_budget_s, bool) or not isinstance(time_budget_s, (int, float))
    ):
        raise TypeError(f"time_budget_s must be a number of seconds, got {time_budget_s!r}")
    if time_budget_s is not None and time_budget_s <= 0:
        raise ValueError(f"time_budget_s must be > 0, got {time_budget_s!r}")
    if not (resume is True or resume is False or resume == "ERRORED_ONLY"):
        raise ValueError(
            f"resume must be False, True or 'ERRORED_ONLY', got {resume!r}; True continues every "
            "unfinished trial from its newest checkpoint, 'ERRORED_ONLY' also reruns failed ones."
        )
    if not (fail_fast is True or fail_fast is False or _is_raise(fail_fast)):
        raise TypeError(
            f"fail_fast must be True or False (or Ray's 'raise'), got "
            f"{type(fail_fast).__name__} {fail_fast!r}; a non-empty string or a non-zero "
            "number would count as True. Pass fail_fast=True to stop every trial at the first "
            "failure, or fail_fast=False."
        )
    _check_int("num_samples", num_samples, minimum=-1)
    if num_samples == 0:
        raise ValueError("num_samples must be >= 1, or -1 to sample until the run is stopped")
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


def _trial_factory(
    trainable_cls: type[Trainable],
    trainable_name: str,
    run_uid: str,
    default_resources: Resources | None,
    restore: str | None,
    name_creator: Callable[[Trial], str] | None,
    dirname_creator: Callable[[Trial], str] | None,
    dirnames: TrialDirnames,
    location: StorageLocation,
    first_index: int = 0,
) -> Callable[[dict[str, Any], str], Trial]:
    """What turns a sampled configuration into a Trial (numbered on from ``first_index``), in
    a directory of its own (``dirnames`` knows the names taken). Its ``next_trial_id()`` is the
    id the next trial will get: a Searcher is asked for a config under that id, as in Ray."""
    counter = [first_index]

    def next_trial_id() -> str:
        return f"{run_uid}_{counter[0]:05d}"

    def make(config: dict[str, Any], tag: str) -> Trial:
        index = counter[0]
        counter[0] += 1
        trial = Trial(
            trial_id=f"{run_uid}_{index:05d}",
            index=index,
            trainable_name=trainable_name,
            config=config,
            experiment_tag=f"{index}_{tag}" if tag else str(index),
            dirname="",
            resources=_trial_resources(trainable_cls, config, default_resources),
            restore_path=restore,
        )
        trial.config_pickle = pickled_config(config, trial.trial_id)
        if name_creator is not None:
            trial.custom_trial_name = created_name("trial_name_creator", name_creator, trial)
        trial.dirname = dirnames.claim(trial, name_creator, dirname_creator)
        trial.logdir = location.join(trial.dirname)
        return trial

    make.next_trial_id = next_trial_id  # type: ignore[attr-defined]
    return make


def _new_experiment(
    root: StorageLocation, name: str | None, trainable_name: str, run_uid: str
) -> tuple[str, StorageLocation, ExperimentLock]:
    """The new experiment's name and location, locked for this run."""
    generated = name is None
    if name is None:
        name = default_experiment_name(trainable_name)
        if bounded(root.url, f"looking for an experiment named {name}", root.exists, name):
            name = f"{name}_{run_uid}"
    location = root.child(name)
    try:
        lock = _acquire(location, take_over=False)
    except ExperimentLocked:
        if not generated or name.endswith(run_uid):
            raise
        # Another run of the same trainable started this second and took the name first.
        name = f"{name}_{run_uid}"
        location = root.child(name)
        lock = _acquire(location, take_over=False)
    if _exists(location, EXPERIMENT_STATE_FILE):
        lock.release()
        raise ValueError(
            f"{location.url} already holds an experiment ({EXPERIMENT_STATE_FILE}); pass "
            "resume=True to continue it, resume='ERRORED_ONLY' to also rerun its failed trials, "
            "or choose another name=."
        )
    return name, location, lock


def _experiment_to_resume(
    root: StorageLocation, name: str | None, trainable_name: str
) -> StorageLocation:
    if name is not None:
        location = root.child(name)
        if not _exists(location, EXPERIMENT_STATE_FILE):
            raise ValueError(
                f"resume=True, but {location.url} holds no {EXPERIMENT_STATE_FILE} to resume "
                "from; check name=/local_dir=, or run without resume= to start it."
            )
        return location
    newest: tuple[float, StorageLocation] | None = None
    for child in bounded(root.url, "listing experiments to resume", root.subdirs):
        state = _read_state(child)
        if state and state.get("trainable_name") == trainable_name:
            if newest is None or state.get("timestamp", 0) > newest[0]:
                newest = (state.get("timestamp", 0), child)
    if newest is None:
        raise ValueError(
            f"resume=True, but no experiment of {trainable_name} was found under {root.url}; "
            "pass name= of the experiment to resume."
        )
    return newest[1]


def _state_to_resume(
    location: StorageLocation, trainable_name: str, fingerprint: str
) -> dict[str, Any]:
    state = _read_state(location)
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
    return state


def _resume_trials(
    location: StorageLocation,
    state: dict[str, Any],
    scheduler: TrialScheduler,
    mode: bool | str,
) -> tuple[list[Trial], TrialScheduler, bool, frozenset[str]]:
    """The experiment's trials, set up to continue; the scheduler to continue with (the saved
    one, with its state and the trials it refers to, when it is of the given class); whether
    it is the saved one; and the trials whose log shows they ended after the state was last
    written (they are not run again: Ray reruns them from their last checkpoint)."""
    restored = restore_run_objects(state.get("run_objects"), type(scheduler))
    pausing: frozenset[str] = frozenset()
    if restored is not None:
        scheduler, trials = restored
        pausing = frozenset(state.get("pausing") or ())
    else:
        trials = [trial_from_record(record) for record in state["trials"]]
    ended: set[str] = set()
    for trial in trials:
        if trial.status in (TrialStatus.RUNNING, TrialStatus.PENDING):
            last = bounded(
                location.url,
                f"reading the last result of {trial.dirname}",
                _last_logged_result,
                location,
                trial.dirname,
            )
            if last is not None and last.get("done") is True:
                trial.last_result = last
                ended.add(trial.trial_id)
                continue
        found = bounded(
            location.url,
            f"listing the checkpoints of {trial.dirname}",
            committed_checkpoints,
            location.join(trial.dirname),
            location.storage_options,
        )
        chosen = checkpoint_to_resume(found, trial, with_saved_scheduler=restored is not None)
        plan_resume(
            trial,
            chosen,
            mode,
            keep_paused=restored is not None,
            pausing=trial.trial_id in pausing,
        )
    return trials, scheduler, restored is not None, frozenset(ended)


_TAIL_BYTES = 64 * 1024


def _last_logged_result(location: StorageLocation, dirname: str) -> dict[str, Any] | None:
    """The last complete row of a trial's ``result.json`` (read from its tail), if any."""
    path = location.path(dirname, R.RESULT_FILE)
    try:
        size = location.fs.size(path)
        with location.fs.open(path, "rb") as f:
            f.seek(max(0, size - _TAIL_BYTES))
            tail = f.read()
    except FileNotFoundError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a row cut by the kill, or the first, partial line of the tail
        return row if isinstance(row, dict) else None
    return None


def _acquire(location: StorageLocation, take_over: bool) -> ExperimentLock:
    """Lock the experiment, under the storage deadline (an unreachable store fails fast)."""
    acquire = functools.partial(ExperimentLock.acquire, location, take_over=take_over)
    return bounded(location.url, f"locking the experiment ({LOCK_FILE})", acquire)


def _exists(location: StorageLocation, relpath: str) -> bool:
    return bounded(location.url, f"looking for {relpath}", location.exists, relpath)


def _read_state(location: StorageLocation) -> dict[str, Any] | None:
    return bounded(
        location.url,
        f"reading {EXPERIMENT_STATE_FILE}",
        ExperimentStorage(location, create=False).read_state,
    )


class _ClusterCheck:
    """Run whenever workers join or a trial of a new shape appears: why some trial can never
    run on the cluster (or None), and a one-time warning when the cluster has GPUs no trial
    asks for."""

    def __init__(self) -> None:
        self.shapes: set[Resources] = set()

    def __call__(self, ledger: ResourceLedger, new_shape: Resources | None = None) -> str | None:
        if new_shape is not None:
            self.shapes.add(new_shape)
        if not ledger.workers:
            return None
        wants_gpu = any(s.gpu or s.extra_gpu for s in self.shapes)
        if not wants_gpu and ledger.total_capacity().get("GPU", 0) > 0:
            _warn_idle_gpus()
        for shape in [new_shape] if new_shape is not None else self.shapes:
            message = ledger.explain_infeasible(shape)
            if message:
                return message
        return None


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


def _logger_classes(loggers: Any, callbacks: list[Any]) -> list[type[Logger]]:
    """The Logger classes the run uses: ``loggers=`` (None: the defaults), plus the built-in
    logger callbacks (JSON, CSV, TensorBoard) given in ``callbacks=``."""
    classes = list(DEFAULT_LOGGERS) if loggers is None else check_loggers(loggers)
    for callback in callbacks:
        if isinstance(callback, BuiltinLoggerCallback) and callback.logger_class not in classes:
            classes.append(callback.logger_class)
    return classes


def _result_files(logger_classes: list[type[Logger]]) -> frozenset[str]:
    """The result logs written by the run's result log: JsonLogger's and CSVLogger's."""
    files = {JsonLogger: R.RESULT_FILE, CSVLogger: R.PROGRESS_FILE}
    return frozenset(files[c] for c in logger_classes if c in files)


def _check_reporter(reporter: Any) -> ProgressReporter:
    """``progress_reporter=`` checked (None: a CLIReporter)."""
    if reporter is None:
        return CLIReporter()
    if isinstance(reporter, type) or not callable(getattr(reporter, "report", None)):
        raise TypeError(
            f"progress_reporter= must be a reporter instance with should_report(trials, done) "
            f"and report(trials, done, *sys_info), got {reporter!r}; pass e.g. "
            "progress_reporter=tune.CLIReporter(metric_columns=['loss'])."
        )
    return reporter


def _sys_info(controller: Controller, logdir: str) -> list[str]:
    """The lines above the status table: scheduler, resource usage, where results go."""
    ledger = controller.ledger
    total = ledger.total_capacity()
    used: dict[str, float] = dict(total)
    for worker in ledger.workers:
        for key, free in ledger.free(worker).items():
            used[key] = used.get(key, 0.0) - free
    parts = [f"{used.get(k, 0.0):g}/{total.get(k, 0.0):g} {k}s" for k in (CPU, GPU)]
    parts += [f"{used[k]:g}/{total[k]:g} {k}" for k in sorted(total) if k not in (CPU, GPU)]
    return [
        controller.scheduler.debug_string(),
        f"Logical resource usage: {', '.join(parts)}",
        f"Result logdir: {logdir}",
    ]


def _dashboard_link(client: Any) -> str | None:
    """Dask's dashboard address as the client sees it (None: the scheduler serves none)."""
    try:
        return client.dashboard_link
    except Exception:  # noqa: BLE001 - only for a status line
        return None


def _describe_cluster(client: Any) -> str:
    try:
        return str(client.scheduler.address)
    except Exception:  # noqa: BLE001 - only for a status line
        return "a Dask cluster"


def _upload_dir(upload_dir: str | None, sync_config: Any) -> str | None:
    """``upload_dir``, or Ray 1.x's ``sync_config.upload_dir`` (one of the two, not both)."""
    if sync_config is None:
        return upload_dir
    if not isinstance(sync_config, SyncConfig):
        raise TypeError(
            f"tune.run(sync_config=...) takes a tune.SyncConfig, got {type(sync_config).__name__}."
        )
    if upload_dir is not None and sync_config.upload_dir not in (None, upload_dir):
        raise ValueError(
            f"tune.run(upload_dir={upload_dir!r}) and sync_config.upload_dir="
            f"{sync_config.upload_dir!r} disagree; give the experiment's URL in one of them."
        )
    return upload_dir if upload_dir is not None else sync_config.upload_dir


def _check_ray_only_args(args: Mapping[str, Any]) -> None:
    for key in ("sync_to_cloud", "sync_to_driver"):
        if callable(args.get(key)):
            raise ValueError(
                f"tune.run({key}=<function>): dasktune runs no sync function (workers write to "
                "storage themselves, through fsspec); remove it, and give local_dir= an fsspec "
                "URL (e.g. 's3://bucket/prefix') with storage_options= instead."
            )
    for key, why in _REFUSED_RAY_ARGS.items():
        if args.get(key) is not None:
            raise ValueError(f"tune.run({key}=...): {why}.")
    unknown = [k for k in args if k not in _IGNORED_RAY_ARGS and k not in _REFUSED_RAY_ARGS]
    if unknown:
        known = [*inspect.signature(run).parameters, *_IGNORED_RAY_ARGS, *_REFUSED_RAY_ARGS]
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise TypeError(
            f"tune.run() got unknown keyword argument(s) {', '.join(hints)}; see "
            "help(dasktune.run) for the accepted arguments."
        )
    for key, value in args.items():
        if key in _IGNORED_RAY_ARGS and value not in (None, False, 0, "", [], {}):
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


def _check_bools(**flags: Any) -> None:
    """Boolean arguments take True or False: a string such as "no" would count as True."""
    for name, value in flags.items():
        if value is not True and value is not False:
            raise TypeError(
                f"{name} must be True or False, got {type(value).__name__} {value!r}; a "
                f"non-empty string or a non-zero number would count as True. Pass "
                f"{name}=True or {name}=False."
            )


def _is_raise(value: Any) -> bool:
    # Ray's fail_fast="raise" re-raises the trial's error at once; here it stops every trial
    # at the first failure, as fail_fast=True, and tune.run raises TuneError after them.
    return isinstance(value, str) and value.upper() == "RAISE"


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
