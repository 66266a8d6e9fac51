"""The experiment state file: enough to resume a run after the driver died.

It records each trial (id, config, status, failures, newest checkpoint) plus what the run was
made from (trainable name, a fingerprint of the search space). It is written atomically on a
timer and soon after any trial ends. Checkpoints committed after the last write are not lost:
resume looks for the newest committed checkpoint in each trial's dir itself (with a saved
scheduler, the newest that scheduler has heard of: :func:`checkpoint_to_resume`).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from typing import Any

import cloudpickle

from .resources import Resources
from .schedulers import FIFOScheduler, TrialScheduler
from .search.sample import Domain, SampleFrom
from .trial import Trial, TrialStatus

STATE_VERSION = 1


def search_space_fingerprint(config: Any, num_samples: int) -> str:
    """A stable hash of ``config`` and ``num_samples`` as the user wrote them.

    Domains count by their description, functions by their qualified name, so the same source
    gives the same fingerprint in a new process.
    """
    return hashlib.sha256(f"{_describe(config)}|{num_samples}".encode()).hexdigest()[:16]


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        items = sorted((str(k), _describe(v)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_describe(v) for v in value) + "]"
    if isinstance(value, SampleFrom):
        return f"sample_from({_callable_name(getattr(value, 'func', None))})"
    if isinstance(value, Domain):
        return repr(value)
    if callable(value):
        return _callable_name(value)
    return repr(value)


def _callable_name(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def trial_record(trial: Trial) -> dict[str, Any]:
    """One trial as plain data, its config pickled so non-JSON values survive."""
    record = trial.summary()
    if trial.config_pickle is None:
        trial.config_pickle = base64.b64encode(cloudpickle.dumps(trial.config)).decode()
    record["config_pickle"] = trial.config_pickle
    record["last_result"] = {
        k: v for k, v in trial.last_result.items() if k != "config" and _is_plain(v)
    }
    return record


def _is_plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def build_state(trials: list[Trial], experiment_id: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The whole state file's content."""
    return {
        "version": STATE_VERSION,
        "experiment_id": experiment_id,
        "timestamp": time.time(),
        **meta,
        "trials": [trial_record(t) for t in trials],
    }


def trial_from_record(record: Mapping[str, Any]) -> Trial:
    """Rebuild a Trial from :func:`trial_record`'s data."""
    trial = Trial(
        trial_id=record["trial_id"],
        index=record["index"],
        trainable_name=record["trainable_name"],
        config=cloudpickle.loads(base64.b64decode(record["config_pickle"])),
        experiment_tag=record["experiment_tag"],
        dirname=record["dirname"],
        resources=Resources.from_request(record["resources"]),
        status=record["status"],
        num_results=record.get("num_results", 0),
        num_failures=record.get("num_failures", 0),
        error_msg=record.get("error_msg"),
        checkpoint=record.get("checkpoint"),
        checkpoint_iteration=record.get("checkpoint_iteration", 0),
    )
    trial.last_result = dict(record.get("last_result") or {})
    trial.custom_trial_name = record.get("custom_trial_name")
    return trial


def plan_resume(
    trial: Trial,
    newest_checkpoint: tuple[int, str] | None,
    mode: bool | str,
    keep_paused: bool = False,
    pausing: bool = False,
) -> None:
    """Set a rebuilt trial up for a resumed run.

    Finished trials stay finished, except ERROR ones with ``mode="ERRORED_ONLY"``, which start
    again from scratch. Every other trial continues from its newest committed checkpoint.
    With ``keep_paused`` (the saved scheduler goes on, and it decides when a paused trial
    resumes: HyperBand at a completed bracket, synchronous PBT at the population's barrier)
    a PAUSED trial with a checkpoint stays PAUSED; otherwise it waits PENDING. ``pausing``: the
    state shows the trial RUNNING, but its scheduler had paused it and the pause was under way
    when the state was written, so it counts as PAUSED.
    """
    if trial.status == TrialStatus.TERMINATED:
        return
    if trial.status == TrialStatus.ERROR:
        if mode != "ERRORED_ONLY":
            return
        trial.status = TrialStatus.PENDING
        trial.num_failures = 0
        trial.error_msg = None
        trial.checkpoint = None
        trial.restore_path = None
        return
    paused = trial.status == TrialStatus.PAUSED or (pausing and trial.status == TrialStatus.RUNNING)
    if newest_checkpoint is not None:
        iteration, url = newest_checkpoint
        if iteration >= trial.checkpoint_iteration:
            trial.checkpoint, trial.checkpoint_iteration = url, iteration
    trial.restore_path = trial.checkpoint
    keep = paused and keep_paused and trial.checkpoint is not None
    trial.status = TrialStatus.PAUSED if keep else TrialStatus.PENDING


def checkpoint_to_resume(
    found: list[tuple[int, str]], trial: Trial, with_saved_scheduler: bool
) -> tuple[int, str] | None:
    """Which of a trial's committed checkpoints (``found``, oldest first) a resumed run goes on
    from; None: the one the state file records, if any.

    Without a saved scheduler, the newest: nothing checkpointed is redone. With one, the newest
    that the saved scheduler has heard of (its iteration at most the trial's last result in the
    same state file): the scheduler's bookkeeping and the trial's state then belong to one
    moment, so a result at a milestone is decided on, not skipped (a trial resumed from a
    checkpoint its scheduler never heard of ran past its HyperBand milestone). The results
    after that checkpoint are computed again, and logged again, as after a worker loss. Only
    when retention has deleted the checkpoint the state records, and every other one the
    scheduler heard of, is the newest used: losing work is worse than one late decision.
    """
    if not found:
        return None
    if not with_saved_scheduler:
        return found[-1]
    heard = trial.last_result.get("training_iteration", 0)
    if not isinstance(heard, int):
        return found[-1]
    known = [(i, url) for i, url in found if i <= heard]
    if known:
        return known[-1]
    recorded_gone = trial.checkpoint is not None and all(
        url != trial.checkpoint for _, url in found
    )
    return found[-1] if recorded_gone else None


def run_objects_record(scheduler: TrialScheduler, trials: list[Trial]) -> str | None:
    """A stateful scheduler pickled together with the trials it refers to (so a resumed ASHA
    or PBT keeps its rungs and its references), or None for FIFO, which has no state."""
    if type(scheduler) is FIFOScheduler:
        return None
    return base64.b64encode(cloudpickle.dumps((scheduler, trials))).decode()


def restore_run_objects(
    record: str | None, scheduler_cls: type[TrialScheduler]
) -> tuple[TrialScheduler, list[Trial]] | None:
    """The scheduler and trials :func:`run_objects_record` saved, if it saved a scheduler of
    ``scheduler_cls`` (a resume with another scheduler starts that one afresh)."""
    if not record:
        return None
    scheduler, trials = cloudpickle.loads(base64.b64decode(record))
    if type(scheduler) is not scheduler_cls:
        return None
    for trial in trials:
        trial.run_number = 0
    return scheduler, trials
