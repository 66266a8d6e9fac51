"""PyTorch Lightning callbacks that report to dasktune from inside a function trainable, with
Ray Tune 1.x's names (``ray.tune.integration.pytorch_lightning``):

- ``TuneReportCallback(metrics=None, on="validation_end")`` reports the trainer's
  ``callback_metrics`` (all of them, or the chosen ones, maybe renamed) at a Lightning hook;
- ``TuneReportCheckpointCallback(metrics=None, filename="checkpoint", on="validation_end")``
  also saves the trainer's checkpoint into a ``tune.checkpoint_dir`` first, so the report
  carries it and a restarted trial can go on with ``trainer.fit(model, ckpt_path=...)``.

Reports come from the thread that runs ``trainer.fit``, so a ``stop`` rule or a scheduler ends
``fit`` at the report where it decided. The sanity check's validation run is never reported.
Ray's hook names from Lightning 1.x that Lightning 2 removed map to its nearest hooks:
``epoch_*`` and ``batch_*`` are the training epoch's and batch's. Needs the ``lightning`` extra
(``pip install 'dasktune[lightning]'``); ``lightning.pytorch`` is used when the older
``pytorch_lightning`` package is absent.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .. import track
from .metric_selection import MetricsArg, metric_names, pick_metrics

try:
    from pytorch_lightning import Callback as _LightningCallback
except ImportError:  # pragma: no cover - depends on the environment
    try:
        from lightning.pytorch import Callback as _LightningCallback
    except ImportError as exc:
        raise ImportError(
            "dasktune.integration.pytorch_lightning needs PyTorch Lightning, an optional "
            "extra: pip install 'dasktune[lightning]' (or pip install pytorch-lightning)"
        ) from exc

# Ray's ``on=`` names (a Lightning hook less its ``on_`` prefix) -> the Lightning 2 hook.
_HOOKS: dict[str, str] = {
    **{
        name: f"on_{name}"
        for name in (
            "fit_start",
            "fit_end",
            "sanity_check_start",
            "sanity_check_end",
            "train_start",
            "train_end",
            "train_epoch_start",
            "train_epoch_end",
            "train_batch_start",
            "train_batch_end",
            "validation_start",
            "validation_end",
            "validation_epoch_start",
            "validation_epoch_end",
            "validation_batch_start",
            "validation_batch_end",
            "test_start",
            "test_end",
            "test_epoch_start",
            "test_epoch_end",
            "test_batch_start",
            "test_batch_end",
            "exception",
        )
    },
    # Lightning 1.x hooks Ray accepts that Lightning 2 dropped.
    "epoch_start": "on_train_epoch_start",
    "epoch_end": "on_train_epoch_end",
    "batch_start": "on_train_batch_start",
    "batch_end": "on_train_batch_end",
}
ALLOWED_HOOKS: tuple[str, ...] = tuple(_HOOKS)


class TuneCallback(_LightningCallback):  # type: ignore[misc,valid-type]
    """Base of the dasktune Lightning callbacks: calls :meth:`_handle` at the hooks in ``on``."""

    def __init__(self, on: str | Sequence[str] = "validation_end") -> None:
        names = [on] if isinstance(on, str) else list(on)
        unknown = [name for name in names if name not in _HOOKS]
        if unknown or not names:
            raise ValueError(
                f"on={on!r}: {', '.join(map(repr, unknown)) or 'no hook'} is not a hook these "
                f"callbacks know; use one or more of {', '.join(ALLOWED_HOOKS)}."
            )
        self._on = names
        self._hooks = {_HOOKS[name] for name in names}

    def _at(self, hook: str, trainer: Any, pl_module: Any) -> None:
        if hook in self._hooks and not getattr(trainer, "sanity_checking", False):
            self._handle(trainer, pl_module)

    def _handle(self, trainer: Any, pl_module: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _handle()")


def _make_hook(hook: str) -> Any:
    def method(self: TuneCallback, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
        self._at(hook, trainer, pl_module)

    method.__name__ = hook
    method.__doc__ = f"Lightning's ``{hook}``: report here when it is among ``on``."
    return method


for _hook in sorted(set(_HOOKS.values())):
    setattr(TuneCallback, _hook, _make_hook(_hook))


class TuneReportCallback(TuneCallback):
    """Report ``trainer.callback_metrics`` to dasktune at the hooks in ``on``.

    Args:
        metrics: None (every metric Lightning logged), a name or list of names, or a dict
            ``{name to report: name in callback_metrics}``.
        on: a hook name (``"validation_end"``, ``"train_epoch_end"``...) or a list of them.
    """

    def __init__(
        self,
        metrics: MetricsArg = None,
        on: str | Sequence[str] = "validation_end",
    ) -> None:
        super().__init__(on)
        self._metrics = metric_names(metrics)

    def _report_dict(self, trainer: Any) -> dict[str, Any]:
        logged = trainer.callback_metrics
        report = pick_metrics(
            self._metrics,
            logged,
            lambda missing: (
                f"TuneReportCallback: {', '.join(map(repr, missing))} not in the "
                f"trainer's callback_metrics ({', '.join(map(repr, logged)) or 'none logged yet'}) "
                f"at {'/'.join(self._on)}; log it with self.log(...) in the LightningModule, or "
                "report it at a hook after it is logged (on=...)."
            ),
        )
        return {name: _plain(value) for name, value in report.items()}

    def _handle(self, trainer: Any, pl_module: Any) -> None:
        track.log(**self._report_dict(trainer))


class _TuneCheckpointCallback(TuneCallback):
    """Save the trainer's checkpoint as ``filename`` in a ``tune.checkpoint_dir``."""

    def __init__(self, filename: str = "checkpoint", on: str | Sequence[str] = "validation_end"):
        super().__init__(on)
        self._filename = filename

    def _handle(self, trainer: Any, pl_module: Any) -> None:
        with track.checkpoint_dir(step=trainer.global_step) as directory:
            trainer.save_checkpoint(os.path.join(directory, self._filename))


class TuneReportCheckpointCallback(TuneCallback):
    """Save a checkpoint, then report (Ray's order: the report carries the checkpoint)."""

    def __init__(
        self,
        metrics: MetricsArg = None,
        filename: str = "checkpoint",
        on: str | Sequence[str] = "validation_end",
    ) -> None:
        super().__init__(on)
        self._checkpoint = _TuneCheckpointCallback(filename, on)
        self._report = TuneReportCallback(metrics, on)

    def _handle(self, trainer: Any, pl_module: Any) -> None:
        # The report's metrics are read first: a missing one fails before a checkpoint is made.
        report = self._report._report_dict(trainer)
        self._checkpoint._handle(trainer, pl_module)
        track.log(**report)


def _plain(value: Any) -> Any:
    """A tensor metric as a Python number."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


__all__ = [
    "ALLOWED_HOOKS",
    "TuneCallback",
    "TuneReportCallback",
    "TuneReportCheckpointCallback",
]
