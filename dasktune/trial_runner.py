"""What Ray Tune's schedulers see as ``trial_runner``: the trials, and a ``trial_executor`` to
act on any of them (``ray.tune.trial_runner.TrialRunner``'s surface that schedulers use).

Nothing here acts at once: each request becomes an instruction of the controller, carried out
when the trial's current call returns, so a scheduler may pause or stop another trial from
inside a hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .resources import Resources
from .trial import Trial, TrialStatus

if TYPE_CHECKING:
    from .controller import Controller


class TrialExecutor:
    """Ray's ``trial_runner.trial_executor``: pause, stop or checkpoint a trial."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    def pause_trial(self, trial: Trial) -> None:
        """Pause a trial: it checkpoints, frees its slots and waits to be chosen again."""
        self._controller.request_pause(trial)

    def stop_trial(self, trial: Trial, error: bool = False, error_msg: str | None = None) -> None:
        """Stop a trial for good (``error=True``: it ends in ERROR with ``error_msg``)."""
        self._controller.request_stop(trial, error=error, error_msg=error_msg)

    def save(self, trial: Trial, storage: str = "persistent", result: Any = None) -> None:
        """Checkpoint a running trial after its current step."""
        self._controller.request_save(trial)

    def exploit(
        self,
        trial: Trial,
        donor: Trial,
        new_config: dict[str, Any],
        new_tag: str | None = None,
        min_iteration: int = 0,
        on_clone: Callable[[str, int], None] | None = None,
    ) -> bool:
        """``trial`` continues from ``donor``'s newest committed checkpoint (at least at
        ``min_iteration``; the donor saves one first if it has none) with ``new_config``:
        PBT's exploit, in one request instead of Ray's ``reset_trial``/``restore``/
        ``stop_trial``/``start_trial`` sequence. ``on_clone(url, iteration)`` is called when
        the checkpoint is chosen. False when refused (finished, or an exploit pending)."""
        return self._controller.request_exploit(
            trial, donor, new_config, new_tag, min_iteration, on_clone
        )

    def has_resources(self, resources: Resources) -> bool:
        """Whether a trial asking for ``resources`` could be placed now."""
        return self._controller.can_place(resources)

    def get_running_trials(self) -> list[Trial]:
        """The trials running now."""
        return [t for t in self._controller.trials if t.status == TrialStatus.RUNNING]


class TrialRunner:
    """The run as Ray's schedulers see it."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller
        self.trial_executor = TrialExecutor(controller)

    def get_trials(self) -> list[Trial]:
        """Every trial created so far, in creation order."""
        return self._controller.trials

    def has_resources(self, resources: Resources) -> bool:
        """Whether a trial asking for ``resources`` could be placed now."""
        return self._controller.can_place(resources)

    def is_finished(self) -> bool:
        """Whether the run has nothing left to do."""
        return self._controller.is_finished

    @property
    def search_alg(self) -> Any:
        """The run's search algorithm (Ray's ``trial_runner._search_alg``), for schedulers
        paired with a searcher (``HyperBandForBOHB``); ``search_alg.is_finished()`` says
        whether more trials will come."""
        return self._controller.search_alg

    _search_alg = search_alg

    def has_waiting_trials(self) -> bool:
        """Whether any trial waits to start or resume (cheaper than ``waiting_trials()``)."""
        return self._controller.has_waiting_trials()

    def waiting_trials(self) -> list[Trial]:
        """PENDING and PAUSED trials that may start now (not those waiting for an exploit's
        donor), in creation order."""
        return self._controller.waiting_trials()

    def write_experiment_file(self, name: str, text: str) -> None:
        """Write ``text`` as the file ``name`` in the experiment dir, whole, in the background
        (newest wins): schedulers do no I/O themselves (PBT's policy logs come this way)."""
        self._controller.write_file(name, text)

    def first_runnable(self) -> Trial | None:
        """The oldest PENDING trial that fits now, else the oldest PAUSED one (FIFO's choice),
        found in O(resource shapes)."""
        return self._controller.first_runnable()
