"""``tune.Experiment`` and ``tune.run_experiments``: Ray's older way to describe a run, as an
object or a dict spec, and to run several.

An :class:`Experiment` holds the arguments of one ``tune.run`` (Ray's names); dasktune runs it
with ``tune.run`` itself, so every argument means what it means there and is checked the same
way; ``tune.run(Experiment(...))`` works too. Ray runs several experiments in one trial loop at
once; dasktune runs them one after the other (with a warning), each with the shared scheduler,
callbacks and settings (so pass a stateless scheduler, or one experiment, when the scheduler
keeps state across trials).
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from .trial import Trial

# Experiment's arguments besides name and run (Ray 0.8/1.x), all passed on to tune.run.
_SPEC_KEYS = (
    "stop",
    "time_budget_s",
    "config",
    "resources_per_trial",
    "num_samples",
    "local_dir",
    "upload_dir",
    "trial_name_creator",
    "trial_dirname_creator",
    "loggers",
    "log_to_file",
    "sync_to_driver",
    "checkpoint_freq",
    "checkpoint_at_end",
    "sync_on_checkpoint",
    "keep_checkpoints_num",
    "checkpoint_score_attr",
    "export_formats",
    "max_failures",
    "restore",
)


class Experiment:
    """One experiment: a trainable and the ``tune.run`` arguments for it (Ray's
    ``tune.Experiment``).

    Args:
        name: The experiment's folder name (``name=`` of ``tune.run``).
        run: The trainable: a function, a ``Trainable`` class or a registered name.
        **spec: Any of Ray's Experiment arguments (``stop``, ``config``,
            ``resources_per_trial``, ``num_samples``, ``local_dir``, ``upload_dir``,
            ``checkpoint_freq``, ``checkpoint_at_end``, ``keep_checkpoints_num``,
            ``checkpoint_score_attr``, ``max_failures``, ``restore``, ``loggers``, ...),
            passed to ``tune.run`` as they are.

    Raises:
        TypeError: An argument Ray's Experiment does not take (with the close match).
    """

    def __init__(self, name: str, run: Any, **spec: Any) -> None:
        unknown = sorted(set(spec) - set(_SPEC_KEYS))
        if unknown:
            import difflib

            hints = [difflib.get_close_matches(k, _SPEC_KEYS, n=1) for k in unknown]
            named = ", ".join(
                f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
                for k, h in zip(unknown, hints, strict=True)
            )
            raise TypeError(
                f"Experiment {name!r} got argument(s) it does not take: {named}. Experiment "
                f"takes name, run and {', '.join(_SPEC_KEYS)}."
            )
        if not isinstance(name, str) or not name:
            raise TypeError(f"Experiment name must be a non-empty str, got {name!r}")
        self.name = name
        self.run_identifier = run
        self.spec: dict[str, Any] = {"run": run, **spec}

    @classmethod
    def from_json(cls, name: str, spec: Mapping[str, Any]) -> Experiment:
        """An Experiment from a dict spec (``{"run": ..., "config": ..., ...}``), as in
        ``run_experiments({"name": spec})``; Ray's ``env`` key goes into ``config["env"]``."""
        if not isinstance(spec, Mapping):
            raise TypeError(f"The spec of experiment {name!r} must be a dict, got {spec!r}")
        spec = dict(spec)
        if "run" not in spec:
            raise TypeError(
                f"The spec of experiment {name!r} has no 'run' key: give the trainable as "
                f"{{'run': my_trainable, ...}}."
            )
        if "env" in spec:
            spec["config"] = {**(spec.get("config") or {}), "env": spec.pop("env")}
        run = spec.pop("run")
        return cls(name, run, **spec)

    @property
    def local_dir(self) -> str | None:
        """The ``local_dir`` the experiment writes under (None: ``~/dasktune_results``)."""
        return self.spec.get("local_dir")

    @property
    def checkpoint_dir(self) -> str:
        """The experiment's folder: ``<local_dir>/<name>`` (or under ``upload_dir``)."""
        root = self.spec.get("upload_dir") or self.local_dir
        if root is None:
            from .tune import DEFAULT_LOCAL_DIR

            root = os.path.expanduser(DEFAULT_LOCAL_DIR)
        return f"{str(root).rstrip('/')}/{self.name}"

    def run_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``tune.run`` for this experiment."""
        arguments = {k: v for k, v in self.spec.items() if k != "run"}
        return {"run_or_experiment": self.run_identifier, "name": self.name, **arguments}

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}, {self.run_identifier!r})"


def run_arguments_with(experiment: Experiment, run_locals: dict[str, Any]) -> dict[str, Any]:
    """``tune.run(experiment, ...)``'s arguments: the experiment's own, plus those ``run`` got
    that the experiment does not set (``run_locals`` is ``run``'s ``locals()`` on entry).

    Raises:
        TypeError: An argument both the experiment and ``run`` set (Ray silently takes the
            experiment's).
    """
    from .tune import run

    given: dict[str, Any] = {}
    for name, parameter in inspect.signature(run).parameters.items():
        if name == "run_or_experiment":
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            given.update(run_locals[name])
        elif run_locals[name] is not parameter.default:
            given[name] = run_locals[name]
    own = experiment.run_arguments()
    both = sorted(set(given) & set(own))
    if both:
        raise TypeError(
            f"tune.run() got Experiment {experiment.name!r} and also {', '.join(both)}, which "
            f"the experiment sets; give each once (in the Experiment, or to tune.run with the "
            f"trainable itself)."
        )
    return {**given, **own}


def convert_to_experiment_list(experiments: Any) -> list[Experiment]:
    """``experiments`` (an Experiment, a list of them, or ``{name: spec}``) as a list."""
    if isinstance(experiments, Experiment):
        return [experiments]
    if isinstance(experiments, Mapping):
        return [Experiment.from_json(name, spec) for name, spec in experiments.items()]
    if isinstance(experiments, Sequence) and not isinstance(experiments, str):
        if all(isinstance(e, Experiment) for e in experiments) and experiments:
            return list(experiments)
    raise TypeError(
        f"experiments must be an Experiment, a list of Experiments or a dict "
        f"{{name: spec}}, got {experiments!r}"
    )


def run_experiments(
    experiments: Any,
    scheduler: Any = None,
    verbose: int | bool = 2,
    progress_reporter: Any = None,
    resume: bool | str = False,
    reuse_actors: bool = False,
    raise_on_failed_trial: bool = True,
    concurrent: bool = True,
    callbacks: list[Any] | None = None,
    **run_arguments: Any,
) -> list[Trial]:
    """Run one or more experiments and return all their trials (Ray's ``run_experiments``).

    Args:
        experiments: An :class:`Experiment`, a list of them, or ``{name: spec dict}``.
        scheduler, verbose, progress_reporter, resume, reuse_actors, raise_on_failed_trial,
            callbacks: As in ``tune.run``, for every experiment.
        concurrent: Ray runs several experiments in one trial loop when true; dasktune runs
            them one after another either way (a warning says so when there are several).
        **run_arguments: Further ``tune.run`` arguments for every experiment (Ray's
            ``server_port``, ``trial_executor`` ... get ``tune.run``'s own warnings or errors;
            dasktune's ``client=``, ``address=``, ``storage_options=`` work as there).

    Returns:
        The trials of every experiment, in order.
    """
    from .tune import run

    experiment_list = convert_to_experiment_list(experiments)
    if concurrent and len(experiment_list) > 1:
        warnings.warn(
            f"run_experiments(): dasktune runs the {len(experiment_list)} experiments one after "
            f"another, not in one trial loop as Ray does (concurrent=True); pass "
            f"concurrent=False to silence this.",
            stacklevel=2,
        )
    clash = set(run_arguments) & {"return_trials", "run_or_experiment", "name"}
    if clash:
        raise TypeError(f"run_experiments() sets {', '.join(sorted(clash))} itself")
    shared = {
        "scheduler": scheduler,
        "verbose": verbose,
        "progress_reporter": progress_reporter,
        "resume": resume,
        "reuse_actors": reuse_actors,
        "raise_on_failed_trial": raise_on_failed_trial,
        "callbacks": callbacks,
        **run_arguments,
    }
    trials: list[Trial] = []
    for experiment in experiment_list:
        arguments = experiment.run_arguments()
        overlap = set(arguments) & set(run_arguments)
        if overlap:
            raise TypeError(
                f"{', '.join(sorted(overlap))} given both to Experiment {experiment.name!r} and "
                f"to run_experiments(); give each once."
            )
        result = run(**arguments, **shared, return_trials=True)
        trials.extend(result)  # type: ignore[arg-type]
    return trials


__all__ = ["Experiment", "convert_to_experiment_list", "run_experiments"]
