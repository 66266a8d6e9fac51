"""Where trials come from: Ray's ``SearchAlgorithm`` interface and the default
``BasicVariantGenerator`` (grid x ``num_samples``), handing out trials one at a time.

The controller asks for a trial only when it could start one, so a run with
``num_samples=10**9`` (or ``-1``, no limit) holds a handful of trials in memory, not a billion.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..trial import Trial
from .variants import Variant, count_variants, iter_variants

TrialFactory = Callable[[dict[str, Any], str], Trial]


class SearchAlgorithm:
    """Hands out trials on demand (Ray's ``ray.tune.suggest.SearchAlgorithm``).

    The run calls :meth:`setup_experiment` once, then :meth:`next_trial` whenever it could
    start a trial, until :meth:`is_finished`. It reports every result and every trial's end.
    """

    def setup_experiment(
        self, config: dict[str, Any], num_samples: int, seed: int | None, factory: TrialFactory
    ) -> None:
        """Take the run's search space; ``factory(config, tag)`` makes a Trial."""
        raise NotImplementedError(f"{type(self).__name__} must implement setup_experiment")

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any]
    ) -> bool:
        """Take ``tune.run``'s metric and mode; False if this algorithm cannot use them."""
        return True

    def next_trial(self) -> Trial | None:
        """A new trial, or None (none for now, or none ever: see :meth:`is_finished`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement next_trial")

    def is_finished(self) -> bool:
        """Whether no trial will ever come again."""
        raise NotImplementedError(f"{type(self).__name__} must implement is_finished")

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """A trial reported a result (not called for the result that ends it)."""

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """A trial ended: with its last result, or with ``error=True`` (and no result)."""

    def total_samples(self) -> int | None:
        """How many trials this algorithm hands out in all, if known."""
        return None

    def get_state(self) -> dict[str, Any]:
        """What :meth:`set_state` needs to continue after a resume (kept with the experiment)."""
        return {}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`get_state`'s output (on ``resume=True``)."""


class BasicVariantGenerator(SearchAlgorithm):
    """Every combination of the grid searches, ``num_samples`` times, random values drawn per
    trial (Ray's default). ``points_to_evaluate`` are partial configs run first (the rest of
    the config filled in as usual; they count toward the total); ``max_concurrent`` caps how
    many of its trials run at once (0: no cap)."""

    def __init__(
        self,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        max_concurrent: int = 0,
    ) -> None:
        if points_to_evaluate is not None and not (
            isinstance(points_to_evaluate, list)
            and all(isinstance(p, Mapping) for p in points_to_evaluate)
        ):
            raise TypeError(
                "points_to_evaluate must be a list of dicts (partial configs), got "
                f"{points_to_evaluate!r}"
            )
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            raise TypeError(f"max_concurrent must be an int, got {max_concurrent!r}")
        if max_concurrent < 0:
            raise ValueError(f"max_concurrent must be >= 0 (0: no cap), got {max_concurrent}")
        self._points = [dict(p) for p in points_to_evaluate or []]
        self._max_concurrent = max_concurrent
        self._variants: Iterator[Variant] | None = None
        self._factory: TrialFactory | None = None
        self._total: int | None = None
        self._created = 0
        self._live: set[str] = set()
        self._exhausted = False

    def setup_experiment(
        self, config: dict[str, Any], num_samples: int, seed: int | None, factory: TrialFactory
    ) -> None:
        """Prepare the variants of ``config`` (checked now, sampled lazily)."""
        self._factory = factory
        regular = iter_variants(config, num_samples, seed)
        points = (self._point_variant(config, p, seed, i) for i, p in enumerate(self._points))
        if num_samples < 0:
            self._total = None
            self._variants = itertools.chain(points, regular)
        else:
            self._total = max(count_variants(config, num_samples), len(self._points))
            self._variants = itertools.islice(itertools.chain(points, regular), self._total)

    @staticmethod
    def _point_variant(
        config: dict[str, Any], point: Mapping[str, Any], seed: int | None, index: int
    ) -> Variant:
        merged = copy.deepcopy(config)
        _deep_update(merged, point)
        point_seed = None if seed is None else seed + index + 1
        return next(iter_variants(merged, 1, point_seed))

    def next_trial(self) -> Trial | None:
        """The next variant as a trial; None at the ``max_concurrent`` cap or at the end."""
        if self._variants is None or self._factory is None:
            raise RuntimeError("setup_experiment() must be called before next_trial()")
        if self._max_concurrent and len(self._live) >= self._max_concurrent:
            return None
        variant = next(self._variants, None)
        if variant is None:
            self._exhausted = True
            return None
        self._created += 1
        trial = self._factory(variant.config, variant.tag)
        self._live.add(trial.trial_id)
        return trial

    def is_finished(self) -> bool:
        """Whether every variant was handed out."""
        if self._total is not None and self._created >= self._total:
            return True
        return self._exhausted

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Frees a ``max_concurrent`` place."""
        self._live.discard(trial_id)

    def total_samples(self) -> int | None:
        """Grid size x num_samples (None for ``num_samples=-1``)."""
        return self._total

    def get_state(self) -> dict[str, Any]:
        """How many variants were handed out."""
        return {"created": self._created}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Skip the variants handed out before the resume (the same seed draws them again)."""
        if self._variants is None:
            raise RuntimeError("setup_experiment() must be called before set_state()")
        created = int(state.get("created", 0))
        for _ in range(created):
            if next(self._variants, None) is None:
                break
        self._created = created


def _deep_update(target: dict[str, Any], point: Mapping[str, Any]) -> None:
    for key, value in point.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
