"""validate_save_restore, retries of raising trials, DurableTrainable, function checkpoints."""

from __future__ import annotations

import pytest
from trainables import BrokenRestore, DurableCounter, FileCounter, FlakyOnce, counter_function

import dasktune as tune
from dasktune.utils import validate_save_restore


def test_validate_save_restore_passes_through_storage_and_object_store(client):
    assert validate_save_restore(FileCounter, client=client)
    assert validate_save_restore(FileCounter, use_object_store=True, client=client)


def test_validate_save_restore_catches_a_broken_restore(client):
    with pytest.raises(AssertionError, match="expected 4.*BrokenRestore._restore"):
        validate_save_restore(BrokenRestore, client=client)


def test_raising_trial_is_retried_from_its_checkpoint(client, tmp_path):
    analysis = tune.run(
        FlakyOnce,
        stop={"training_iteration": 5},
        config={"fail_at": 3, "marker": str(tmp_path / "failed")},
        checkpoint_freq=1,
        max_failures=1,
        local_dir=str(tmp_path / "results"),
        client=client,
        verbose=0,
    )
    trial = analysis.trials[0]
    assert trial.status == "TERMINATED" and trial.num_failures == 1
    frame = analysis.trial_dataframes[trial.logdir]
    # iteration 3 raised before reporting; the retry restored checkpoint_2 and went on
    assert list(frame["training_iteration"]) == [1, 2, 3, 4, 5]
    assert list(frame["value"]) == [1, 2, 3, 4, 5]


def test_durable_trainable_checkpoints_to_s3(client, s3_bucket):
    url, options = s3_bucket
    analysis = tune.run(
        DurableCounter,
        stop={"training_iteration": 3},
        checkpoint_freq=1,
        keep_checkpoints_num=1,
        upload_dir=f"{url}/durable",
        storage_options=options,
        client=client,
        verbose=0,
    )
    trial = analysis.trials[0]
    assert trial.checkpoint.startswith(url) and trial.checkpoint.endswith("checkpoint_3")


def test_function_without_checkpoint_dir_cannot_checkpoint(client, tmp_path):
    with pytest.raises(ValueError, match="need a trainable that can checkpoint"):
        tune.run(counter_function, checkpoint_freq=1, local_dir=str(tmp_path), client=client)


def test_placement_helpers_outside_a_trial():
    assert tune.get_gpu_ids() == []
    assert tune.get_placement().worker == ""
