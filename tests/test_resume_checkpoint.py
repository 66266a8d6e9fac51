"""Which checkpoint a resumed trial goes on from (``checkpoint_to_resume``): with a saved
scheduler, the newest one that scheduler has heard of, so its bookkeeping and the trial's state
belong to one moment. Found by CI: a driver killed after a trial's milestone result and
checkpoint, but before the next state write, resumed the trial from that checkpoint with a
scheduler that had not seen the milestone, and the trial ran one step past it."""

from __future__ import annotations

from dasktune.checkpoints import MANIFEST
from dasktune.experiment_state import (
    checkpoint_to_resume,
    plan_resume,
    run_objects_record,
    trial_record,
)
from dasktune.resources import Resources
from dasktune.schedulers import FIFOScheduler
from dasktune.storage import StorageLocation
from dasktune.trial import Trial, TrialStatus
from dasktune.tune import _resume_trials

FOUND = [
    (1, "mem://t/checkpoint_000001"),
    (2, "mem://t/checkpoint_000002"),
    (3, "mem://t/checkpoint_000003"),
]


def _trial(heard: int | None, status: str = TrialStatus.RUNNING) -> Trial:
    trial = Trial(
        trial_id="t",
        index=0,
        trainable_name="T",
        config={},
        experiment_tag="0",
        dirname="t",
        resources=Resources.from_request(None),
        status=status,
    )
    if heard is not None:
        trial.last_result = {"training_iteration": heard}
        trial.checkpoint, trial.checkpoint_iteration = FOUND[0][1], 1
    return trial


def test_without_a_saved_scheduler_the_newest_checkpoint_is_used():
    assert checkpoint_to_resume(FOUND, _trial(heard=2), with_saved_scheduler=False) == FOUND[2]


def test_with_a_saved_scheduler_the_newest_it_heard_of_is_used():
    assert checkpoint_to_resume(FOUND, _trial(heard=2), with_saved_scheduler=True) == FOUND[1]
    assert checkpoint_to_resume(FOUND, _trial(heard=3), with_saved_scheduler=True) == FOUND[2]
    assert checkpoint_to_resume(FOUND, _trial(heard=7), with_saved_scheduler=True) == FOUND[2]


def test_when_retention_deleted_every_heard_of_checkpoint_the_newest_is_still_used():
    # The recorded checkpoint 1 is gone: losing the trial's work is worse than one decision
    # made late.
    only_newer = FOUND[2:]
    assert checkpoint_to_resume(only_newer, _trial(heard=2), with_saved_scheduler=True) == FOUND[2]


def test_checkpoints_newer_than_what_the_scheduler_heard_are_not_used():
    # The scheduler heard of iteration 2 and the state records no checkpoint: the one saved at
    # 3 came after the state was written, so the trial starts over as the scheduler expects.
    trial = _trial(heard=2)
    trial.checkpoint, trial.checkpoint_iteration = None, 0
    assert checkpoint_to_resume(FOUND[2:], trial, with_saved_scheduler=True) is None


def test_a_trial_the_scheduler_never_heard_report_starts_over():
    # HyperBand's first milestone at 1: a trial whose first result and checkpoint came after
    # the last state write runs its first step again, and is paused there.
    assert checkpoint_to_resume(FOUND, _trial(heard=None), with_saved_scheduler=True) is None
    trial = _trial(heard=None)
    plan_resume(trial, None, True, keep_paused=True)
    assert (trial.restore_path, trial.status) == (None, TrialStatus.PENDING)


def test_no_checkpoint_found_keeps_what_the_state_recorded():
    trial = _trial(heard=2)
    chosen = checkpoint_to_resume([], trial, with_saved_scheduler=True)
    assert chosen is None
    plan_resume(trial, chosen, True, keep_paused=True)
    assert (trial.restore_path, trial.status) == (FOUND[0][1], TrialStatus.PENDING)


def test_the_chosen_checkpoint_becomes_the_restore_path():
    trial = _trial(heard=2)
    plan_resume(trial, checkpoint_to_resume(FOUND, trial, True), True, keep_paused=True)
    assert (trial.restore_path, trial.checkpoint_iteration) == (FOUND[1][1], 2)
    assert trial.status == TrialStatus.PENDING


def test_an_exploited_trial_keeps_its_donors_checkpoint():
    # After a PBT exploit the state records the donor's checkpoint (from the donor's dir, at
    # the donor's iteration); the receiver's own older ones hold the state it gave up.
    trial = _trial(heard=2)
    trial.checkpoint, trial.checkpoint_iteration = "mem://donor/checkpoint_000006", 6
    plan_resume(trial, checkpoint_to_resume(FOUND, trial, True), True, keep_paused=True)
    assert trial.restore_path == "mem://donor/checkpoint_000006"


class _KeepsState(FIFOScheduler):
    """A stateful scheduler's stand-in: any class but FIFO is pickled into the state."""


def _resumed(tmp_path, pausing: list[str]) -> Trial:
    trial = _trial(heard=2)
    trial.checkpoint, trial.checkpoint_iteration = None, 0
    for i in (1, 2, 3):  # 3 committed after the state was written
        (tmp_path / "t" / f"checkpoint_{i}").mkdir(parents=True)
        (tmp_path / "t" / f"checkpoint_{i}" / MANIFEST).write_text("{}")
    state = {
        "trials": [trial_record(trial)],
        "run_objects": run_objects_record(_KeepsState(), [trial]),
        "pausing": pausing,
    }
    location = StorageLocation(str(tmp_path))
    (resumed,), _, known, ended = _resume_trials(location, state, _KeepsState(), True)
    assert known and not ended
    return resumed


def test_a_trial_whose_pause_was_under_way_resumes_paused(tmp_path):
    # The saved scheduler paused it at 2; its pause (save, stop) had not ended when the state
    # was written. Run as PENDING, HyperBand would let it run past its milestone.
    resumed = _resumed(tmp_path, pausing=["t"])
    assert resumed.status == TrialStatus.PAUSED
    assert resumed.restore_path.endswith("checkpoint_2")


def test_a_running_trial_resumes_pending_from_what_the_scheduler_heard_of(tmp_path):
    resumed = _resumed(tmp_path, pausing=[])
    assert resumed.status == TrialStatus.PENDING
    assert resumed.restore_path.endswith("checkpoint_2")
