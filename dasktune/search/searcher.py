"""Ray 1.x's suggestion API: a :class:`Searcher` proposes one config at a time
(``suggest(trial_id)``) and learns from results; :class:`SearchGenerator` turns it into the
:class:`~dasktune.search.search_algorithm.SearchAlgorithm` the controller asks for trials;
:class:`ConcurrencyLimiter` caps how many of its suggestions run at once.

The controller asks for a trial only when it could start one. A Searcher that answers ``None``
("not now") is asked again at the controller's next turn; :attr:`Searcher.FINISHED` ends the
search.
"""

from __future__ import annotations

import base64
import copy
import os
import tempfile
import warnings
from collections.abc import Mapping
from typing import Any

import cloudpickle

from ..trial import Trial
from .sample import contains_domains
from .search_algorithm import SearchAlgorithm, TrialFactory, _deep_update
from .variants import _format_tag, count_variants, iter_variants

Suggestion = dict[str, Any] | str | None


class Searcher:
    """Proposes configs one at a time and learns from their results (Ray 1.x's
    ``ray.tune.suggest.Searcher``).

    Subclasses implement :meth:`suggest` and :meth:`on_trial_complete`; ``trial_id`` is an id
    the :class:`SearchGenerator` gives each suggestion and then uses for that trial's results.
    The state kept for ``resume=True`` is, by default, the pickled instance attributes; a
    subclass that implements :meth:`save`/:meth:`restore` (as Ray's do) is saved with those.
    """

    FINISHED = "FINISHED"

    def __init__(self, metric: str | None = None, mode: str | None = None) -> None:
        _check_mode(mode)
        self._metric = metric
        self._mode = mode

    @property
    def metric(self) -> str | None:
        """The result key this searcher optimises."""
        return self._metric

    @property
    def mode(self) -> str | None:
        """``"min"`` or ``"max"``."""
        return self._mode

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any]
    ) -> bool:
        """Take ``tune.run``'s metric, mode and config; False when they contradict the
        searcher's own metric or mode."""
        _check_mode(mode)
        if metric is not None and self._metric is not None and metric != self._metric:
            return False
        if mode is not None and self._mode is not None and mode != self._mode:
            return False
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    def suggest(self, trial_id: str) -> Suggestion:
        """A config for a new trial; ``None`` to be asked again later; :attr:`FINISHED` to end
        the search."""
        raise NotImplementedError(f"{type(self).__name__} must implement suggest(trial_id)")

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """A trial reported an intermediate result."""

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """A trial ended: with its last result, or with ``error=True`` (and no result)."""
        raise NotImplementedError(f"{type(self).__name__} must implement on_trial_complete")

    def save(self, checkpoint_path: str) -> None:
        """Write the searcher's state to a file."""
        with open(checkpoint_path, "wb") as f:
            cloudpickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        """Read the state :meth:`save` wrote."""
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(cloudpickle.load(f))

    def get_state(self) -> dict[str, Any]:
        """The state kept in the experiment state (JSON: the pickle is base64 text)."""
        if type(self).save is Searcher.save:
            blob = cloudpickle.dumps(self.__dict__)
        else:  # a Ray-style subclass knows only files
            with tempfile.TemporaryDirectory(prefix="dasktune-searcher-") as tmp:
                path = os.path.join(tmp, "searcher.pkl")
                self.save(path)
                with open(path, "rb") as f:
                    blob = f.read()
        return {"pickle": base64.b64encode(blob).decode()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`get_state`'s output."""
        blob = base64.b64decode(state["pickle"])
        if type(self).restore is Searcher.restore:
            self.__dict__.update(cloudpickle.loads(blob))
            return
        with tempfile.TemporaryDirectory(prefix="dasktune-searcher-") as tmp:
            path = os.path.join(tmp, "searcher.pkl")
            with open(path, "wb") as f:
                f.write(blob)
            self.restore(path)


class SearchGenerator(SearchAlgorithm):
    """A :class:`Searcher` as a search algorithm: each suggestion becomes a trial (merged over
    ``tune.run``'s config, whose constants it keeps), until ``num_samples`` suggestions were
    made (``-1``: no limit) or the searcher answers :attr:`Searcher.FINISHED`."""

    def __init__(self, searcher: Searcher) -> None:
        if not isinstance(searcher, Searcher):
            raise TypeError(
                f"SearchGenerator wraps a dasktune.search.Searcher, got {type(searcher).__name__}"
            )
        self.searcher = searcher
        self._factory: TrialFactory | None = None
        self._config: dict[str, Any] = {}
        self._seed: int | None = None
        self._total: int | None = None
        self._created = 0
        self._next_id = 0
        # trial id -> the id the searcher knows it by (the same with tune.run's factory; kept
        # across resume).
        self._ids: dict[str, str] = {}
        self._finished = False
        self._warned_state = False

    @property
    def metric(self) -> str | None:
        """The searcher's metric."""
        return self.searcher.metric

    @property
    def mode(self) -> str | None:
        """The searcher's mode."""
        return self.searcher.mode

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any]
    ) -> bool:
        """Passed on to the searcher."""
        return self.searcher.set_search_properties(metric, mode, config)

    def setup_experiment(
        self, config: dict[str, Any], num_samples: int, seed: int | None, factory: TrialFactory
    ) -> None:
        """Keep the run's config (its constants go into every trial) and the sample count."""
        if count_variants(config, 1) != 1:
            raise ValueError(
                f"tune.run(config=...) has a grid_search, which {type(self.searcher).__name__} "
                "cannot expand; use tune.choice(...) instead, or drop search_alg= to run the grid."
            )
        self._factory = factory
        self._config = config
        self._seed = seed
        self._total = None if num_samples < 0 else num_samples

    def next_trial(self) -> Trial | None:
        """A trial from the searcher's next suggestion; None when it has none now or ever."""
        if self._factory is None:
            raise RuntimeError("setup_experiment() must be called before next_trial()")
        if self.is_finished():
            return None
        # tune.run's factory knows the next trial's id, so the searcher sees the trial's own
        # id, as in Ray; other factories (tests) get ids of the generator's own.
        peek = getattr(self._factory, "next_trial_id", None)
        searcher_id = peek() if callable(peek) else f"s{self._next_id:05d}"
        suggestion = self.searcher.suggest(searcher_id)
        if suggestion is None:
            return None
        if isinstance(suggestion, str) and suggestion == Searcher.FINISHED:
            self._finished = True
            return None
        if not isinstance(suggestion, Mapping):
            raise TypeError(
                f"{type(self.searcher).__name__}.suggest() must return a dict (a config), None "
                f"(ask again later) or Searcher.FINISHED, got {type(suggestion).__name__}"
            )
        self._next_id += 1
        config, tag = self._resolve(suggestion)
        trial = self._factory(config, tag)
        self._created += 1
        self._ids[trial.trial_id] = searcher_id
        return trial

    def _resolve(self, suggestion: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """The suggestion over the run's config; search-space entries the searcher left out
        are sampled at random (seeded), as the default generator would."""
        config = copy.deepcopy(self._config)
        _deep_update(config, suggestion)
        tag = _format_tag(config, list(_leaf_paths(suggestion)))
        if contains_domains(config):
            seed = None if self._seed is None else self._seed + self._created
            variant = next(iter_variants(config, 1, seed))
            config = variant.config
            tag = ",".join(t for t in (tag, variant.tag) if t)
        return config, tag

    def is_finished(self) -> bool:
        """Whether the searcher said FINISHED or ``num_samples`` suggestions were made."""
        return self._finished or (self._total is not None and self._created >= self._total)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Passed on under the searcher's id."""
        searcher_id = self._ids.get(trial_id)
        if searcher_id is not None:
            self.searcher.on_trial_result(searcher_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Passed on under the searcher's id, once per trial."""
        searcher_id = self._ids.pop(trial_id, None)
        if searcher_id is not None:
            self.searcher.on_trial_complete(searcher_id, result, error=error)

    def searcher_id(self, trial_id: str) -> str | None:
        """The id the searcher knows a live trial by (None once it ended, or if not its)."""
        return self._ids.get(trial_id)

    def total_samples(self) -> int | None:
        """``num_samples`` (None for -1, or when the searcher decides)."""
        return self._total

    def get_state(self) -> dict[str, Any]:
        """The counts, the live trials' searcher ids and the searcher's own state."""
        searcher_state = None
        try:
            searcher_state = self.searcher.get_state()
        except Exception as exc:  # noqa: BLE001 - the run goes on; only resume loses out
            if not self._warned_state:
                self._warned_state = True
                warnings.warn(
                    f"the experiment state cannot keep {type(self.searcher).__name__}'s state "
                    f"({type(exc).__name__}: {exc}). The run goes on, but resume=True will start "
                    "the searcher afresh. Make its attributes picklable, or implement "
                    "save()/restore().",
                    stacklevel=1,
                )
        return {
            "created": self._created,
            "next_id": self._next_id,
            "ids": dict(self._ids),
            "finished": self._finished,
            "searcher": searcher_state,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue where the saved run stopped: same counts, same searcher."""
        self._created = int(state.get("created", 0))
        self._next_id = int(state.get("next_id", self._created))
        self._ids = dict(state.get("ids", {}))
        self._finished = bool(state.get("finished", False))
        if state.get("searcher") is not None:
            self.searcher.set_state(state["searcher"])


class WrappingSearcher(Searcher):
    """A searcher around another (``self.searcher``): metric, mode and search properties are
    the inner searcher's."""

    searcher: Searcher

    @staticmethod
    def _check_inner(wrapper: str, searcher: Any) -> None:
        if not isinstance(searcher, Searcher):
            raise TypeError(
                f"{wrapper} wraps a dasktune.search.Searcher, got {type(searcher).__name__}; "
                f"pass a Searcher (e.g. OptunaSearch(...)) to {wrapper}(...)."
            )

    @property
    def metric(self) -> str | None:
        """The inner searcher's metric."""
        return self.searcher.metric

    @property
    def mode(self) -> str | None:
        """The inner searcher's mode."""
        return self.searcher.mode

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any]
    ) -> bool:
        """Passed on to the inner searcher."""
        return self.searcher.set_search_properties(metric, mode, config)


class ConcurrencyLimiter(WrappingSearcher):
    """At most ``max_concurrent`` of ``searcher``'s suggestions run at once (Ray's
    ``ConcurrencyLimiter``): it answers None (ask again later) while that many are live."""

    def __init__(self, searcher: Searcher, max_concurrent: int) -> None:
        self._check_inner("ConcurrencyLimiter", searcher)
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            raise TypeError(f"max_concurrent must be an int, got {max_concurrent!r}")
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        self.searcher = searcher
        self.max_concurrent = max_concurrent
        self._live: set[str] = set()
        super().__init__(searcher.metric, searcher.mode)

    def suggest(self, trial_id: str) -> Suggestion:
        """The inner searcher's suggestion, or None at the cap."""
        if len(self._live) >= self.max_concurrent:
            return None
        suggestion = self.searcher.suggest(trial_id)
        if isinstance(suggestion, Mapping):
            self._live.add(trial_id)
        return suggestion

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Passed on."""
        if trial_id in self._live:
            self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Frees a place; passed on."""
        if trial_id not in self._live:
            return
        self._live.discard(trial_id)
        self.searcher.on_trial_complete(trial_id, result, error=error)

    def get_state(self) -> dict[str, Any]:
        """The live ids and the inner searcher's state."""
        return {"live": sorted(self._live), "searcher": self.searcher.get_state()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`get_state`'s output."""
        self._live = set(state.get("live", []))
        self.searcher.set_state(state["searcher"])


def _check_mode(mode: str | None) -> None:
    if mode is not None and mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")


def _leaf_paths(
    suggestion: Mapping[str, Any], prefix: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    """The key paths of a suggestion's values (nested dicts walked), for the trial's tag."""
    paths: list[tuple[Any, ...]] = []
    for key, value in suggestion.items():
        if isinstance(value, Mapping) and value:
            paths += _leaf_paths(value, (*prefix, key))
        else:
            paths.append((*prefix, key))
    return paths
