"""Which of a training library's logged metrics an integration callback reports, and under
which names: Ray 1.x's ``metrics=`` argument, shared by the Keras, Lightning and XGBoost
callbacks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

MetricsArg = str | Sequence[str] | Mapping[str, str] | None


def metric_names(metrics: MetricsArg) -> dict[str, str] | None:
    """``metrics=`` as ``{name to report: name logged}``; None (or empty) reports all."""
    if isinstance(metrics, str):
        metrics = [metrics]
    if not metrics:
        return None
    if isinstance(metrics, Mapping):
        return {str(name): str(logged) for name, logged in metrics.items()}
    return {str(name): str(name) for name in metrics}


def pick_metrics(
    wanted: dict[str, str] | None,
    logged: Mapping[str, Any],
    missing_error: Callable[[list[str]], str],
) -> dict[str, Any]:
    """The report: every logged metric, or the wanted ones renamed.

    Raises:
        KeyError: a wanted metric was not logged (``missing_error`` says which and the fix):
            silently leaving it out would leave a scheduler waiting on it.
    """
    if wanted is None:
        return dict(logged)
    missing = [source for source in wanted.values() if source not in logged]
    if missing:
        raise KeyError(missing_error(missing))
    return {name: logged[source] for name, source in wanted.items()}
