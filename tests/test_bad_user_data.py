"""Bad input fails fast and where it belongs, names the problem and the fix, hangs nothing and
writes nothing outside the experiment dir.

Arguments and data that cannot work fail ``tune.run`` before any worker starts (the rows of the
tables run against a scheduler address nobody listens on: reaching the cluster would fail
differently). A bad result fails its own trial only; the others go on.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from controller_harness import calls, make_controller, notes, of, results, running
from trainables import Counter

import dasktune as tune
from dasktune import events as E
from dasktune import instructions as I
from dasktune import result_logs
from dasktune.result import ERROR_FILE, EXPERIMENT_STATE_FILE
from dasktune.schedulers import FIFOScheduler
from dasktune.trial import TrialStatus

# A scheduler address nobody listens on: a run that got as far as the cluster fails otherwise.
NOWHERE = "tcp://127.0.0.1:9"
EXPERIMENT = "bad_input"


@dataclass(frozen=True)
class Case:
    """One bad call: ``tune.run(**kwargs)`` raises ``error`` whose message holds ``words``,
    within ``within_s`` seconds."""

    id: str
    kwargs: dict[str, Any]
    error: type[BaseException]
    words: tuple[str, ...]
    within_s: float = 5.0


def run_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``case`` with a fresh HOME and cwd; check the error, the time and that nothing was
    written anywhere but the experiment dir."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    kwargs = {"address": NOWHERE, "verbose": 0, "name": EXPERIMENT, **case.kwargs}
    started = time.monotonic()
    with pytest.raises(case.error) as info:
        tune.run(**kwargs)
    elapsed = time.monotonic() - started
    message = str(info.value)
    missing = [w for w in case.words if w not in message]
    assert not missing, f"{missing} not in: {message}"
    assert elapsed < case.within_s, f"failed after {elapsed:.1f} s"
    experiment = home / "dasktune_results" / EXPERIMENT
    written = [
        p
        for p in tmp_path.rglob("*")
        if p not in (home, cwd, home / "dasktune_results", experiment)
        and experiment not in p.parents
    ]
    assert not written, f"written outside the experiment dir: {written}"


# -- issue 11, items 4, 7 and 8: the user's data (booleans, pickling, configs) -------------------
class LockHolder(tune.Trainable):
    """Holds a lock as a class attribute: the class cannot be pickled for the workers."""

    lock = threading.Lock()

    def step(self):
        return {"x": 1}


GLOBAL_LOCK = threading.Lock()


def uses_a_global_lock(config):
    """Reads a module-level lock: the function cannot be pickled for the workers."""
    with GLOBAL_LOCK:
        tune.track.log(x=1)


USER_DATA_CASES = [
    Case(
        "checkpoint_at_end='no'",
        {"run_or_experiment": Counter, "checkpoint_at_end": "no"},
        TypeError,
        ("checkpoint_at_end must be True or False", "'no'", "checkpoint_at_end=False"),
    ),
    Case(
        "raise_on_failed_trial='no'",
        {"run_or_experiment": Counter, "raise_on_failed_trial": "no"},
        TypeError,
        ("raise_on_failed_trial must be True or False", "raise_on_failed_trial=False"),
    ),
    Case(
        "reuse_actors='yes'",
        {"run_or_experiment": Counter, "reuse_actors": "yes"},
        TypeError,
        ("reuse_actors must be True or False", "reuse_actors=True"),
    ),
    Case(
        "return_trials=1",
        {"run_or_experiment": Counter, "return_trials": 1},
        TypeError,
        ("return_trials must be True or False", "non-zero number"),
    ),
    Case(
        "fail_fast='no'",
        {"run_or_experiment": Counter, "fail_fast": "no"},
        TypeError,
        ("fail_fast must be True or False", "fail_fast=False"),
    ),
    Case(
        "resume=1",
        {"run_or_experiment": Counter, "resume": 1},
        ValueError,
        ("resume must be False, True or 'ERRORED_ONLY'",),
    ),
    Case(
        "lock as class attribute",
        {"run_or_experiment": LockHolder},
        TypeError,
        ("LockHolder.lock", "_thread.lock", "cannot be pickled", "setup()"),
    ),
    Case(
        "function reads a global lock",
        {"run_or_experiment": uses_a_global_lock},
        TypeError,
        ("uses_a_global_lock -> global GLOBAL_LOCK", "_thread.lock", "inside the function"),
    ),
    Case(
        "lock in the config",
        {"run_or_experiment": Counter, "config": {"opt": {"lock": threading.Lock()}}},
        TypeError,
        ('config["opt"]["lock"]', "_thread.lock", "setup()"),
    ),
    Case(
        "generator in a list in the config",
        {"run_or_experiment": Counter, "config": {"layers": [1, (i for i in range(3))]}},
        TypeError,
        ('config["layers"][1]', "generator"),
    ),
    Case(
        "module in the config",
        {"run_or_experiment": Counter, "config": {"lib": os}},
        TypeError,
        ('config["lib"]', "module", "cannot be copied"),
    ),
    Case(
        "sample_from makes a lock",
        {
            "run_or_experiment": Counter,
            "config": {"opt": tune.sample_from(lambda spec: threading.Lock())},
        },
        TypeError,
        ("the config of trial", 'config["opt"]', "_thread.lock", "pickled"),
    ),
    Case(
        "tuple key in the config",
        {"run_or_experiment": Counter, "config": {"a": {(1, 2): 3}}},
        TypeError,
        ('config["a"][(1, 2)]', "keys must be strings", "params.json"),
    ),
    Case(
        "mixed key types in the config",
        {"run_or_experiment": Counter, "config": {"a": {1: "x", "b": 2}}},
        TypeError,
        ('config["a"]', "mixes key types (int, str)", "params.json"),
    ),
]


@pytest.mark.parametrize("case", USER_DATA_CASES, ids=[c.id for c in USER_DATA_CASES])
def test_user_data_fails_before_any_worker_starts(case, tmp_path, monkeypatch):
    run_case(case, tmp_path, monkeypatch)


# -- a bad result fails its own trial; the others go on (item 4) ---------------------------------
class ReportsOnConfig(tune.Trainable):
    """Reports ``EXTRAS[config["extra"]]()`` merged into its result when ``config["bad"]``."""

    def step(self):
        result = {"x": self.iteration}
        if self.config.get("bad"):
            result.update(EXTRAS[self.config["extra"]]())
        return result


def tuple_key():
    return {("a", "b"): 1}


def test_a_result_the_logs_cannot_hold_fails_only_its_trial(client, results_dir):
    analysis = tune.run(
        ReportsOnConfig,
        name="tuple_key",
        config={"bad": tune.grid_search([False, True, False]), "extra": "tuple_key"},
        stop={"training_iteration": 3},
        local_dir=results_dir,
        client=client,
        raise_on_failed_trial=False,
        verbose=0,
    )
    statuses = [t.status for t in analysis.trials]
    assert statuses == [TrialStatus.TERMINATED, TrialStatus.ERROR, TrialStatus.TERMINATED]
    bad = analysis.trials[1]
    error = Path(bad.logdir, ERROR_FILE).read_text()
    for words in (str(bad), "('a', 'b')", "keys must be strings", "Use a string key", "'a/b'"):
        assert words in error
    state = json.loads(Path(results_dir, "tuple_key", EXPERIMENT_STATE_FILE).read_text())
    assert [t["status"] for t in state["trials"]] == statuses


def bad_done():
    return {"done": "no"}


def numpy_done():
    return {"done": np.bool_(True)}


def a_lock():
    return {"state": {"lock": threading.Lock()}}


def a_cycle():
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    return {"cycle": cycle}


def str_iteration():
    return {"training_iteration": "7"}


EXTRAS = {f.__name__: f for f in (tuple_key, bad_done, numpy_done, a_lock, a_cycle, str_iteration)}

# (what the trial reports besides "x", words its error.txt must hold)
BAD_RESULTS = [
    ("bad_done", ("done='no'", "must be True or False", "done=False")),
    ("a_lock", ('result["state"]["lock"]', "_thread.lock", "sent from its worker")),
    ("a_cycle", ('result["cycle"]', "cycle")),
    ("str_iteration", ("training_iteration='7'", "must be an int")),
]


@pytest.mark.parametrize("extra, words", BAD_RESULTS, ids=[name for name, _ in BAD_RESULTS])
def test_a_bad_result_fails_its_trial_with_the_key_and_the_fix(client, results_dir, extra, words):
    analysis = tune.run(
        ReportsOnConfig,
        config={"bad": tune.grid_search([True, False]), "extra": extra},
        stop={"training_iteration": 2},
        local_dir=results_dir,
        client=client,
        raise_on_failed_trial=False,
        verbose=0,
    )
    bad, good = analysis.trials
    assert (bad.status, good.status) == (TrialStatus.ERROR, TrialStatus.TERMINATED)
    error = Path(bad.logdir, ERROR_FILE).read_text()
    assert str(bad) in error
    missing = [w for w in words if w not in error]
    assert not missing, error


def test_done_takes_numpy_bools(client, results_dir):
    analysis = tune.run(
        ReportsOnConfig,
        config={"bad": True, "extra": "numpy_done"},
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    (trial,) = analysis.trials
    assert trial.status == TrialStatus.TERMINATED and trial.last_result["done"] is True
    assert trial.num_results == 1


def reports_done_no(config):
    tune.track.log(x=1, done="no")


def test_a_function_reporting_done_no_fails_at_its_report(client, results_dir):
    analysis = tune.run(
        reports_done_no, local_dir=results_dir, client=client, raise_on_failed_trial=False
    )
    (trial,) = analysis.trials
    error = Path(trial.logdir, ERROR_FILE).read_text()
    assert trial.status == TrialStatus.ERROR and "done='no'" in error
    # The traceback shows the report, in this file.
    assert f'File "{__file__}"' in error and "in reports_done_no" in error


# -- missing super().__init__, tracebacks in the user's file (item 9) ----------------------------
class ForgetsSuperInit(tune.Trainable):
    """Its __init__ never calls Trainable.__init__."""

    def __init__(self, config=None, logger_creator=None):
        self.ready = True

    def step(self):
        return {"x": 1}


def test_a_missing_super_init_is_named(client, results_dir):
    analysis = tune.run(
        ForgetsSuperInit,
        stop={"training_iteration": 1},
        local_dir=results_dir,
        client=client,
        raise_on_failed_trial=False,
        verbose=0,
    )
    (trial,) = analysis.trials
    error = Path(trial.logdir, ERROR_FILE).read_text()
    assert "ForgetsSuperInit.__init__ did not call super().__init__(config)" in error
    # Outside a run too, whichever attribute is used first.
    with pytest.raises(AttributeError, match=r"did not call super\(\).__init__\(config\)"):
        ForgetsSuperInit({}).train()


class RaisesInStep(tune.Trainable):
    """Raises in its step, from this file."""

    def step(self):
        raise ValueError("boom from the user's file")


def test_a_trials_traceback_shows_the_users_file_and_line(client, results_dir):
    analysis = tune.run(
        RaisesInStep, local_dir=results_dir, client=client, raise_on_failed_trial=False
    )
    (trial,) = analysis.trials
    error = Path(trial.logdir, ERROR_FILE).read_text()
    source = Path(__file__).read_text().splitlines()
    line = 1 + next(i for i, text in enumerate(source) if "boom from the user's file" in text)
    assert f'File "{__file__}", line {line}, in step' in error, error
    assert "<dynamic-code>" not in error


# -- large results (item 12) --------------------------------------------------------------------
def reports_large(config):
    for _ in range(3):
        tune.track.log(blob="x" * 20_000)


def test_a_large_result_warns_once_per_trial(client, results_dir, monkeypatch):
    assert result_logs.LARGE_RESULT_BYTES == 10**7  # Ray's size for "very large" objects
    monkeypatch.setattr(result_logs, "LARGE_RESULT_BYTES", 10_000)
    with pytest.warns(UserWarning) as record:
        analysis = tune.run(
            reports_large,
            config={"i": tune.grid_search([0, 1])},
            local_dir=results_dir,
            client=client,
            verbose=0,
        )
    large = [str(w.message) for w in record if "reported a result of" in str(w.message)]
    assert len(large) == 2, large
    for trial in analysis.trials:
        assert sum(f"trial {trial} reported a result of" in text for text in large) == 1
        assert trial.num_results == 3


# -- the run's code raising on one trial's result (the controller, with events) -----------------
class RaisesOnT1(FIFOScheduler):
    """A scheduler that fails on trial t1's results."""

    def on_trial_result(self, trial_runner, trial, result):
        if trial.trial_id == "t1":
            raise ValueError("scheduler bug")
        return super().on_trial_result(trial_runner, trial, result)


def test_a_scheduler_raising_on_a_result_fails_that_trial_only():
    c = make_controller(2, stop=None, scheduler=RaisesOnT1())
    t0, t1 = running(c)
    out = results(c, t1, {"training_iteration": 1})
    assert calls(out) == [("Stop", "t1")] and not of(I.Stop, out)[0].graceful
    assert notes(out, I.Note.RESULT)  # the result itself was fine: it is logged
    out = c.handle(E.TrialStopped("t1", t1.run_number))
    assert t1.status == TrialStatus.ERROR
    assert "RaisesOnT1.on_trial_result() raised ValueError" in t1.error_msg
    assert "scheduler bug" in t1.error_msg and "the others go on" in t1.error_msg
    assert calls(results(c, t0, {"training_iteration": 1})) == [("Train", "t0")]


def test_a_stop_function_answering_a_string_fails_that_trial():
    c = make_controller(1, stop=lambda trial_id, result: "no")
    (t,) = running(c)
    out = results(c, t, {"training_iteration": 1})
    assert calls(out) == [("Stop", "t0")]
    c.handle(E.TrialStopped("t0", t.run_number))
    assert t.status == TrialStatus.ERROR and "returned 'no'" in t.error_msg
    # None (a function that returns nothing when it does not stop) means False.
    c = make_controller(1, stop=lambda trial_id, result: None)
    (t,) = running(c)
    assert calls(results(c, t, {"training_iteration": 1})) == [("Train", "t0")]


def test_a_done_that_is_not_a_bool_fails_the_trial_unlogged():
    c = make_controller(1, stop=None)
    (t,) = running(c)
    out = results(c, t, {"training_iteration": 1, "done": "no"})
    assert calls(out) == [("Stop", "t0")] and not notes(out, I.Note.RESULT)
    c.handle(E.TrialStopped("t0", t.run_number))
    assert t.status == TrialStatus.ERROR and "done='no'" in t.error_msg


# -- the run's own objects: a scheduler the state cannot keep, a callback that raises -----------
class HoldsALock(FIFOScheduler):
    """A scheduler whose state cannot be pickled into the experiment state."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()


def test_a_scheduler_the_state_cannot_keep_warns_and_the_run_goes_on(client, results_dir):
    with pytest.warns(UserWarning, match=r"cannot keep the scheduler HoldsALock: HoldsALock.lock"):
        analysis = tune.run(
            Counter,
            name="scheduler_lock",
            scheduler=HoldsALock(),
            stop={"training_iteration": 2},
            local_dir=results_dir,
            client=client,
            verbose=0,
        )
    assert [t.status for t in analysis.trials] == [TrialStatus.TERMINATED]
    state = json.loads(Path(results_dir, "scheduler_lock", EXPERIMENT_STATE_FILE).read_text())
    assert state["run_objects"] is None
    assert [t["status"] for t in state["trials"]] == [TrialStatus.TERMINATED]


class RaisingCallback(tune.Callback):
    """Fails on the first result."""

    def on_trial_result(self, iteration, trials, trial, result, **info):
        raise RuntimeError("callback bug")


def test_a_callback_that_raises_fails_the_run_named_and_the_state_is_written(client, results_dir):
    started = time.monotonic()
    with pytest.raises(tune.TuneError, match=r"RaisingCallback.on_trial_result\(\) raised"):
        tune.run(
            Counter,
            name="callback_bug",
            callbacks=[RaisingCallback()],
            local_dir=results_dir,
            client=client,
            verbose=0,
        )
    assert time.monotonic() - started < 30
    assert Path(results_dir, "callback_bug", EXPERIMENT_STATE_FILE).exists()


def lock_for_the_second(spec):
    return threading.Lock() if spec.config["i"] == 1 else 0


def test_a_config_made_unpicklable_mid_run_fails_the_run_naming_its_key(client, results_dir):
    with pytest.raises(TypeError, match=r'the config of trial \w+_00001: config\["opt"\]'):
        tune.run(
            Counter,
            name="late_lock",
            config={"i": tune.grid_search([0, 1]), "opt": tune.sample_from(lock_for_the_second)},
            stop={"training_iteration": 2},
            local_dir=results_dir,
            client=client,
            verbose=0,
        )
    state = json.loads(Path(results_dir, "late_lock", EXPERIMENT_STATE_FILE).read_text())
    assert len(state["trials"]) == 1
