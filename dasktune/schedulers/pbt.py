"""Population Based Training, as Ray Tune's ``PopulationBasedTraining`` and
``PopulationBasedTrainingReplay`` (Jaderberg et al., https://arxiv.org/abs/1711.09846).

Every ``perturbation_interval`` of ``time_attr`` a trial is ranked against the population by
its newest score. A trial in the top ``quantile_fraction`` checkpoints; one in the bottom
quantile *exploits* a random top trial (continues from its newest committed checkpoint) and
*explores* its config (each mutated key resampled with ``resample_probability``, else a
continuous value times 0.8 or 1.2 and a list value moved to a neighbour). Asynchronous by
default; with ``synch=True`` every live trial pauses at the perturbation boundary and the
population is perturbed at once when the last one reaches it.

The scheduler decides; the controller carries exploits out (``trial_executor.exploit``): the
donor saves first when it has no checkpoint recent enough, the receiver restores the donor's
checkpoint with the new config (reset in place with ``reuse_actors``), and nothing is lost when
a worker dies on the way. The scheduler does no I/O: its policy logs (``pbt_global.txt``,
``pbt_policy_<trial_id>.txt``, Ray's format) are written through ``trial_runner``.

Subclasses change exploration by overriding :meth:`PopulationBasedTraining._get_new_config`
(PB2 does), what is recorded at each perturbation by overriding
:meth:`PopulationBasedTraining._save_trial_state`, and exploitation by overriding
:meth:`PopulationBasedTraining._exploit`.
"""

from __future__ import annotations

import copy
import json
import math
import random
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..error import TuneError
from ..search.sample import Choice, Domain, SampleFrom, canonical
from ..search.variants import _format_tag
from ..stoppers import MISSING, lookup
from ..trial import TrialStatus
from .metric_mode import check_mode, from_reward_attr, require_metric_mode, score
from .trial_scheduler import FIFOScheduler, TrialScheduler

if TYPE_CHECKING:
    from ..trial import Trial
    from ..trial_runner import TrialRunner

GLOBAL_POLICY_FILE = "pbt_global.txt"
POLICY_FILE = "pbt_policy_{}.txt"

Mutation = Any  # a list, a dict of mutations, a search-space Domain, or a callable


@dataclass
class _TrialState:
    """What PBT keeps per trial (Ray's ``_PBTTrialState``)."""

    orig_tag: str
    last_score: float | None = None
    last_perturbation_time: float = 0.0
    last_train_time: float = 0.0  # synchronous mode: the time of its newest perturbation result
    last_iteration: int = 0  # training_iteration of the result it was last ranked by


def _check_mutations(mutations: Mapping[str, Mutation], path: str = "") -> None:
    for key, value in mutations.items():
        where = f"hyperparam_mutations[{path}{key!r}]"
        if isinstance(value, SampleFrom):
            raise ValueError(
                f"{where} is a sample_from(): PBT cannot perturb an arbitrary function's "
                "values. Use a list, tune.uniform/loguniform/choice/..., or a callable with no "
                "argument."
            )
        if isinstance(value, Mapping):
            _check_mutations(value, f"{path}{key!r}][")
        elif not isinstance(value, (list, tuple, Domain)) and not callable(value):
            raise TypeError(
                f"{where} is {type(value).__name__} {value!r}; it must be a list of values, a "
                "dict of mutations, a search-space object (tune.uniform, ...) or a callable "
                "returning a new value."
            )
        elif isinstance(value, (list, tuple)) and not value:
            raise ValueError(f"{where} is an empty list: give the values it may take.")


def _resample(mutation: Mutation, rng: random.Random) -> Any:
    if isinstance(mutation, (list, tuple)):
        return rng.choice(list(mutation))
    if isinstance(mutation, Domain):
        return mutation.sample(None, random_state=rng)
    return mutation()


def _canonical_mutations(mutations: Mapping[str, Mutation]) -> dict[str, Mutation]:
    return {
        key: _canonical_mutations(value)
        if isinstance(value, Mapping)
        else canonical(value)
        if isinstance(value, Domain)
        else value
        for key, value in mutations.items()
    }


def _fill_missing(
    config: dict[str, Any], mutations: Mapping[str, Mutation], rng: random.Random
) -> bool:
    """Sample every mutated key ``config`` lacks, nested ones too; whether any was."""
    filled = False
    for key, mutation in mutations.items():
        if key not in config:
            fill_config(config, key, mutation, rng)
            filled = True
        elif isinstance(mutation, Mapping) and isinstance(config[key], dict):
            filled = _fill_missing(config[key], mutation, rng) or filled
    return filled


def fill_config(config: dict[str, Any], key: str, mutation: Mutation, rng: random.Random) -> None:
    """Sample ``config[key]`` from its mutation (for a config that lacks a mutated key)."""
    if isinstance(mutation, Mapping):
        config[key] = {}
        for sub_key, sub in mutation.items():
            fill_config(config[key], sub_key, sub, rng)
    else:
        config[key] = _resample(mutation, rng)


def explore(
    config: dict[str, Any],
    mutations: Mapping[str, Mutation],
    resample_probability: float,
    custom_explore_fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    rng: random.Random | None = None,
    operations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A perturbed copy of ``config`` (Ray's ``explore``).

    Per mutated key: a list (or ``tune.choice``) value is resampled with probability
    ``resample_probability`` (or when the value is not in the list), else moved to the value
    before or after it; any other value is resampled with that probability, else multiplied
    by 1.2 or 0.8 (an int stays an int). Nested dicts are explored key by key. Then
    ``custom_explore_fn(config)`` may change the result. ``operations`` (if given) records
    what happened to each key.
    """
    rng = rng or random.Random()
    new_config = copy.deepcopy(config)
    for key, mutation in mutations.items():
        if isinstance(mutation, Mapping):
            sub_ops: dict[str, str] = {}
            new_config[key] = explore(
                config[key], mutation, resample_probability, None, rng, sub_ops
            )
            if operations is not None:
                operations.update({f"{key}/{k}": v for k, v in sub_ops.items()})
            continue
        value = config[key]
        values = mutation.categories if isinstance(mutation, Choice) else mutation
        if isinstance(values, (list, tuple)):
            values = list(values)
            if rng.random() < resample_probability or value not in values:
                new_config[key], op = rng.choice(values), "resample"
            else:
                shift = -1 if rng.random() > 0.5 else 1
                index = min(max(values.index(value) + shift, 0), len(values) - 1)
                new_config[key], op = values[index], f"shift {'left' if shift < 0 else 'right'}"
        else:
            if rng.random() < resample_probability:
                new_config[key], op = _resample(mutation, rng), "resample"
            else:
                factor = 1.2 if rng.random() > 0.5 else 0.8
                new_config[key], op = value * factor, f"* {factor}"
                if type(value) is int:
                    new_config[key] = int(new_config[key])
        if operations is not None:
            operations[key] = op
    if custom_explore_fn is not None:
        explored = custom_explore_fn(new_config)
        if explored is None:
            raise TuneError("custom_explore_fn returned None; it must return the (updated) config.")
        new_config = explored
    return new_config


def make_experiment_tag(orig_tag: str, config: dict[str, Any], mutations: Mapping) -> str:
    """The tag of a perturbed trial: its original tag and the mutated values (Ray's)."""
    paths = [(key,) for key in mutations if key in config]
    return f"{orig_tag}@perturbed[{_format_tag(config, paths)}]"


def _json_default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return repr(value)


def policy_line(entry: list[Any]) -> str:
    """One policy row as Ray writes it: a JSON list, non-JSON values as text."""
    return json.dumps(entry, default=_json_default) + "\n"


class PopulationBasedTraining(FIFOScheduler):
    """Ray's ``PopulationBasedTraining``, with Ray's arguments and defaults.

    Args:
        time_attr: The result key that measures progress (must grow).
        reward_attr: Deprecated (Ray 0.8): ``metric=reward_attr, mode="max"``.
        metric: The result key to optimise (else ``tune.run(metric=)``).
        mode: ``"min"`` or ``"max"`` (else ``tune.run(mode=)``).
        perturbation_interval: A trial is considered for perturbation every this much
            ``time_attr`` (each perturbation checkpoints: not too often).
        burn_in_period: No perturbation before this much ``time_attr``.
        hyperparam_mutations: Per config key: a list of values, a search-space object, a
            callable returning a value, or a dict of those for a nested config. Keys missing
            from a trial's config are sampled from it when the trial is added.
        quantile_fraction: The top and bottom fraction of the population (0 to 0.5).
        resample_probability: Probability of resampling a value instead of perturbing it.
        custom_explore_fn: ``f(config) -> config``, applied after the built-in mutations.
        log_config: Write ``pbt_global.txt`` and ``pbt_policy_<trial_id>.txt`` in the
            experiment dir (rows: receiver tag, donor tag, receiver iteration, donor
            iteration, donor config, new config) for :class:`PopulationBasedTrainingReplay`.
        require_attrs: A result without ``time_attr`` or ``metric`` fails its trial, naming
            the key (else such results are skipped, with one warning).
        synch: Perturb the whole population at once when every live trial reached the
            boundary (trials pause there); else each trial on its own.
        seed: Seed of this scheduler's random choices (dasktune's addition, for repeatable
            runs; Ray uses the global ``random``).
    """

    # Where policy logs go (PB2 writes Ray's pb2_* names).
    _global_policy_file = GLOBAL_POLICY_FILE
    _policy_file = POLICY_FILE

    def __init__(
        self,
        time_attr: str = "time_total_s",
        reward_attr: str | None = None,
        metric: str | None = None,
        mode: str | None = None,
        perturbation_interval: float = 60.0,
        burn_in_period: float = 0.0,
        hyperparam_mutations: dict[str, Mutation] | None = None,
        quantile_fraction: float = 0.25,
        resample_probability: float = 0.25,
        custom_explore_fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        log_config: bool = True,
        require_attrs: bool = True,
        synch: bool = False,
        seed: int | None = None,
    ) -> None:
        name = type(self).__name__
        hyperparam_mutations = dict(hyperparam_mutations or {})
        if not isinstance(time_attr, str) or not time_attr:
            raise ValueError(f"{name}(time_attr={time_attr!r}): give a result key.")
        _check_mutations(hyperparam_mutations)
        if not hyperparam_mutations and custom_explore_fn is None:
            raise TuneError(
                f"{name} needs hyperparam_mutations={{...}} or custom_explore_fn=...: with "
                "neither it would have nothing to explore."
            )
        if custom_explore_fn is not None and not callable(custom_explore_fn):
            raise TypeError(f"{name}(custom_explore_fn=...) must be callable")
        if not 0 <= quantile_fraction <= 0.5:
            raise ValueError(
                f"{name}(quantile_fraction={quantile_fraction!r}) must be between 0 and 0.5 "
                "(0: no exploitation at all)."
            )
        if not perturbation_interval > 0:
            raise ValueError(
                f"{name}(perturbation_interval={perturbation_interval!r}) must be > 0."
            )
        if not burn_in_period >= 0:
            raise ValueError(f"{name}(burn_in_period={burn_in_period!r}) must be >= 0.")
        if not 0 <= resample_probability <= 1:
            raise ValueError(
                f"{name}(resample_probability={resample_probability!r}) must be in [0, 1]."
            )
        for flag, value in (
            ("log_config", log_config),
            ("require_attrs", require_attrs),
            ("synch", synch),
        ):
            if not isinstance(value, bool):
                raise TypeError(f"{name}({flag}={value!r}) must be True or False.")
        check_mode(name, mode)
        metric, mode = from_reward_attr(name, reward_attr, metric, mode)
        self._metric = metric
        self._mode = mode
        self._time_attr = time_attr
        self._perturbation_interval = float(perturbation_interval)
        self._burn_in_period = float(burn_in_period)
        # Ray's bare Float/Integer/Categorical stand for their uniform domains (a Categorical
        # is then a Choice, explored as a list).
        self._hyperparam_mutations = _canonical_mutations(hyperparam_mutations)
        self._quantile_fraction = quantile_fraction
        self._resample_probability = resample_probability
        self._custom_explore_fn = custom_explore_fn
        self._log_config = log_config
        self._require_attrs = require_attrs
        self._synch = synch
        self._rng = random.Random(seed)
        self._trial_state: dict[str, _TrialState] = {}
        self._trials: dict[str, Trial] = {}
        # Synchronous mode: the boundary every live trial must reach (Ray starts it at the
        # interval, so a burn-in longer than one interval left trials PAUSED: ray#23424).
        self._next_perturbation_sync = max(self._perturbation_interval, self._burn_in_period)
        self._warned_missing = False
        # Policy logs, kept whole (written whole: storage such as S3 cannot append).
        self._global_policy: list[str] = []
        self._policies: dict[str, list[str]] = {}
        self._num_checkpoints = 0
        self._num_perturbations = 0

    # -- Ray's hooks ---------------------------------------------------------------------------
    def on_trial_add(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """Track the trial; sample the mutated keys its config lacks."""
        require_metric_mode(type(self).__name__, self._metric, self._mode)
        self._trials[trial.trial_id] = trial
        if trial.trial_id in self._trial_state:
            return  # a resumed run adds its trials again: their state goes on
        self._trial_state[trial.trial_id] = _TrialState(orig_tag=trial.experiment_tag)
        if _fill_missing(trial.config, self._hyperparam_mutations, self._rng):
            trial.config_pickle = None  # the state file pickles the filled config

    def on_trial_result(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> str:
        """Perturb at each interval: checkpoint a top trial, exploit for a bottom one."""
        name = type(self).__name__
        t = lookup(result, self._time_attr)
        reported = lookup(result, self._metric) if self._metric else MISSING
        if t is MISSING or reported is MISSING:
            self._missing(trial, result, t is MISSING, reported is MISSING)
            return TrialScheduler.CONTINUE
        state = self._trial_state[trial.trial_id]
        value = score(name, self._metric or "", 1.0 if self._mode == "max" else -1.0, reported)
        if t < self._burn_in_period:
            return TrialScheduler.CONTINUE
        if self._synch:
            if t < self._next_perturbation_sync:
                return TrialScheduler.CONTINUE
        elif t - state.last_perturbation_time < self._perturbation_interval:
            return TrialScheduler.CONTINUE  # no checkpoint overhead between perturbations
        self._save_trial_state(state, t, result, trial, value)
        if not self._synch:
            state.last_perturbation_time = t
            lower, upper = self._quantiles()
            decision = TrialScheduler.PAUSE if trial_runner.has_waiting_trials() else self.CONTINUE
            self._checkpoint_or_exploit(trial, trial_runner, upper, lower)
            return decision
        self._synchronize(trial_runner, t)
        return TrialScheduler.PAUSE  # at the boundary every trial waits for the others

    def choose_trial_to_run(self, trial_runner: TrialRunner) -> Trial | None:
        """The waiting trial that has trained least (by ``time_attr``), so the population
        advances together; in synchronous mode only those below the boundary."""
        candidates = self._candidates(trial_runner)
        if not candidates and self._synch and trial_runner.has_waiting_trials():
            # Every live trial is at the boundary (one that would have completed it ended or
            # errored: ray#12122): perturb now instead of waiting forever.
            self._synchronize(trial_runner, None)
            candidates = self._candidates(trial_runner)
        if not candidates:
            return None
        return min(candidates, key=lambda t: self._trial_state[t.trial_id].last_train_time)

    def _candidates(self, trial_runner: TrialRunner) -> list[Trial]:
        # Asked once per resource shape, not per trial: this runs for every free slot, over
        # every waiting trial (the whole population, paused at its perturbations).
        fits: dict[Any, bool] = {}
        out = []
        for t in trial_runner.waiting_trials():
            fit = fits.get(t.resources)
            if fit is None:
                fit = fits[t.resources] = trial_runner.has_resources(t.resources)
            if fit and (
                not self._synch
                or self._trial_state[t.trial_id].last_train_time < self._next_perturbation_sync
            ):
                out.append(t)
        return out

    def debug_string(self) -> str:
        """Ray's status line."""
        return (
            f"PopulationBasedTraining: {self._num_checkpoints} checkpoints, "
            f"{self._num_perturbations} perturbs"
        )

    # -- the algorithm -------------------------------------------------------------------------
    def _missing(self, trial: Trial, result: dict[str, Any], time: bool, metric: bool) -> None:
        keys = [k for k, gone in ((self._time_attr, time), (self._metric, metric)) if gone]
        text = (
            f"{type(self).__name__}: a result of trial {trial} has no "
            f"{' or '.join(map(repr, keys))} (it reported {sorted(result)[:20]}). Report it "
            "from the trainable, or fix time_attr=/metric= (a nested value is 'a/b')"
        )
        if self._require_attrs:
            raise RuntimeError(f"{text}, or pass require_attrs=False to skip such results.")
        if not self._warned_missing:
            self._warned_missing = True
            warnings.warn(f"{text}. Such results are skipped. Warned once.", stacklevel=3)

    def _save_trial_state(
        self, state: _TrialState, time: float, result: dict[str, Any], trial: Trial, value: float
    ) -> None:
        """Record the result ``trial`` is ranked by at a perturbation (``value``: its metric as
        a score to maximise). PB2 extends this to collect its training data."""
        if not math.isnan(value):
            state.last_score = value
        state.last_train_time = time
        state.last_iteration = int(result.get("training_iteration", 0) or 0)

    def _live(self) -> list[Trial]:
        return [t for t in self._trials.values() if not t.is_finished]

    def _quantiles(self) -> tuple[list[Trial], list[Trial]]:
        """(bottom, top) of the live trials with a score; empty with fewer than two."""
        ranked = [t for t in self._live() if self._trial_state[t.trial_id].last_score is not None]
        ranked.sort(key=lambda t: self._trial_state[t.trial_id].last_score)
        if len(ranked) <= 1:
            return [], []
        size = int(math.ceil(len(ranked) * self._quantile_fraction))
        size = min(size, len(ranked) // 2)
        if size == 0:
            return [], []
        return ranked[:size], ranked[-size:]

    def _synchronize(self, trial_runner: TrialRunner, time: float | None) -> None:
        """Perturb the whole population once every live trial reached the boundary."""
        boundary = self._next_perturbation_sync
        live = self._live()
        if not live or any(self._trial_state[t.trial_id].last_train_time < boundary for t in live):
            return
        lower, upper = self._quantiles()
        middle = [t for t in live if t not in lower and t not in upper]
        # Top trials first: their checkpoints are what the bottom ones clone.
        for t in upper + middle + lower:
            state = self._trial_state[t.trial_id]
            state.last_perturbation_time = state.last_train_time if time is None else time
            self._checkpoint_or_exploit(t, trial_runner, upper, lower)
        latest = max(self._trial_state[t.trial_id].last_train_time for t in live)
        self._next_perturbation_sync = max(boundary + self._perturbation_interval, latest)

    def _checkpoint_or_exploit(
        self,
        trial: Trial,
        trial_runner: TrialRunner,
        upper: list[Trial],
        lower: list[Trial],
    ) -> None:
        """A top trial checkpoints (a waiting one has its pause's); a bottom one exploits."""
        if trial in upper:
            if trial.status == TrialStatus.RUNNING:
                trial_runner.trial_executor.save(trial)
            self._num_checkpoints += 1
        if trial in lower:
            donor = self._rng.choice(upper)
            self._exploit(trial_runner, trial, donor)

    def _get_new_config(self, trial: Trial, donor: Trial) -> tuple[dict[str, Any], dict]:
        """The config ``trial`` continues with when it clones ``donor``, and what was done to
        each key. PBT explores the donor's config; PB2 overrides this."""
        operations: dict[str, str] = {}
        new_config = explore(
            donor.config,
            self._hyperparam_mutations,
            self._resample_probability,
            self._custom_explore_fn,
            self._rng,
            operations,
        )
        return new_config, operations

    def _exploit(self, trial_runner: TrialRunner, trial: Trial, donor: Trial) -> None:
        """Ask for ``trial`` to continue from ``donor``'s checkpoint with an explored config."""
        state = self._trial_state[trial.trial_id]
        donor_state = self._trial_state[donor.trial_id]
        new_config, _ = self._get_new_config(trial, donor)
        new_tag = make_experiment_tag(state.orig_tag, new_config, self._hyperparam_mutations)
        donor_config = copy.deepcopy(donor.config)

        def cloned(url: str, iteration: int) -> None:
            self._num_perturbations += 1
            if self._log_config:
                self._log_policy(trial_runner, trial, donor, iteration, donor_config, new_config)

        accepted = trial_runner.trial_executor.exploit(
            trial, donor, new_config, new_tag, donor_state.last_iteration, cloned
        )
        if accepted:
            # It continues from the donor's place in the schedule (as in Ray).
            state.last_perturbation_time = donor_state.last_perturbation_time
            state.last_train_time = donor_state.last_train_time
            state.last_iteration = donor_state.last_iteration

    def _log_policy(
        self,
        trial_runner: TrialRunner,
        trial: Trial,
        donor: Trial,
        donor_iteration: int,
        donor_config: dict[str, Any],
        new_config: dict[str, Any],
    ) -> None:
        """Ray's policy rows: the global log, and the receiver's own (the donor's history,
        then this step), each written whole."""
        entry = [
            self._trial_state[trial.trial_id].orig_tag,
            self._trial_state[donor.trial_id].orig_tag,
            trial.training_iteration,
            donor_iteration,
            donor_config,
            new_config,
        ]
        line = policy_line(entry)
        self._global_policy.append(line)
        own = [*self._policies.get(donor.trial_id, []), line]
        self._policies[trial.trial_id] = own
        trial_runner.write_experiment_file(self._global_policy_file, "".join(self._global_policy))
        trial_runner.write_experiment_file(self._policy_file.format(trial.trial_id), "".join(own))


class PopulationBasedTrainingReplay(FIFOScheduler):
    """Replays the config schedule one PBT trial followed (Ray's
    ``PopulationBasedTrainingReplay``), from its ``pbt_policy_<trial_id>.txt``.

    It takes one trial, starts it with the policy's first config and switches configs at the
    iterations the policy names, restoring the trial's own checkpoint taken there (so the
    trainable must checkpoint). ``policy_file`` is a path or an fsspec URL.
    """

    def __init__(self, policy_file: str) -> None:
        import fsspec

        path = policy_file
        if "://" not in path:
            import os

            path = os.path.expanduser(path)
        fs, _, (resolved,) = fsspec.get_fs_token_paths(path)
        if not fs.exists(resolved):
            raise ValueError(f"PopulationBasedTrainingReplay: policy file not found: {policy_file}")
        self.policy_file = policy_file
        with fs.open(resolved, "rt") as f:
            text = f.read()
        initial_config, self._policy = self._load_policy(text, policy_file)
        self.experiment_tag = f"replay_{resolved.rsplit('/', 1)[-1]}"
        self.config = initial_config
        self.current_config = initial_config
        self._trial: Trial | None = None
        self._current_step = 0
        self._num_perturbations = 0
        self._next = 0

    @staticmethod
    def _load_policy(
        text: str, name: str
    ) -> tuple[dict[str, Any] | None, list[tuple[int, dict[str, Any]]]]:
        """(initial config, [(iteration, config from there on)]): the chain of exploits that
        led to this trial, newest back to the first (older rows of other lineages end it)."""
        rows = []
        for number, row in enumerate(text.splitlines(), 1):
            if not row.strip():
                continue
            try:
                parsed = json.loads(row)
                old_tag, new_tag, _old_step, new_step, old_conf, new_conf = parsed
            except (json.JSONDecodeError, ValueError, TypeError):
                raise ValueError(
                    f"PopulationBasedTrainingReplay: line {number} of {name} is not a PBT "
                    "policy row ([tag, donor tag, iteration, donor iteration, donor config, "
                    "new config]); pass a pbt_policy_<trial_id>.txt written by "
                    "PopulationBasedTraining(log_config=True)."
                ) from None
            rows.append((old_tag, new_tag, new_step, old_conf, new_conf))
        policy: list[tuple[int, dict[str, Any]]] = []
        last_new_tag = None
        first_config = None
        for old_tag, new_tag, new_step, old_conf, new_conf in reversed(rows):
            if last_new_tag is not None and old_tag != last_new_tag:
                break  # an older lineage, overwritten by the exploit after it
            last_new_tag = new_tag
            first_config = old_conf
            policy.append((int(new_step), new_conf))
        return first_config, list(reversed(policy))

    def on_trial_add(self, trial_runner: TrialRunner, trial: Trial) -> None:
        """Take the one trial and give it the policy's first config."""
        if self._trial is not None:
            raise ValueError(
                "PopulationBasedTrainingReplay replays one schedule for one trial, but a "
                "second trial was added; run it with num_samples=1."
            )
        self._trial = trial
        if trial.config and self._policy:
            warnings.warn(
                "PopulationBasedTrainingReplay: the trial's config is replaced by the policy's "
                "first config (was tune.run given config= by mistake?).",
                stacklevel=2,
            )
        elif trial.config and not self._policy:
            self.config = trial.config
        elif not self._policy:
            raise ValueError(
                "PopulationBasedTrainingReplay: the policy file has no exploit and the trial "
                "has no config; pass config= to tune.run(), or replay another policy."
            )
        if self.config is not None:
            trial.config = copy.deepcopy(self.config)
            trial.config_pickle = None

    def on_trial_result(
        self, trial_runner: TrialRunner, trial: Trial, result: dict[str, Any]
    ) -> str:
        """Switch to the next config at its iteration (save, then restore with it)."""
        step = result.get("training_iteration")
        if step is None or self._next >= len(self._policy):
            return TrialScheduler.CONTINUE
        self._current_step = step
        change_at, new_config = self._policy[self._next]
        if step < change_at:
            return TrialScheduler.CONTINUE
        new_tag = make_experiment_tag(self.experiment_tag, new_config, new_config)
        if trial_runner.trial_executor.exploit(trial, trial, new_config, new_tag, int(step)):
            self.current_config = new_config
            self._num_perturbations += 1
            self._next += 1
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        """Ray's status line."""
        return (
            f"PopulationBasedTraining replay: Step {self._current_step}, "
            f"perturb {self._num_perturbations}"
        )
