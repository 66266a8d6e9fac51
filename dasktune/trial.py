"""The Trial record: one configuration's life in an experiment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .resources import Resources


class TrialStatus:
    """States of a trial (Ray's names).

    PENDING → RUNNING → TERMINATED | ERROR; RUNNING → PENDING again when a failure is retried,
    and RUNNING → PAUSED → PENDING for schedulers that pause trials.
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    TERMINATED = "TERMINATED"
    ERROR = "ERROR"

    FINISHED = (TERMINATED, ERROR)


@dataclass(eq=False)
class Trial:
    """One configuration of an experiment and what has happened to it so far."""

    trial_id: str
    index: int
    trainable_name: str
    config: dict[str, Any]
    experiment_tag: str
    dirname: str
    resources: Resources
    status: str = TrialStatus.PENDING
    last_result: dict[str, Any] = field(default_factory=dict)
    num_results: int = 0
    num_failures: int = 0
    error_msg: str | None = None
    logdir: str = ""
    # The worker it runs (or last ran) on: the progress table's "loc" column.
    location: str = ""
    # Newest committed checkpoint (a storage URL) and what to restore from on the next start.
    checkpoint: str | None = None
    checkpoint_iteration: int = 0
    restore_path: str | None = None
    # Bumped each time the trial (re)starts.
    run_number: int = 0
    # The config pickled once for the experiment state file (configs do not change).
    config_pickle: str | None = field(default=None, repr=False)
    # What tune.run(trial_name_creator=) named it: its name in tables, logs and callbacks.
    custom_trial_name: str | None = None

    def __str__(self) -> str:
        if self.custom_trial_name is not None:
            return self.custom_trial_name
        return f"{self.trainable_name}_{self.trial_id}"

    @property
    def is_finished(self) -> bool:
        """Whether the trial has ended for good (TERMINATED or ERROR)."""
        return self.status in TrialStatus.FINISHED

    @property
    def training_iteration(self) -> int:
        """The iteration of the newest result, 0 before any."""
        return int(self.last_result.get("training_iteration", 0) or 0)

    def summary(self) -> dict[str, Any]:
        """Plain data describing the trial (for the experiment state file and reports)."""
        return {
            "trial_id": self.trial_id,
            "index": self.index,
            "trainable_name": self.trainable_name,
            "experiment_tag": self.experiment_tag,
            "dirname": self.dirname,
            "status": self.status,
            "num_results": self.num_results,
            "num_failures": self.num_failures,
            "error_msg": self.error_msg,
            "checkpoint": self.checkpoint,
            "checkpoint_iteration": self.checkpoint_iteration,
            "training_iteration": self.training_iteration,
            "resources": self.resources.to_dict(),
            "custom_trial_name": self.custom_trial_name,
        }
