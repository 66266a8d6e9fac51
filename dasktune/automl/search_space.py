"""Ray 0.8's AutoML search spaces (``ray.tune.automl.search_space``): each parameter is a
finite list of choices at a dotted path of the config (``"model.lr"`` is
``config["model"]["lr"]``); a member of a population is one choice index per parameter."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

Gene = list[int]
"""One choice index per parameter of a :class:`SearchSpace`, in its order (Ray keeps a
one-hot vector per parameter; an index says the same)."""


class ParameterSpace:
    """One parameter's choices; ``name`` is its dotted path in the config."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name or any(not part for part in name.split(".")):
            raise ValueError(
                f"a parameter's name is its dotted path in the config (e.g. 'model.lr'), "
                f"got {name!r}"
            )
        self.name = name
        self.choices: list[Any] = []

    def choices_count(self) -> int:
        """How many values it can take."""
        return len(self.choices)


class DiscreteSpace(ParameterSpace):
    """A parameter that takes one of ``choices``."""

    def __init__(self, name: str, choices: Sequence[Any]) -> None:
        super().__init__(name)
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence) or not choices:
            raise ValueError(
                f"DiscreteSpace({name!r}, choices=...) needs a non-empty list of values, "
                f"got {choices!r}"
            )
        self.choices = list(choices)

    def __repr__(self) -> str:
        return f"DiscreteSpace({self.name!r}, {self.choices!r})"


class ContinuousSpace(ParameterSpace):
    """A parameter in ``[start, end]``, searched at ``num`` evenly spaced values (Ray's only
    distribution, ``"linear"``)."""

    LINEAR = "linear"

    def __init__(
        self, name: str, start: float, end: float, num: int, distribution: str = LINEAR
    ) -> None:
        super().__init__(name)
        if distribution != ContinuousSpace.LINEAR:
            raise ValueError(
                f"ContinuousSpace({name!r}, distribution={distribution!r}): only "
                f"{ContinuousSpace.LINEAR!r} is supported (as in Ray)"
            )
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise ValueError(f"ContinuousSpace({name!r}, num={num!r}): num must be an int >= 1")
        self.start = float(start)
        self.end = float(end)
        self.num = num
        self.distribution = distribution
        if num == 1:
            self.choices = [self.start]
        else:
            step = (self.end - self.start) / (num - 1)
            self.choices = [self.start + i * step for i in range(num - 1)] + [self.end]

    def __repr__(self) -> str:
        return f"ContinuousSpace({self.name!r}, {self.start}, {self.end}, {self.num})"


class SearchSpace:
    """The parameters an AutoML searcher varies, each at its own path of the config."""

    def __init__(self, param_list: Sequence[ParameterSpace]) -> None:
        params = list(param_list)
        if not params or not all(isinstance(p, ParameterSpace) for p in params):
            raise TypeError(
                "SearchSpace([...]) takes a non-empty list of DiscreteSpace/ContinuousSpace, "
                f"got {param_list!r}"
            )
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError(f"SearchSpace: a parameter name appears twice in {names}")
        self.param_list = params

    def random_gene(self, rng: random.Random) -> Gene:
        """A member with a random choice for every parameter."""
        return [rng.randrange(p.choices_count()) for p in self.param_list]

    def apply_gene(self, gene: Gene) -> dict[str, Any]:
        """``{dotted name: value}`` of a member."""
        return {p.name: p.choices[i] for p, i in zip(self.param_list, gene, strict=True)}

    def __len__(self) -> int:
        return len(self.param_list)
