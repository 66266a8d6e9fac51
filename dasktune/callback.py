"""``tune.Callback``: user code called on the driver as the run goes (Ray 1.x's hooks, names
and keyword arguments), and the listener that calls it.

Hooks are called in the order the callbacks were given, on the driver's event loop: keep them
quick. ``trial`` is the same object as in ``trials``. A callback that raises fails the run with
its name and hook in the message; it is never silently skipped.
"""

from __future__ import annotations

from typing import Any

from .error import TuneError
from .instructions import Note, Notify
from .listeners import Listener
from .trial import Trial


class Callback:
    """Base class of callbacks (Ray's ``ray.tune.Callback``); override the hooks you need."""

    def setup(self, **info: Any) -> None:
        """Called once before the run starts (``stop``, ``num_samples``, ``total_num_samples``)."""

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        """Called at the start of each housekeeping turn of the driver."""

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        """Called at the end of each housekeeping turn of the driver."""

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """A trial starts (fresh) on a worker."""

    def on_trial_restore(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """A trial starts from a checkpoint (a retry, a resume, or after a pause)."""

    def on_trial_save(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        """A checkpoint of the trial was committed."""

    def on_trial_result(
        self,
        iteration: int,
        trials: list[Trial],
        trial: Trial,
        result: dict[str, Any],
        **info: Any,
    ) -> None:
        """The trial reported ``result``."""

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """The trial ended normally."""

    def on_trial_recover(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """The trial failed and will be retried."""

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """The trial failed for good."""

    def on_checkpoint(
        self, iteration: int, trials: list[Trial], trial: Trial, checkpoint: Any, **info: Any
    ) -> None:
        """A checkpoint of the trial was committed (``checkpoint``: its storage URL)."""

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        """The run ended."""


class CallbackListener(Listener):
    """Calls the user's callbacks for the controller's notes."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = list(callbacks)

    def _call(self, hook: str, **kwargs: Any) -> None:
        for callback in self.callbacks:
            try:
                getattr(callback, hook)(**kwargs)
            except Exception as exc:
                raise TuneError(
                    f"callback {type(callback).__name__}.{hook}() raised {type(exc).__name__}: "
                    f"{exc}; fix the callback or remove it from callbacks=."
                ) from exc

    def setup(self, **info: Any) -> None:
        """Each callback's ``setup``."""
        self._call("setup", **info)

    def on_note(self, note: Notify, trials: list[Trial], iteration: int) -> None:
        """The Ray hook(s) matching ``note``."""
        trial = note.trial
        if trial is None:
            return
        common = {"iteration": iteration, "trials": trials, "trial": trial}
        kind = note.kind
        if kind == Note.RESULT:
            self._call("on_trial_result", result=note.info["result"], **common)
        elif kind == Note.TRIAL_START:
            self._call("on_trial_start", **common)
        elif kind == Note.TRIAL_RESTORE:
            self._call("on_trial_restore", **common)
        elif kind == Note.CHECKPOINT:
            self._call("on_trial_save", **common)
            self._call("on_checkpoint", checkpoint=note.info["checkpoint"], **common)
        elif kind == Note.TRIAL_COMPLETE:
            self._call("on_trial_complete", **common)
        elif kind == Note.TRIAL_ERROR:
            self._call(
                "on_trial_recover" if note.info.get("retried") else "on_trial_error", **common
            )

    def on_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """``on_step_begin``: a housekeeping turn of the driver begins."""
        self._call("on_step_begin", iteration=iteration, trials=trials)

    def after_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """``on_step_end``: the turn's instructions were carried out."""
        self._call("on_step_end", iteration=iteration, trials=trials)

    async def on_run_end(self, trials: list[Trial]) -> None:
        """``on_experiment_end``."""
        self._call("on_experiment_end", trials=trials)


def check_callbacks(callbacks: Any) -> list[Callback]:
    """``callbacks=`` as a list of :class:`Callback`, or a clear error."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            f"callbacks= must be a list of tune.Callback instances, got {callbacks!r}; pass "
            "callbacks=[MyCallback()]."
        )
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks= holds {callback!r}, which is not a tune.Callback instance; "
                "subclass dasktune.Callback (Ray's hook names) and pass an instance."
            )
    return list(callbacks)
