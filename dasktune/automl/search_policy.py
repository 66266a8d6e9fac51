"""Ray 0.8's round-based AutoML search (``ray.tune.automl.search_policy.AutoMLSearcher``):
a round of configs is handed out, and the next round is chosen only once every trial of the
current one has ended.

As a :class:`~dasktune.search.search_algorithm.SearchAlgorithm` the round's trials are made
one at a time as the controller can start them; between rounds :meth:`next_trial` answers
None ("not now") until the last trial of the round ends.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..search.sample import contains_domains
from ..search.search_algorithm import SearchAlgorithm, TrialFactory
from ..search.variants import count_variants, iter_variants
from ..trial import Trial
from .search_space import ContinuousSpace, Gene, SearchSpace


@dataclass
class Member:
    """One trial of a round: its gene, its config values and the best reward it reported
    (None: none yet, or it failed before reporting one)."""

    gene: Gene
    params: dict[str, Any]
    trial_id: str | None = None
    best: float | None = None
    done: bool = False


class AutoMLSearcher(SearchAlgorithm):
    """Base of the round-based AutoML searchers; subclasses choose a round's members
    (:meth:`_select` genes, or :meth:`_members` with their values) and read the finished round
    (:meth:`_feedback`).

    ``reward_attr`` is maximised (the best value a trial reported counts).
    """

    CONTINUE = "CONTINUE"
    TERMINATE = "TERMINATE"

    def __init__(self, search_space: SearchSpace, reward_attr: str) -> None:
        if not isinstance(search_space, SearchSpace):
            raise TypeError(
                f"{type(self).__name__}(search_space=...) takes a dasktune.automl.SearchSpace, "
                f"got {type(search_space).__name__}"
            )
        if not isinstance(reward_attr, str) or not reward_attr:
            raise ValueError(
                f"{type(self).__name__}(reward_attr=...) must name the result key to maximise, "
                f"got {reward_attr!r}"
            )
        self.search_space = search_space
        self.reward_attr = reward_attr
        self._seed: int | None = None
        self._rng = random.Random()
        self._factory: TrialFactory | None = None
        self._config: dict[str, Any] = {}
        self._round: list[Member] = []
        self._next = 0  # the next member of the round to hand out
        self._iteration = 0  # rounds begun
        self._created = 0
        self._finished = False
        self._best: tuple[float, str, dict[str, Any]] | None = None  # reward, trial id, params
        self._trials: dict[str, Trial] = {}  # the live round's trials
        self._best_trial: Trial | None = None

    # -- what subclasses implement ----------------------------------------------------------

    def _select(self) -> list[Gene]:
        """The genes of the next round."""
        raise NotImplementedError(f"{type(self).__name__} must implement _select()")

    def _feedback(self, members: list[Member]) -> str:
        """Read the finished round; :attr:`CONTINUE` for another, :attr:`TERMINATE` to end."""
        raise NotImplementedError(f"{type(self).__name__} must implement _feedback(members)")

    def _members(self) -> list[Member]:
        """The next round's members: the genes of :meth:`_select` with their values (a
        searcher that draws values the genes cannot hold overrides this)."""
        return [Member(list(g), self.search_space.apply_gene(g)) for g in self._select()]

    # -- SearchAlgorithm --------------------------------------------------------------------

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any]
    ) -> bool:
        """False when ``tune.run``'s metric or mode contradict ``reward_attr`` (maximised)."""
        return metric in (None, self.reward_attr) and mode in (None, "max")

    def setup_experiment(
        self, config: dict[str, Any], num_samples: int, seed: int | None, factory: TrialFactory
    ) -> None:
        """Keep the run's config (the searched values go into it at their paths)."""
        name = type(self).__name__
        if num_samples != 1:
            raise ValueError(
                f"{name} decides how many trials run (its rounds' populations); leave "
                f"tune.run(num_samples=...) at 1, got {num_samples}"
            )
        if count_variants(config, 1) != 1:
            raise ValueError(
                f"tune.run(config=...) has a grid_search, which {name} cannot expand; put the "
                "values in a DiscreteSpace of its search space instead."
            )
        for param in self.search_space.param_list:
            _check_path(config, param.name, name)
        self._factory = factory
        self._config = config
        if self._seed is None:
            self._seed = seed
            self._rng = random.Random(seed)

    def next_trial(self) -> Trial | None:
        """The round's next trial; a new round once the last one ended; None in between."""
        if self._factory is None:
            raise RuntimeError("setup_experiment() must be called before next_trial()")
        if self._finished:
            return None
        if self._next >= len(self._round):
            if any(not m.done for m in self._round):
                return None  # the round is still running: the next waits for its results
            self._begin_round()
            if not self._round:
                self._finished = True
                return None
        member = self._round[self._next]
        self._next += 1
        config = copy.deepcopy(self._config)
        for path, value in member.params.items():
            _deep_insert(config, path.split("."), copy.deepcopy(value))
        tag = "-".join(f"{path.split('.')[-1]}={value}" for path, value in member.params.items())
        if contains_domains(config):  # the rest of the run's space, drawn as usual (seeded)
            seed = None if self._seed is None else self._seed + 7919 * (self._created + 1)
            variant = next(iter_variants(config, 1, seed))
            config = variant.config
            tag = ",".join(t for t in (tag, variant.tag) if t)
        trial = self._factory(config, tag)
        member.trial_id = trial.trial_id
        self._trials[trial.trial_id] = trial
        self._created += 1
        return trial

    def _begin_round(self) -> None:
        self._round = self._members()
        self._next = 0
        self._trials = {}
        self._iteration += 1

    def is_finished(self) -> bool:
        """Whether a round ended with :attr:`TERMINATE`."""
        return self._finished

    def _member(self, trial_id: str) -> Member | None:
        for member in self._round:
            if member.trial_id == trial_id:
                return member
        return None

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Keep the trial's best ``reward_attr``."""
        member = self._member(trial_id)
        if member is None or not result:
            return
        value = result.get(self.reward_attr)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return
        if member.best is None or value > member.best:
            member.best = float(value)
        if self._best is None or value > self._best[0]:
            self._best = (float(value), trial_id, dict(member.params))
            self._best_trial = self._trials.get(trial_id)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """The trial's last result counts; once the round's last trial ended, the next round
        is chosen (or the search ends)."""
        member = self._member(trial_id)
        if member is None or member.done:
            return
        if result and not error:
            self.on_trial_result(trial_id, result)
        member.done = True
        if self._next >= len(self._round) and all(m.done for m in self._round):
            if self._feedback(list(self._round)) == self.TERMINATE:
                self._finished = True

    def get_best_trial(self) -> Trial | None:
        """The trial with the best ``reward_attr`` so far (None after a resume until a better
        one reports: Trial objects are not kept in the state; :attr:`best_config` is)."""
        return self._best_trial

    @property
    def best_config(self) -> dict[str, Any] | None:
        """``{dotted name: value}`` of the best member so far."""
        return None if self._best is None else dict(self._best[2])

    # -- resume -----------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Rounds, the live round's members and the random generator (JSON)."""
        version, internal, gauss = self._rng.getstate()
        return {
            "round": [asdict(m) for m in self._round],
            "next": self._next,
            "iteration": self._iteration,
            "created": self._created,
            "finished": self._finished,
            "best": list(self._best) if self._best is not None else None,
            "rng": [version, list(internal), gauss],
            "seed": self._seed,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`get_state`'s output."""
        self._round = [Member(**m) for m in state["round"]]
        self._next = int(state["next"])
        self._iteration = int(state["iteration"])
        self._created = int(state["created"])
        self._finished = bool(state["finished"])
        best = state.get("best")
        self._best = (float(best[0]), str(best[1]), dict(best[2])) if best else None
        version, internal, gauss = state["rng"]
        self._rng.setstate((version, tuple(internal), gauss))
        self._seed = state.get("seed")


def _deep_insert(config: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        config = config.setdefault(key, {})
    config[path[-1]] = value


def _check_path(config: Mapping[str, Any], dotted: str, searcher: str) -> None:
    """A searched path must not run through a config value that is not a dict."""
    node: Any = config
    for key in dotted.split(".")[:-1]:
        if not isinstance(node, Mapping):
            break
        node = node.get(key)
        if node is not None and not isinstance(node, Mapping):
            raise ValueError(
                f"{searcher}: the search space sets {dotted!r}, but tune.run(config=...) has "
                f"{key!r} = {node!r}, not a dict; rename the parameter or the config key."
            )


class GridSearch(AutoMLSearcher):
    """Ray 0.8's ``GridSearch``: one round with every combination of the parameters' choices
    (a ``ContinuousSpace`` at its ``num`` evenly spaced values), the first parameter varying
    fastest as in Ray's grid expansion; then the search ends."""

    def _select(self) -> list[Gene]:
        counts = [p.choices_count() for p in reversed(self.search_space.param_list)]
        return [list(reversed(c)) for c in itertools.product(*(range(n) for n in counts))]

    def _feedback(self, members: list[Member]) -> str:
        return self.TERMINATE


class RandomSearch(AutoMLSearcher):
    """Ray 0.8's ``RandomSearch``: one round of ``repeat`` members, each parameter drawn at
    random (a ``DiscreteSpace`` among its choices, a ``ContinuousSpace`` uniformly in
    ``[start, end]``, not only at its grid points); then the search ends. Draws come from the
    searcher's generator, seeded by ``tune.run(seed=)`` or ``seed=``, so a run repeats."""

    def __init__(
        self,
        search_space: SearchSpace,
        reward_attr: str,
        repeat: int,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(search_space, reward_attr)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise ValueError(
                f"RandomSearch(repeat=...) is how many configs to draw, an int >= 1; got {repeat!r}"
            )
        self.repeat = repeat
        if seed is not None:
            self._seed = seed
            self._rng.seed(seed)

    def _members(self) -> list[Member]:
        members = []
        for _ in range(self.repeat):
            gene: Gene = []
            params: dict[str, Any] = {}
            for param in self.search_space.param_list:
                if isinstance(param, ContinuousSpace):
                    # -1: drawn between the grid points, not one of the choices
                    gene.append(-1)
                    params[param.name] = self._rng.uniform(param.start, param.end)
                else:
                    index = self._rng.randrange(param.choices_count())
                    gene.append(index)
                    params[param.name] = param.choices[index]
            members.append(Member(gene, params))
        return members

    def _feedback(self, members: list[Member]) -> str:
        return self.TERMINATE
