"""``tune.PlacementGroupFactory`` (Ray 1.x's ``ray.tune.utils.placement_groups``): a trial's
resources as bundles, the first for the trainable itself and the rest for the work it starts.

Dask has no placement groups. The first bundle becomes the trial's own slots on the worker that
hosts it (``cpu``/``gpu``/custom resource tags); the other bundles, added up, become its extra
slots (``extra_cpu``/``extra_gpu``/``extra_custom_resources``), reserved on the same worker
first and on other workers when that one is full: Ray's ``PACK`` (its default). A bundle's
CPUs may therefore be split across workers, which Ray never does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ..resources import CPU, GPU, Resources

PACK, SPREAD, STRICT_PACK, STRICT_SPREAD = "PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"


class PlacementGroupFactory:
    """Resources of one trial as Ray bundles: ``PlacementGroupFactory([{"CPU": 1, "GPU": 1},
    {"CPU": 4}])`` is one CPU and one GPU for the trainable and four CPUs for its own workers.

    Args:
        bundles: a non-empty list of ``{resource name: amount}``; ``"CPU"`` and ``"GPU"`` as
            Ray spells them, any other name a Dask worker resource tag.
        strategy: ``"PACK"`` (Ray's default, what dasktune does), or ``"SPREAD"`` (a preference
            in Ray; dasktune packs, and says so once). ``STRICT_PACK``/``STRICT_SPREAD`` are
            refused: dasktune cannot promise them.
        *args, **kwargs: Ray passes them to ``ray.util.placement_group`` (a name, a lifetime);
            Dask has no placement group to give them to, so they are accepted and unused.
    """

    def __init__(
        self,
        bundles: Sequence[Mapping[str, float]],
        strategy: str = PACK,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self._bundles = _checked_bundles(bundles)
        if strategy in (STRICT_PACK, STRICT_SPREAD):
            raise ValueError(
                f"PlacementGroupFactory(strategy={strategy!r}) cannot be kept on Dask: a trial's "
                "extra bundles are reserved on its own worker first and on other workers when "
                "that one is full (Ray's 'PACK'). Use strategy='PACK', or put everything the "
                "trial needs on one worker in the first bundle."
            )
        if strategy not in (PACK, SPREAD):
            raise ValueError(
                f"PlacementGroupFactory(strategy={strategy!r}): the strategies are 'PACK', "
                "'SPREAD', 'STRICT_PACK' and 'STRICT_SPREAD'."
            )
        if strategy == SPREAD and len(self._bundles) > 1:
            warnings.warn(
                "PlacementGroupFactory(strategy='SPREAD'): dasktune reserves a trial's extra "
                "bundles on its own worker first (as with 'PACK'); Ray's 'SPREAD' is a "
                "preference, so the trial still runs.",
                stacklevel=2,
            )
        self._strategy = strategy

    @property
    def bundles(self) -> list[dict[str, float]]:
        """The bundles, first the trainable's own."""
        return [dict(b) for b in self._bundles]

    @property
    def strategy(self) -> str:
        """The placement strategy asked for."""
        return self._strategy

    @property
    def head_cpus(self) -> float:
        """CPUs of the first bundle (the trainable's own)."""
        return self._bundles[0].get(CPU, 0.0)

    @property
    def required_resources(self) -> dict[str, float]:
        """Every bundle added up, per resource name."""
        total: dict[str, float] = {}
        for bundle in self._bundles:
            for name, amount in bundle.items():
                total[name] = total.get(name, 0.0) + amount
        return {k: v for k, v in total.items() if v > 0}

    def to_resources(self) -> Resources:
        """The same request in dasktune's terms: own slots and extra slots."""
        head, rest = self._bundles[0], self._bundles[1:]
        extra: dict[str, float] = {}
        for bundle in rest:
            for name, amount in bundle.items():
                extra[name] = extra.get(name, 0.0) + amount
        return Resources(
            cpu=head.get(CPU, 0.0),
            gpu=head.get(GPU, 0.0),
            extra_cpu=extra.pop(CPU, 0.0),
            extra_gpu=extra.pop(GPU, 0.0),
            custom_resources={k: v for k, v in head.items() if k not in (CPU, GPU) and v > 0},
            extra_custom_resources={k: v for k, v in extra.items() if v > 0},
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PlacementGroupFactory)
            and self._bundles == other._bundles
            and self._strategy == other._strategy
        )

    def __hash__(self) -> int:
        return hash((tuple(tuple(sorted(b.items())) for b in self._bundles), self._strategy))

    def __repr__(self) -> str:
        return f"PlacementGroupFactory({self.bundles!r}, strategy={self._strategy!r})"


def _checked_bundles(bundles: Any) -> list[dict[str, float]]:
    if isinstance(bundles, Mapping) or not isinstance(bundles, Sequence) or not bundles:
        raise TypeError(
            "PlacementGroupFactory(bundles=...) takes a non-empty list of dicts, the first for "
            f"the trainable itself: e.g. [{{'CPU': 1}}, {{'CPU': 2}}]; got {bundles!r}."
        )
    checked = []
    for index, bundle in enumerate(bundles):
        if not isinstance(bundle, Mapping):
            raise TypeError(
                f"PlacementGroupFactory bundle {index} must be a dict such as {{'CPU': 1}}, "
                f"got {bundle!r}."
            )
        out: dict[str, float] = {}
        for name, amount in bundle.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"PlacementGroupFactory bundle {index} has a bad name {name!r}.")
            if name.lower() in ("cpu", "gpu") and name not in (CPU, GPU):
                raise ValueError(
                    f"PlacementGroupFactory bundle {index} names {name!r}; Ray's bundles spell "
                    f"it {name.upper()!r} (a lower-case name would be a custom resource no "
                    "worker has)."
                )
            if (
                isinstance(amount, bool)
                or not isinstance(amount, (int, float))
                or amount < 0
                or math.isnan(amount)
                or math.isinf(amount)
            ):
                raise ValueError(
                    f"PlacementGroupFactory bundle {index}: {name} must be a finite number >= 0, "
                    f"got {amount!r}."
                )
            out[name] = float(amount)
        checked.append(out)
    return checked
