"""Ray's two logger shapes: 0.8's per-trial ``Logger`` classes (``tune.run(loggers=[...])``)
and 1.x's ``LoggerCallback`` (passed in ``callbacks=``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..callback import Callback
from ..trial import Trial


class Logger:
    """Ray 0.8's per-trial logger: one instance per trial start, on the driver.

    Subclass it and override ``_init``, ``on_result``, ``flush`` and ``close``. ``self.logdir``
    is a local directory: the trial's own directory with local storage; with remote storage a
    local staging directory whose files are uploaded to the trial's directory when the trial
    ends (and at the end of the run).
    """

    def __init__(self, config: dict[str, Any], logdir: str, trial: Trial | None = None) -> None:
        self.config = config
        self.logdir = logdir
        self.trial = trial
        self._init()

    def _init(self) -> None:
        """Open what the logger writes to."""

    def on_result(self, result: dict[str, Any]) -> None:
        """Log one result of the trial."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement on_result(result) to be used in loggers=."
        )

    def update_config(self, config: dict[str, Any]) -> None:
        """The trial's config changed (Ray calls this on PBT exploits)."""
        self.config = config

    def flush(self) -> None:
        """Make what was logged visible (called on the run's flush timer)."""

    def close(self) -> None:
        """The trial ended or paused: release what ``_init`` opened."""


class UnifiedLogger(Logger):
    """Several :class:`Logger` classes as one (Ray's ``UnifiedLogger``; the defaults when
    ``loggers`` is None)."""

    def __init__(
        self,
        config: dict[str, Any],
        logdir: str,
        trial: Trial | None = None,
        loggers: Iterable[type[Logger]] | None = None,
    ) -> None:
        from . import DEFAULT_LOGGERS

        self._logger_classes = list(DEFAULT_LOGGERS if loggers is None else loggers)
        super().__init__(config, logdir, trial)

    def _init(self) -> None:
        self._loggers = [cls(self.config, self.logdir, self.trial) for cls in self._logger_classes]

    def on_result(self, result: dict[str, Any]) -> None:
        """Each logger's ``on_result``."""
        for logger in self._loggers:
            logger.on_result(result)

    def update_config(self, config: dict[str, Any]) -> None:
        """Each logger's ``update_config``."""
        self.config = config
        for logger in self._loggers:
            logger.update_config(config)

    def flush(self) -> None:
        """Each logger's ``flush``."""
        for logger in self._loggers:
            logger.flush()

    def close(self) -> None:
        """Each logger's ``close``."""
        for logger in self._loggers:
            logger.close()


class LoggerCallback(Callback):
    """Ray 1.x's logger callback: override ``log_trial_start``, ``log_trial_result`` and
    ``log_trial_end`` and pass an instance in ``callbacks=``.

    The hooks run on the driver's event loop, like every callback: keep them quick, and write
    to local files (``trial.logdir`` is a URL with remote storage).
    """

    def log_trial_start(self, trial: Trial) -> None:
        """A trial starts on a worker."""

    def log_trial_restore(self, trial: Trial) -> None:
        """A trial starts from a checkpoint."""

    def log_trial_save(self, trial: Trial) -> None:
        """A checkpoint of the trial was committed."""

    def log_trial_result(self, iteration: int, trial: Trial, result: dict[str, Any]) -> None:
        """The trial reported ``result``."""

    def log_trial_end(self, trial: Trial, failed: bool = False) -> None:
        """The trial ended (``failed``: for good, with an error)."""

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """Calls ``log_trial_start``."""
        self.log_trial_start(trial)

    def on_trial_restore(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """Calls ``log_trial_restore``."""
        self.log_trial_restore(trial)

    def on_trial_save(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        """Calls ``log_trial_save``."""
        self.log_trial_save(trial)

    def on_trial_result(
        self,
        iteration: int,
        trials: list[Trial],
        trial: Trial,
        result: dict[str, Any],
        **info: Any,
    ) -> None:
        """Calls ``log_trial_result``."""
        self.log_trial_result(iteration, trial, result)

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """Calls ``log_trial_end(trial, failed=False)``."""
        self.log_trial_end(trial, failed=False)

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """Calls ``log_trial_end(trial, failed=True)``."""
        self.log_trial_end(trial, failed=True)


class BuiltinLoggerCallback(LoggerCallback):
    """A built-in logger passed in ``callbacks=``: the run writes its files itself (the hooks
    here do nothing), through ``logger_class``, as if it were in ``loggers=``."""

    logger_class: type[Logger]
