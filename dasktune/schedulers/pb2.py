"""Population Based Bandits, as Ray Tune's ``PB2`` (Parker-Holder et al., 2020,
https://arxiv.org/abs/2002.02518).

PBT's schedule (rank at each ``perturbation_interval``, the bottom quantile clones a top trial)
with a model-based explore: instead of multiplying values by 0.8 or 1.2, the cloned trial gets
the hyperparameters, within ``hyperparam_bounds``, that a time-varying GP bandit expects to
improve the reward fastest from the donor's time and score (:mod:`.pb2_bandit`). Bounds are
continuous; a value the trial's config holds as an ``int`` stays an ``int``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..error import TuneError
from ..search.sample import uniform
from .pbt import PopulationBasedTraining

if TYPE_CHECKING:
    from ..trial import Trial

Path = tuple[str, ...]


def _flatten_bounds(
    bounds: Mapping[str, Any], prefix: Path = ()
) -> dict[Path, tuple[float, float]]:
    """``{"a": {"b": [0, 1]}}`` -> ``{("a", "b"): (0.0, 1.0)}``, each bound checked."""
    flat: dict[Path, tuple[float, float]] = {}
    for key, value in bounds.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping):
            flat.update(_flatten_bounds(value, path))
            continue
        name = "/".join(path)
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise ValueError(
                f"PB2(hyperparam_bounds={{{name!r}: {value!r}}}): each bound must be a list "
                "[min, max] of two numbers (PB2 explores continuous ranges; a categorical "
                "value can go in PopulationBasedTraining's hyperparam_mutations instead)."
            )
        low, high = float(value[0]), float(value[1])
        if not low < high:
            raise ValueError(
                f"PB2(hyperparam_bounds={{{name!r}: {value!r}}}): min must be below max."
            )
        flat[path] = (low, high)
    return flat


def _nested_uniforms(bounds: Mapping[str, Any]) -> dict[str, Any]:
    """The same shape as ``bounds``, each range a uniform domain (how PBT fills a key a
    trial's config lacks)."""
    return {
        key: _nested_uniforms(value) if isinstance(value, Mapping) else uniform(*map(float, value))
        for key, value in bounds.items()
    }


def _get(config: Mapping[str, Any], path: Path) -> Any:
    for key in path:
        config = config[key]
    return config


def _set(config: dict[str, Any], path: Path, value: Any) -> None:
    for key in path[:-1]:
        config = config[key]
    config[path[-1]] = value


class PB2(PopulationBasedTraining):
    """Ray's ``PB2``: PBT whose explore step is a GP bandit over ``hyperparam_bounds``.

    Args:
        time_attr: The result key that measures progress (must grow).
        reward_attr: Deprecated (Ray 0.8): ``metric=reward_attr, mode="max"``.
        metric: The result key to optimise (else ``tune.run(metric=)``).
        mode: ``"min"`` or ``"max"`` (else ``tune.run(mode=)``).
        perturbation_interval: A trial is considered for perturbation every this much
            ``time_attr``.
        hyperparam_bounds: Per config key ``[min, max]`` (nested dicts for nested configs).
            Keys a trial's config lacks are sampled uniformly within the bounds.
        quantile_fraction: The top and bottom fraction of the population (0 to 0.5).
        log_config: Write ``pb2_global.txt`` and ``pb2_policy_<trial_id>.txt`` (Ray's rows).
        require_attrs: A result without ``time_attr`` or ``metric`` fails its trial.
        synch: Perturb the whole population at once at each boundary.
        custom_explore_fn: ``f(config) -> config`` applied after the bandit's choice (Ray 2.x).
        seed: Seed of the scheduler's random choices (dasktune's addition).
    """

    _global_policy_file = "pb2_global.txt"
    _policy_file = "pb2_policy_{}.txt"

    def __init__(
        self,
        time_attr: str = "time_total_s",
        reward_attr: str | None = None,
        metric: str | None = None,
        mode: str | None = None,
        perturbation_interval: float = 60.0,
        hyperparam_bounds: Mapping[str, Any] | None = None,
        quantile_fraction: float = 0.25,
        log_config: bool = True,
        require_attrs: bool = True,
        synch: bool = False,
        custom_explore_fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        seed: int | None = None,
    ) -> None:
        # The bandit needs scipy: fail at construction, naming the extra, not at the first
        # perturbation minutes into the run.
        from . import pb2_bandit

        if not hyperparam_bounds:
            raise TuneError(
                "PB2 needs hyperparam_bounds={'key': [min, max], ...}: the ranges its bandit "
                "explores."
            )
        self._bounds = _flatten_bounds(hyperparam_bounds)
        super().__init__(
            time_attr=time_attr,
            reward_attr=reward_attr,
            metric=metric,
            mode=mode,
            perturbation_interval=perturbation_interval,
            hyperparam_mutations=_nested_uniforms(hyperparam_bounds),
            quantile_fraction=quantile_fraction,
            resample_probability=0.0,
            custom_explore_fn=custom_explore_fn,
            log_config=log_config,
            require_attrs=require_attrs,
            synch=synch,
            seed=seed,
        )
        self._data = pb2_bandit.ImprovementData(names=tuple("/".join(p) for p in self._bounds))
        # Hyperparameters handed out since the population last moved on in time: the bandit
        # avoids sending the next cloned trial to the same place.
        self._round: list[list[float]] = []
        self._round_time = float("-inf")
        # The GP's fitted kernel parameters: the next fit starts from them.
        self._kernel: Any = None

    def _save_trial_state(
        self, state: Any, time: float, result: dict[str, Any], trial: Trial, value: float
    ) -> None:
        """PBT's record of a ranked result; it also becomes a data point of the bandit."""
        super()._save_trial_state(state, time, result, trial, value)
        if state.last_score is not None:
            self._data.report(trial.trial_id, time, state.last_score, self._values(trial.config))

    def _values(self, config: Mapping[str, Any]) -> list[float]:
        return [float(_get(config, path)) for path in self._bounds]

    def _get_new_config(self, trial: Trial, donor: Trial) -> tuple[dict[str, Any], dict]:
        """The donor's config with the bandit's choice of hyperparameters."""
        import copy

        from .pb2_bandit import select_hyperparameters

        donor_state = self._trial_state[donor.trial_id]
        time = donor_state.last_train_time
        reward = donor_state.last_score if donor_state.last_score is not None else 0.0
        if time > self._round_time:
            self._round, self._round_time = [], time
        bounds = {"/".join(path): bound for path, bound in self._bounds.items()}
        chosen, self._kernel = select_hyperparameters(
            self._data,
            bounds,
            time=time,
            reward=reward,
            pending=self._round,
            seed=self._rng.randrange(1 << 31),
            warm_start=self._kernel,
        )
        new_config = copy.deepcopy(donor.config)
        operations: dict[str, str] = {}
        if chosen is None:
            # No improvement measured yet (the first perturbation): keep the donor's values,
            # as Ray does.
            return new_config, operations
        for path in self._bounds:
            name = "/".join(path)
            value: Any = chosen[name]
            if isinstance(_get(donor.config, path), int):
                low, high = self._bounds[path]
                value = int(min(max(round(value), low), high))
            _set(new_config, path, value)
            operations[name] = "bandit"
        if self._custom_explore_fn is not None:
            new_config = self._custom_explore_fn(new_config)
        values = self._values(new_config)
        self._round.append(values)
        self._data.restart(trial.trial_id, time, reward, values)
        return new_config, operations

    def debug_string(self) -> str:
        """Ray's status line."""
        return f"PB2: {self._num_checkpoints} checkpoints, {self._num_perturbations} perturbs"
