"""Keras callbacks that report to dasktune from inside a function trainable.

The same names as Ray Tune's ``ray.tune.integration.keras``:

- ``KerasCallback(reporter=None, freq="batch")`` (Ray 0.8; ``TuneReporterCallback`` is its
  older name) reports every batch or every epoch;
- ``TuneReportCallback(metrics=None, on="epoch_end")`` (Ray 1.x) reports chosen metrics, maybe
  renamed, at any Keras hook.

Both call the trial's ``reporter`` when given one and ``tune.track.log`` otherwise, and both
report from the thread that runs ``model.fit``, so a ``stop`` rule ends ``fit`` at the report
where it was met::

    import os
    os.environ["KERAS_BACKEND"] = "torch"       # before keras is first imported
    from dasktune.integration.keras import KerasCallback

    def train(config, reporter):
        model.fit(x, y, epochs=5, callbacks=[KerasCallback(reporter, freq="epoch")])

Keras is imported when this module is; where it cannot be (not installed, or its backend
missing) the module still imports and the callbacks raise ``ImportError`` when created.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import track
from .metric_selection import metric_names, pick_metrics

_KERAS_IMPORT_ERROR: BaseException | None = None

if TYPE_CHECKING:
    from keras.callbacks import Callback as _KerasCallback
else:
    try:
        import keras as _keras

        _KerasCallback = _keras.callbacks.Callback
    except Exception as keras_error:
        # Keras 3 raises ValueError (not ImportError) for an unknown KERAS_BACKEND and
        # ModuleNotFoundError for a missing backend package: either way the module must still
        # import, so the error is kept and raised, with install advice, when a callback is made.
        try:
            from tensorflow import keras as _keras  # Keras 2 bundled with TensorFlow

            _KerasCallback = _keras.callbacks.Callback
        except Exception:
            _KERAS_IMPORT_ERROR = keras_error
            _KerasCallback = object

# The hooks Ray Tune 1.x accepts for ``on=`` (a Keras hook name less its ``on_`` prefix).
ALLOWED_HOOKS: tuple[str, ...] = (
    "batch_begin",
    "batch_end",
    "epoch_begin",
    "epoch_end",
    "train_batch_begin",
    "train_batch_end",
    "test_batch_begin",
    "test_batch_end",
    "predict_batch_begin",
    "predict_batch_end",
    "train_begin",
    "train_end",
    "test_begin",
    "test_end",
    "predict_begin",
    "predict_end",
)

Reporter = Callable[..., Any]


def _require_keras() -> None:
    if _KERAS_IMPORT_ERROR is not None:
        raise ImportError(
            "dasktune.integration.keras needs Keras and a backend for it: "
            "`pip install keras` plus one of `pip install torch` (then set "
            "KERAS_BACKEND=torch before keras is first imported, in worker processes too), "
            "`pip install tensorflow` or `pip install jax`. "
            f"Importing keras failed with: {_KERAS_IMPORT_ERROR!r}"
        ) from _KERAS_IMPORT_ERROR


def _to_python(value: Any) -> Any:
    """Make one Keras log value a plain Python value: numbers become ``float``.

    Keras 3 already hands callbacks floats, but tf.keras 2 may pass numpy or tensor scalars;
    those would reach the driver pickled, and the driver need not have the framework that
    made them installed. Arrays with more than one element become nested lists; anything
    that cannot be converted is passed on unchanged.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    try:
        if not hasattr(value, "item") and hasattr(value, "numpy"):
            # TensorFlow tensors have no .item(); their numpy value does.
            value = value.numpy()
        if getattr(value, "size", None) == 1 or getattr(value, "ndim", None) == 0:
            value = value.item()
        elif hasattr(value, "numel") and value.numel() == 1:  # a one-element torch tensor
            value = value.item()
        elif hasattr(value, "tolist"):
            return value.tolist()
    except Exception:
        # A value we cannot read (e.g. a symbolic tensor) is better logged as-is than
        # failing the trial from inside a logging callback.
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def _python_logs(logs: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of a Keras ``logs`` dict with every value passed through :func:`_to_python`."""
    return {str(key): _to_python(value) for key, value in (logs or {}).items()}


class TuneCallback(_KerasCallback):
    """Base of the callbacks here: calls ``_handle(logs, when)`` at the hooks named in ``on``.

    ``on`` is one hook name or a list of them, from :data:`ALLOWED_HOOKS`. ``batch_*`` and
    ``train_batch_*`` name the same event (Keras calls ``on_batch_end`` from
    ``on_train_batch_end``) and fire once per batch even when both are listed.

    Subclasses implement ``_handle``. Every batch hook is overridden on purpose: Keras 3 runs
    the batch hooks of callbacks that leave them at the default in a thread pool, and a report
    must happen in the thread of ``fit`` (the trial's thread, where ``tune.track.log`` finds its
    trial and where a stopped trial's report raises to end ``fit``).
    """

    def __init__(self, on: str | Sequence[str] = "epoch_end") -> None:
        """Check ``on`` and initialise the Keras callback."""
        _require_keras()
        hooks = [on] if isinstance(on, str) else list(on)
        invalid = [hook for hook in hooks if hook not in ALLOWED_HOOKS]
        if not hooks or invalid:
            raise ValueError(
                f"Invalid trigger time selected: {on!r}. Must be one or more of "
                f"{list(ALLOWED_HOOKS)}"
            )
        super().__init__()
        self._on = hooks

    def _handle(self, logs: Mapping[str, Any] | None, when: str) -> None:
        """React to hook ``when`` (a name from ``on``) with the Keras ``logs`` of that hook."""
        raise NotImplementedError(f"{type(self).__name__} must implement _handle(logs, when)")

    def _fire(self, logs: Mapping[str, Any] | None, *names: str) -> None:
        for name in names:
            if name in self._on:
                self._handle(logs, name)
                return

    def on_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: a training batch begins (fires ``batch_begin``/``train_batch_begin``)."""
        self._fire(logs, "batch_begin", "train_batch_begin")

    def on_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: a training batch ended (fires ``batch_end``/``train_batch_end``)."""
        self._fire(logs, "batch_end", "train_batch_end")

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: an epoch begins (fires ``epoch_begin``)."""
        self._fire(logs, "epoch_begin")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: an epoch ended, validation included (fires ``epoch_end``)."""
        self._fire(logs, "epoch_end")

    def on_test_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: an evaluation batch begins (fires ``test_batch_begin``)."""
        self._fire(logs, "test_batch_begin")

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: an evaluation batch ended (fires ``test_batch_end``)."""
        self._fire(logs, "test_batch_end")

    def on_predict_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: a prediction batch begins (fires ``predict_batch_begin``)."""
        self._fire(logs, "predict_batch_begin")

    def on_predict_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: a prediction batch ended (fires ``predict_batch_end``)."""
        self._fire(logs, "predict_batch_end")

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: ``fit`` begins (fires ``train_begin``)."""
        self._fire(logs, "train_begin")

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: ``fit`` ended (fires ``train_end``)."""
        self._fire(logs, "train_end")

    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: evaluation begins (fires ``test_begin``)."""
        self._fire(logs, "test_begin")

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: evaluation ended (fires ``test_end``)."""
        self._fire(logs, "test_end")

    def on_predict_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: prediction begins (fires ``predict_begin``)."""
        self._fire(logs, "predict_begin")

    def on_predict_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """Keras hook: prediction ended (fires ``predict_end``)."""
        self._fire(logs, "predict_end")


class KerasCallback(TuneCallback):
    """Ray Tune 0.8's Keras callback: reports the Keras logs every batch or every epoch.

    Each report carries every Keras log value as a float at the top level (``loss``,
    ``accuracy``, ``val_loss``, ...), the same values nested under ``keras_info`` (where
    Ray 0.8 put them), ``neg_<name>`` for every metric whose name contains ``loss`` (so a
    loss can be maximised), and ``mean_accuracy`` from ``acc`` or ``accuracy`` when Keras logs
    one. dasktune adds ``training_iteration`` and the other automatic fields, counting reports.

    Unlike Ray 0.8, the ``neg_`` values are not written back into the ``logs`` dict Keras
    passes around (other callbacks such as ``History`` see Keras's own values), and a missing
    accuracy leaves ``mean_accuracy`` out instead of reporting ``None``.

    Args:
        reporter: the ``reporter`` of ``def f(config, reporter)``; ``None`` reports through
            ``tune.track.log`` (the trial that runs in the calling thread).
        freq: ``"batch"`` reports at the end of every training batch, ``"epoch"`` at the end
            of every epoch (after validation, so ``val_*`` metrics are there).
        logs: accepted for Ray 0.8 compatibility and ignored, as in Ray.
    """

    def __init__(
        self,
        reporter: Reporter | None = None,
        freq: str = "batch",
        logs: Mapping[str, Any] | None = None,
    ) -> None:
        """Choose where to report and how often; see the class docstring."""
        if freq not in ("batch", "epoch"):
            raise ValueError(f"{freq} not supported as a frequency; use 'batch' or 'epoch'.")
        super().__init__(on="batch_end" if freq == "batch" else "epoch_end")
        self.reporter: Reporter = reporter or track.log
        self.freq = freq
        # Reports made so far (Ray 0.8 kept this counter too); dasktune numbers the results.
        self.iteration = 0

    def _handle(self, logs: Mapping[str, Any] | None, when: str) -> None:
        self.iteration += 1
        metrics = _python_logs(logs)
        for key, value in list(metrics.items()):
            if "loss" in key and "neg_" not in key and isinstance(value, float):
                metrics["neg_" + key] = -value
        result = dict(metrics)
        result["keras_info"] = dict(metrics)
        accuracy = metrics.get("acc", metrics.get("accuracy"))
        if accuracy is not None:
            result["mean_accuracy"] = accuracy
        self.reporter(**result)


# The name Ray Tune 0.8 gave the same callback in its examples and docs.
TuneReporterCallback = KerasCallback


class TuneReportCallback(TuneCallback):
    """Ray Tune 1.x's Keras callback: reports chosen Keras metrics at chosen hooks.

    Args:
        metrics: which Keras log values to report. ``None`` reports all of them; a string or
            a list of strings reports those keys under the same names; a dict maps the name
            to report to the Keras key to read (``{"mean_accuracy": "accuracy"}``). A key
            missing from the logs raises ``KeyError`` naming the keys that are there.
        on: the hook or hooks to report at (see :data:`ALLOWED_HOOKS`); ``"epoch_end"`` by
            default.
        reporter: dasktune's addition: the ``reporter`` of ``def f(config, reporter)``.
            ``None`` reports through ``tune.track.log``, as Ray's ``tune.report`` did.

    Example::

        model.fit(x, y, epochs=5, validation_data=(vx, vy),
                  callbacks=[TuneReportCallback({"mean_accuracy": "val_accuracy"})])
    """

    def __init__(
        self,
        metrics: str | Sequence[str] | Mapping[str, str] | None = None,
        on: str | Sequence[str] = "epoch_end",
        *,
        reporter: Reporter | None = None,
    ) -> None:
        """Choose what to report, when, and where; see the class docstring."""
        super().__init__(on)
        self._metrics = metric_names(metrics)
        self.reporter: Reporter = reporter or track.log

    def _handle(self, logs: Mapping[str, Any] | None, when: str) -> None:
        values = _python_logs(logs)
        report = pick_metrics(
            self._metrics,
            values,
            lambda missing: (
                f"TuneReportCallback: metric {missing[0]!r} is not in the Keras logs "
                f"at {when!r}; they hold {sorted(values)}"
            ),
        )
        self.reporter(**report)


__all__ = [
    "ALLOWED_HOOKS",
    "KerasCallback",
    "TuneCallback",
    "TuneReportCallback",
    "TuneReporterCallback",
]
