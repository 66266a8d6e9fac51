"""Ray 0.8's genetic search (``ray.tune.automl.GeneticSearch``): a population of configs per
generation; the best of a generation are kept and bred (selection, crossover, mutation) into
the next, smaller one, until ``max_generation`` generations ran."""

from __future__ import annotations

import math
from typing import Any

from .search_policy import AutoMLSearcher, Member
from .search_space import Gene, SearchSpace


class GeneticSearch(AutoMLSearcher):
    """Genetic search over a :class:`~dasktune.automl.SearchSpace`, maximising ``reward_attr``.

    Generation 1 is ``population_size`` random members. Each next generation has
    ``max(int(previous size * population_decay), 3)`` members: the top
    ``max(int(size * keep_top_ratio), 2)`` of the previous one (by the best ``reward_attr``
    each reported) run again, and each other member is bred from those: with probability
    ``selection_bound`` one parent with one parameter taken from another (selection), with
    probability ``crossover_bound`` the first part of one parent and the rest of another
    (crossover), otherwise one parent with ``max(int(len(space) * mutation_rate), 1)``
    parameters drawn afresh (mutation).

    Args:
        search_space: the parameters and their choices.
        reward_attr: the result key to maximise.
        max_generation: how many generations run.
        population_size: the first generation's size.
        population_decay: each generation's size relative to the previous one's.
        keep_top_ratio: the share of a generation kept and bred from.
        selection_bound, crossover_bound: the chances of selection and crossover.
        mutation_rate: the share of parameters a mutation redraws (Ray: fixed at 0.1).
        seed: seeds the random draws (default: ``tune.run``'s seed).

    Trials that fail, or never report ``reward_attr``, rank last.
    """

    def __init__(
        self,
        search_space: SearchSpace,
        reward_attr: str,
        max_generation: int = 2,
        population_size: int = 10,
        population_decay: float = 0.95,
        keep_top_ratio: float = 0.2,
        selection_bound: float = 0.4,
        crossover_bound: float = 0.4,
        *,
        mutation_rate: float = 0.1,
        seed: int | None = None,
    ) -> None:
        super().__init__(search_space, reward_attr)
        _check_int("max_generation", max_generation)
        _check_int("population_size", population_size)
        for name, value in (
            ("population_decay", population_decay),
            ("keep_top_ratio", keep_top_ratio),
            ("selection_bound", selection_bound),
            ("crossover_bound", crossover_bound),
            ("mutation_rate", mutation_rate),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"GeneticSearch({name}=...) must be a number, got {value!r}")
            if not 0 <= value <= 1:
                raise ValueError(f"GeneticSearch({name}={value!r}) must be within [0, 1]")
        if selection_bound + crossover_bound > 1:
            raise ValueError(
                f"GeneticSearch: selection_bound + crossover_bound = "
                f"{selection_bound + crossover_bound:g} > 1; they are the chances of selection "
                "and crossover (mutation takes the rest)"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"GeneticSearch(seed=...) must be an int, got {seed!r}")
        self._max_generation = max_generation
        self._population_size = population_size
        self._population_decay = population_decay
        self._keep_top_ratio = keep_top_ratio
        self._selection_bound = selection_bound
        self._crossover_bound = crossover_bound
        self._mutation_rate = mutation_rate
        self._cur_generation = 1
        self._next_genes: list[Gene] | None = None  # bred by _feedback for the next round
        if seed is not None:
            self._seed = seed
            self._rng.seed(seed)

    @property
    def generation(self) -> int:
        """The generation running now (1 first)."""
        return self._cur_generation

    def _select(self) -> list[Gene]:
        if self._next_genes is None:  # generation 1
            return [self.search_space.random_gene(self._rng) for _ in range(self._population_size)]
        genes, self._next_genes = self._next_genes, None
        return genes

    def _feedback(self, members: list[Member]) -> str:
        self._cur_generation += 1
        if self._cur_generation > self._max_generation:
            return self.TERMINATE
        ranked = sorted(
            members, key=lambda m: -math.inf if m.best is None else m.best, reverse=True
        )
        self._next_genes = self._next_generation([m.gene for m in ranked])
        return self.CONTINUE

    def _next_generation(self, ranked: list[Gene]) -> list[Gene]:
        """The next generation's genes from the last one's, best first."""
        size = self._next_population_size(len(ranked))
        top = min(int(max(size * self._keep_top_ratio, 2)), len(ranked), size)
        parents = [list(g) for g in ranked[:top]]
        genes = [list(g) for g in parents]
        for _ in range(top, size):
            coin = self._rng.random()
            if coin < self._selection_bound:
                genes.append(self._selection(parents))
            elif coin < self._selection_bound + self._crossover_bound:
                genes.append(self._crossover(parents))
            else:
                genes.append(self._mutation(parents))
        return genes

    def _next_population_size(self, last: int) -> int:
        return int(max(last * self._population_decay, 3))

    def _selection(self, parents: list[Gene]) -> Gene:
        """One parent with one parameter taken from another."""
        first, second = self._rng.choice(parents), self._rng.choice(parents)
        index = self._rng.randrange(len(first))
        child = list(first)
        child[index] = second[index]
        return child

    def _crossover(self, parents: list[Gene]) -> Gene:
        """One parent's parameters up to a cut at 30-70% of them, another's after it."""
        first, second = self._rng.choice(parents), self._rng.choice(parents)
        cut = int(len(first) * self._rng.uniform(0.3, 0.7))
        return [a if i <= cut else b for i, (a, b) in enumerate(zip(first, second, strict=True))]

    def _mutation(self, parents: list[Gene]) -> Gene:
        """A copy of one parent with some parameters drawn afresh. (Ray changes the parent
        itself, which also alters the kept top member; here the parent stays as it was.)"""
        child = list(self._rng.choice(parents))
        params = self.search_space.param_list
        for _ in range(int(max(len(child) * self._mutation_rate, 1))):
            index = self._rng.randrange(len(child))
            child[index] = self._rng.randrange(params[index].choices_count())
        return child

    def get_state(self) -> dict[str, Any]:
        """The round state plus the generation and the bred genes."""
        state = super().get_state()
        state["generation"] = self._cur_generation
        state["next_genes"] = self._next_genes
        return state

    def set_state(self, state: Any) -> None:
        """Continue from :meth:`get_state`'s output."""
        super().set_state(state)
        self._cur_generation = int(state["generation"])
        genes = state.get("next_genes")
        self._next_genes = None if genes is None else [list(g) for g in genes]


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"GeneticSearch({name}={value!r}) must be an int >= 1")
