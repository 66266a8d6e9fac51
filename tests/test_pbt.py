"""PopulationBasedTraining and its replay as pure objects and through the whole loop in
simulated time: Ray's explore rules, quantiles, the synchronous barrier, the policy logs and
their replay, and the exploits the controller carries out (donor state cloned, config changed,
nothing lost when a worker dies on the way)."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from controller_harness import make_controller, make_trial, of, running

from dasktune import events as E
from dasktune import instructions as I
from dasktune import search as tune_search
from dasktune.backend.protocol import TrialCodeError, WorkerLost
from dasktune.backend.simulated import ScriptedTrainable, SimulatedBackend
from dasktune.callback import Callback, CallbackListener
from dasktune.controller import FailurePolicy
from dasktune.driver import Driver
from dasktune.error import TuneError
from dasktune.listeners import Listeners
from dasktune.schedulers import PopulationBasedTraining, PopulationBasedTrainingReplay
from dasktune.schedulers.pbt import explore, make_experiment_tag
from dasktune.trial import TrialStatus


class Rows(Callback):
    def __init__(self):
        self.rows: dict[str, list[dict]] = {}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.rows.setdefault(trial.trial_id, []).append(dict(result))


def workers(n, cpus=1):
    return {f"w{i}": {"CPU": cpus} for i in range(n)}


def gain(lr, iteration):
    """Ray's pbt_function toy: the best lr falls from 0.1 (a triangle over the run); a step's
    gain is highest near it."""
    optimal = max(0.01, 0.1 - 0.001 * iteration)
    return max(0.0, 1.0 - abs(lr - optimal) / optimal) * 0.1


def toy(step_seconds=1.0, reset_config=False):
    def step(acc, config, iteration):
        acc = acc + gain(config["lr"], iteration)
        return acc, {"mean_accuracy": acc, "lr": config["lr"]}

    return ScriptedTrainable(
        step=step, initial_state=0.0, step_seconds=step_seconds, reset_config=reset_config
    )


class FilesDriver(Driver):
    """The driver with the experiment dir in ``tmp_path`` for the scheduler's files only, and
    checkpoint deletions recorded (the simulated checkpoints live in memory)."""

    def __init__(self, *args, directory=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.directory = directory
        self.deleted: list[str] = []

    def _write_file(self, name, text):
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / name).write_text(text)

    def _carry_out(self, ins):
        if isinstance(ins, I.DeleteCheckpoint):
            self.deleted.append(ins.url)
        else:
            super()._carry_out(ins)


def run(controller, backend, tmp_path=None, rows=None):
    driver = FilesDriver(
        controller,
        backend,
        storage=None,
        listeners=Listeners([CallbackListener([rows] if rows else [])]),
        build_state=dict,
        clock=backend.clock,
        directory=tmp_path,
    )
    asyncio.run(driver.run())
    return driver


def population(n, lrs=None, iterations=30, **pbt_kwargs):
    lrs = lrs or [0.0001 * 3**i for i in range(n)]
    trials = [make_trial(i) for i in range(n)]
    for trial, lr in zip(trials, lrs, strict=False):
        trial.config = {"lr": lr}
    pbt = PopulationBasedTraining(
        time_attr="training_iteration",
        metric="mean_accuracy",
        mode="max",
        perturbation_interval=pbt_kwargs.pop("perturbation_interval", 4),
        hyperparam_mutations=pbt_kwargs.pop(
            "hyperparam_mutations", {"lr": tune_search.uniform(0.0001, 0.2)}
        ),
        seed=pbt_kwargs.pop("seed", 1),
        **pbt_kwargs,
    )
    controller = make_controller(
        trials=trials, scheduler=pbt, stop={"training_iteration": iterations}
    )
    return controller, pbt, trials


# -- pure ----------------------------------------------------------------------------------


def test_ray_defaults_and_bad_arguments_named():
    pbt = PopulationBasedTraining(hyperparam_mutations={"lr": [1, 2]})
    assert pbt._time_attr == "time_total_s" and pbt._perturbation_interval == 60.0
    assert pbt._burn_in_period == 0 and pbt._quantile_fraction == 0.25
    assert pbt._resample_probability == 0.25 and pbt._log_config and pbt._require_attrs
    assert not pbt._synch and pbt.metric is None and pbt.mode is None
    with pytest.raises(TuneError, match="hyperparam_mutations"):
        PopulationBasedTraining()
    with pytest.raises(ValueError, match="quantile_fraction"):
        PopulationBasedTraining(hyperparam_mutations={"a": [1]}, quantile_fraction=0.6)
    with pytest.raises(ValueError, match="perturbation_interval"):
        PopulationBasedTraining(hyperparam_mutations={"a": [1]}, perturbation_interval=0)
    with pytest.raises(TypeError, match=r"hyperparam_mutations\['a'\]"):
        PopulationBasedTraining(hyperparam_mutations={"a": 3})
    with pytest.raises(ValueError, match="sample_from"):
        PopulationBasedTraining(hyperparam_mutations={"a": tune_search.sample_from(lambda spec: 1)})
    with pytest.warns(DeprecationWarning):
        old = PopulationBasedTraining(reward_attr="acc", hyperparam_mutations={"a": [1]})
    assert (old.metric, old.mode) == ("acc", "max")
    with pytest.raises(ValueError, match="metric"):
        PopulationBasedTraining(hyperparam_mutations={"a": [1]}).on_trial_add(None, make_trial(0))


def test_explore_follows_ray_rules():
    rng = random.Random(0)
    mutations = {
        "lr": tune_search.uniform(0, 1),
        "layers": [1, 2, 4, 8],
        "width": lambda: 64,
        "batch": tune_search.choice([16, 32, 64]),
        "opt": {"momentum": [0.8, 0.9, 0.99]},
    }
    config = {"lr": 0.5, "layers": 2, "width": 10, "batch": 32, "opt": {"momentum": 0.9}}
    seen = {"lr": set(), "layers": set(), "width": set(), "batch": set(), "m": set()}
    for _ in range(300):
        new = explore(config, mutations, 0.0, rng=rng)
        seen["lr"].add(round(new["lr"], 6))
        seen["layers"].add(new["layers"])
        seen["width"].add(new["width"])
        seen["batch"].add(new["batch"])
        seen["m"].add(new["opt"]["momentum"])
    # No resampling: x0.8/x1.2, a neighbour in lists (choice too), ints stay ints.
    assert seen == {
        "lr": {0.4, 0.6},
        "layers": {1, 4},
        "width": {8, 12},
        "batch": {16, 64},
        "m": {0.8, 0.99},
    }
    assert config["opt"]["momentum"] == 0.9  # the donor's config is left alone
    resampled = explore(config, mutations, 1.0, rng=rng)
    assert resampled["width"] == 64 and resampled["layers"] in (1, 2, 4, 8)
    # At the ends of a list the neighbour is the end itself; a value not in it is resampled.
    ends = {explore({"k": 1}, {"k": [1, 2]}, 0.0, rng=rng)["k"] for _ in range(50)}
    assert ends == {1, 2}
    assert explore({"k": 7}, {"k": [1, 2]}, 0.0, rng=rng)["k"] in (1, 2)
    custom = explore(config, {"lr": [0.5]}, 0.0, lambda c: {**c, "extra": 1}, rng=rng)
    assert custom["extra"] == 1
    with pytest.raises(TuneError, match="custom_explore_fn returned None"):
        explore(config, {"lr": [0.5]}, 0.0, lambda c: None, rng=rng)


def test_experiment_tag_shows_the_perturbed_values():
    tag = make_experiment_tag("3_lr=0.1", {"lr": 0.12, "b": 2}, {"lr": None})
    assert tag == "3_lr=0.1@perturbed[lr=0.12]"


def test_missing_keys_of_the_mutations_are_sampled_into_the_config():
    pbt = PopulationBasedTraining(
        metric="m", mode="max", hyperparam_mutations={"a": [5], "n": {"b": [7]}}
    )
    trial = make_trial(0)
    trial.config_pickle = "stale"
    pbt.on_trial_add(None, trial)
    assert trial.config == {"i": 0, "a": 5, "n": {"b": 7}} and trial.config_pickle is None


def test_quantiles_as_ray_computes_them():
    pbt = PopulationBasedTraining(metric="m", mode="max", hyperparam_mutations={"a": [1]})
    trials = [make_trial(i) for i in range(8)]
    for t in trials:
        pbt.on_trial_add(None, t)
        pbt._trial_state[t.trial_id].last_score = float(t.index)
    lower, upper = pbt._quantiles()
    assert [t.index for t in lower] == [0, 1] and [t.index for t in upper] == [6, 7]
    trials[7].status = TrialStatus.TERMINATED  # finished trials are not ranked
    lower, upper = pbt._quantiles()
    assert [t.index for t in lower] == [0, 1] and [t.index for t in upper] == [5, 6]
    pbt._quantile_fraction = 0.5
    lower, upper = pbt._quantiles()
    assert len(lower) == len(upper) == 3


def test_require_attrs_fails_the_trial_naming_the_key():
    controller, pbt, trials = population(2, iterations=3)
    backend = SimulatedBackend(workers(2), ScriptedTrainable(lambda c, i: {"other": 1}))
    run(controller, backend)
    assert {t.status for t in trials} == {TrialStatus.ERROR}
    assert "no 'mean_accuracy'" in trials[0].error_msg and "require_attrs" in trials[0].error_msg

    controller, pbt, trials = population(2, iterations=3, require_attrs=False)
    backend = SimulatedBackend(workers(2), ScriptedTrainable(lambda c, i: {"other": 1}))
    with pytest.warns(UserWarning, match="skipped"):
        run(controller, backend)
    assert {t.status for t in trials} == {TrialStatus.TERMINATED}


# -- the whole loop --------------------------------------------------------------------------


def exploits_of(backend, trials):
    """(receiver id, donor id, url, config) for every start that restored another trial's
    checkpoint."""
    out = []
    for trial_id, restore, config, how in backend.starts:
        if restore is None:
            continue
        donor = restore.split("/")[2]
        if donor != trial_id:
            out.append((trial_id, donor, restore, config, how))
    return out


def check_continuity(backend, rows):
    """Every exploit: the receiver's next result continues the donor's saved state."""
    checked = 0
    for trial_id, restore, config, _how in backend.starts:
        if restore is None:
            continue
        iteration = int(restore.rsplit("_", 1)[1])
        after = [r for r in rows[trial_id] if r["iterations_since_restore"] == 1]
        nxt = [r for r in after if r["training_iteration"] == iteration + 1]
        assert nxt, (trial_id, restore)
        expected = backend.states[restore] + gain(config["lr"], iteration + 1)
        assert any(abs(r["mean_accuracy"] - expected) < 1e-12 for r in nxt)
        checked += 1
    return checked


BAD_LRS = [0.001 * i for i in range(1, 9)]  # all far below the toy's best rate


def test_async_pbt_clones_donor_state_and_writes_ray_policy_files(tmp_path):
    controller, pbt, trials = population(8, lrs=BAD_LRS, iterations=40)
    backend = SimulatedBackend(workers(4), toy())
    rows = Rows()
    run(controller, backend, tmp_path, rows)
    assert {t.status for t in trials} == {TrialStatus.TERMINATED}
    exploits = exploits_of(backend, trials)
    assert len(exploits) >= 5
    assert check_continuity(backend, rows.rows) >= len(exploits)
    # Each receiver's config is its donor's, explored (x0.8/x1.2 or resampled).
    glob = (tmp_path / "pbt_global.txt").read_text().splitlines()
    assert len(glob) == pbt._num_perturbations == len(exploits)
    for line in glob:
        tag, donor_tag, iteration, donor_iteration, donor_config, new_config = json.loads(line)
        assert isinstance(iteration, int) and isinstance(donor_iteration, int)
        ratio = new_config["lr"] / donor_config["lr"]
        assert abs(ratio - 0.8) < 1e-9 or abs(ratio - 1.2) < 1e-9 or 0.0001 <= new_config["lr"]
    # A receiver's own policy file: its donor's history, then its own exploit.
    for trial in trials:
        path = tmp_path / f"pbt_policy_{trial.trial_id}.txt"
        if path.exists():
            last = json.loads(path.read_text().splitlines()[-1])
            assert last[0] == trial.experiment_tag.split("@")[0]
    assert any("@perturbed[lr=" in t.experiment_tag for t in trials)
    # PBT beats the fixed learning rates it started with.
    best_fixed = max(sum(gain(lr, i) for i in range(1, 41)) for lr in BAD_LRS)
    assert max(t.last_result["mean_accuracy"] for t in trials) > best_fixed


def test_replay_follows_a_policy_file(tmp_path):
    controller, pbt, trials = population(6, iterations=30)
    backend = SimulatedBackend(workers(3), toy())
    run(controller, backend, tmp_path / "pbt")
    receiver = max(
        (p for p in (tmp_path / "pbt").glob("pbt_policy_*.txt")),
        key=lambda p: len(p.read_text().splitlines()),
    )
    replay = PopulationBasedTrainingReplay(str(receiver))
    schedule = replay._policy
    assert schedule and replay.config is not None
    trial = make_trial(0)
    trial.config = {}
    controller = make_controller(trials=[trial], scheduler=replay, stop={"training_iteration": 30})
    backend = SimulatedBackend(workers(1), toy())
    rows = Rows()
    run(controller, backend, tmp_path / "replay", rows)
    assert trial.status == TrialStatus.TERMINATED
    lrs = {r["training_iteration"]: r["lr"] for r in rows.rows[trial.trial_id]}
    assert lrs[1] == replay.config["lr"]
    for step, config in schedule:
        if step < 30:
            assert lrs[step + 1] == config["lr"]
    # It switched configs by restoring its own checkpoint at the switch.
    assert [r for _, r, _, _ in backend.starts if r] == [
        f"sim://{trial.trial_id}/checkpoint_{s}" for s, _ in schedule if s < 30
    ]


def test_replay_refuses_a_bad_file_and_a_second_trial(tmp_path):
    bad = tmp_path / "p.txt"
    bad.write_text("not json\n")
    with pytest.raises(ValueError, match="line 1"):
        PopulationBasedTrainingReplay(str(bad))
    with pytest.raises(ValueError, match="not found"):
        PopulationBasedTrainingReplay(str(tmp_path / "missing.txt"))
    good = tmp_path / "g.txt"
    good.write_text(json.dumps(["0", "1", 3, 4, {"lr": 1}, {"lr": 2}]) + "\n")
    replay = PopulationBasedTrainingReplay(str(good))
    assert replay.config == {"lr": 1} and replay._policy == [(4, {"lr": 2})]
    with pytest.warns(UserWarning, match="replaced by the policy's first config"):
        replay.on_trial_add(None, make_trial(0))
    with pytest.raises(ValueError, match="num_samples=1"):
        replay.on_trial_add(None, make_trial(1))


@pytest.mark.parametrize("burn_in", [0, 10])
def test_synch_pbt_perturbs_at_the_boundary_and_finishes(burn_in):
    """ray#23424: with a burn-in longer than the interval, synch PBT left trials PAUSED."""
    controller, pbt, trials = population(
        6, iterations=24, synch=True, burn_in_period=burn_in, perturbation_interval=4
    )
    backend = SimulatedBackend(workers(2), toy())
    rows = Rows()
    run(controller, backend, rows=rows)
    assert {t.status for t in trials} == {TrialStatus.TERMINATED}
    exploits = exploits_of(backend, trials)
    assert exploits and check_continuity(backend, rows.rows)
    first = max(4, burn_in)
    # Every exploit restores a checkpoint taken at a boundary, never before the burn-in.
    steps = {int(url.rsplit("_", 1)[1]) for _, _, url, _, _ in exploits}
    assert min(steps) >= first and all((s - first) % 4 == 0 for s in steps)


def test_synch_pbt_finishes_when_a_trial_crashes_for_good():
    """ray#12122: the others waited at the boundary for a trial that had errored."""
    controller, pbt, trials = population(4, iterations=16, synch=True)
    failed = trials[1].trial_id

    def fault(method, trial):
        if method == "train" and trial.trial_id == failed and backend.hosted[failed].iteration == 5:
            raise TrialCodeError("boom")

    backend = SimulatedBackend(workers(2), toy(), fault=fault)
    run(controller, backend)
    assert trials[1].status == TrialStatus.ERROR
    assert {t.status for t in trials if t is not trials[1]} == {TrialStatus.TERMINATED}
    assert pbt._num_perturbations >= 1


def test_synch_pbt_resumes_from_its_pickled_state():
    """ray#48616: after a restore synch PBT waited forever. Its state (boundary, per-trial
    times, policy rows) is pickled with the trials into the experiment state."""
    from dasktune.experiment_state import restore_run_objects, run_objects_record

    controller, pbt, trials = population(4, iterations=12, synch=True)
    backend = SimulatedBackend(workers(2), toy())
    run(controller, backend)
    record = run_objects_record(pbt, trials)
    again, again_trials = restore_run_objects(record, PopulationBasedTraining)
    assert again._next_perturbation_sync == pbt._next_perturbation_sync
    assert set(again._trial_state) == {t.trial_id for t in again_trials}
    assert again._global_policy == pbt._global_policy
    # Go on with the restored population: unfinished copies continue to a later stop.
    for t in again_trials:
        t.status = TrialStatus.PENDING
        t.restore_path = t.checkpoint
    controller = make_controller(
        trials=again_trials, scheduler=again, stop={"training_iteration": 24}
    )
    backend2 = SimulatedBackend(workers(2), toy())
    backend2.checkpoints = backend.checkpoints
    backend2.states = backend.states
    run(controller, backend2)
    assert {t.status for t in again_trials} == {TrialStatus.TERMINATED}
    assert again._num_perturbations > pbt._num_perturbations


def test_a_worker_killed_while_a_receiver_restores_loses_nothing(tmp_path):
    controller, pbt, trials = population(6, iterations=30)
    controller.failure_policy = FailurePolicy(max_failures=3)
    killed = []

    def fault(method, trial):
        if method == "start" and trial.restore_path and not killed:
            if trial.trial_id not in trial.restore_path:  # an exploit's restart
                killed.append((trial.trial_id, trial.restore_path, dict(trial.config)))
                raise WorkerLost("w0", "killed")

    backend = SimulatedBackend(workers(3), toy(), fault=fault)
    rows = Rows()
    run(controller, backend, tmp_path, rows)
    assert killed and {t.status for t in trials} == {TrialStatus.TERMINATED}
    trial_id, url, config = killed[0]
    # It started again from the same donor checkpoint with the same new config, once.
    again = [s for s in backend.starts if s[0] == trial_id and s[1] == url]
    assert len(again) == 1 and again[0][2] == config
    assert check_continuity(backend, rows.rows)
    lines = (tmp_path / "pbt_global.txt").read_text().splitlines()
    assert len(lines) == pbt._num_perturbations  # the decision was not applied twice


def test_reuse_actors_resets_in_place_on_the_simulated_backend():
    controller, pbt, trials = population(4, iterations=20)
    backend = SimulatedBackend(workers(2), toy(reset_config=True))
    run(controller, backend)
    assert any(how == "reset" for *_, how in exploits_of(backend, trials))


# -- the controller's exploit, event by event ---------------------------------------------


def row(i, **extra):
    return {"training_iteration": i, "done": False, **extra}


def test_a_donor_without_checkpoint_saves_first_and_the_receiver_restores_it():
    """ray#27170: PBT skipped (or restarted from scratch) a donor that had no checkpoint."""
    c = make_controller(n=2, stop={"training_iteration": 100})
    receiver, donor = running(c, workers=1)
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(1)]))
    assert c.request_exploit(receiver, donor, {"lr": 9}, "tag", min_iteration=1)
    out = c.handle(E.ResultsArrived(receiver.trial_id, receiver.run_number, [row(1)]))
    assert not of(I.Train, out) and not of(I.Stop, out)  # it waits for the donor
    out = c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(2)]))
    (save,) = of(I.Save, out)
    assert save.trial is donor and save.commit
    url = f"mem://{donor.trial_id}/checkpoint_2"
    out = c.handle(E.CheckpointSaved(donor.trial_id, donor.run_number, 2, [(url, 2)]))
    (stop,) = of(I.Stop, out)
    assert stop.trial is receiver and of(I.Train, out)[0].trial is donor
    out = c.handle(E.TrialStopped(receiver.trial_id, receiver.run_number))
    (start,) = of(I.StartTrial, out)
    assert start.restore == url and receiver.config == {"lr": 9}
    assert receiver.experiment_tag == "tag" and receiver.config_pickle is None
    assert receiver.status == TrialStatus.RUNNING and c.num_running == 2


def test_a_pinned_donor_checkpoint_outlives_retention_until_the_receiver_saves():
    from dasktune.checkpoint_book import RetentionPolicy

    c = make_controller(n=2, stop={"training_iteration": 100}, retention=RetentionPolicy(keep=1))
    receiver, donor = running(c, workers=1)
    old = f"mem://{donor.trial_id}/checkpoint_1"
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(1)]))
    c.request_save(donor)
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(2)]))
    c.handle(E.CheckpointSaved(donor.trial_id, donor.run_number, 2, [(old, 1)]))
    c.request_exploit(receiver, donor, {"lr": 1})
    c.handle(E.ResultsArrived(receiver.trial_id, receiver.run_number, [row(1)]))
    c.handle(E.TrialStopped(receiver.trial_id, receiver.run_number))
    assert receiver.restore_path == old
    c.handle(E.TrialStarted(receiver.trial_id, receiver.run_number))
    # The donor commits a newer one: retention (keep=1) would delete the old one, but a
    # receiver may still need it (to restart after a failure).
    c.request_save(donor)
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(3)]))
    out = c.handle(E.CheckpointSaved(donor.trial_id, donor.run_number, 3, [(f"{old}x", 3)]))
    assert not of(I.DeleteCheckpoint, out)
    c.request_save(receiver)
    c.handle(E.ResultsArrived(receiver.trial_id, receiver.run_number, [row(2)]))
    own = f"mem://{receiver.trial_id}/checkpoint_2"
    out = c.handle(E.CheckpointSaved(receiver.trial_id, receiver.run_number, 2, [(own, 2)]))
    assert [d.url for d in of(I.DeleteCheckpoint, out)] == [old]


def test_an_exploit_asked_while_the_receiver_saves_applies_after_the_save():
    """ray#28511: a pause asked while a trial saved left it RUNNING and hung. Here the pause
    takes the checkpoint being saved, and the exploit applies once it is PAUSED."""
    c = make_controller(n=2, stop={"training_iteration": 100})
    receiver, donor = running(c, workers=1)
    url = f"mem://{donor.trial_id}/checkpoint_1"
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(1)]))
    c.request_save(donor)
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(2)]))
    c.handle(E.CheckpointSaved(donor.trial_id, donor.run_number, 1, [(url, 1)]))
    c.request_save(receiver)
    out = c.handle(E.ResultsArrived(receiver.trial_id, receiver.run_number, [row(1)]))
    assert of(I.Save, out)
    c.request_exploit(receiver, donor, {"lr": 2})
    c.request_pause(receiver)
    out = c.handle(E.CheckpointSaved(receiver.trial_id, receiver.run_number, 1, []))
    # The checkpoint just taken is the pause's: it stops at once (no second save).
    assert not of(I.Save, out) and of(I.Stop, out)[0].trial is receiver
    out = c.handle(E.TrialStopped(receiver.trial_id, receiver.run_number))
    # PAUSED with the donor's checkpoint and config; FIFO starts it again at once.
    assert [n.kind for n in of(I.Notify, out)][:2] == ["trial_pause", "trial_exploit"]
    (start,) = of(I.StartTrial, out)
    assert start.trial is receiver and start.restore == url and receiver.config == {"lr": 2}


def test_a_stale_reply_is_not_applied_to_a_trial_the_scheduler_paused():
    """ray#58483: a buffered decision was applied after the scheduler had paused the trial."""
    c = make_controller(n=2, stop={"training_iteration": 100}, max_concurrent_trials=1)
    (trial,) = running(c, workers=1)
    c.request_pause(trial)
    run_before = trial.run_number
    c.handle(E.ResultsArrived(trial.trial_id, run_before, [row(1)]))
    c.handle(E.CheckpointSaved(trial.trial_id, run_before, 1, [("mem://t/c1", 1)]))
    out = c.handle(E.TrialStopped(trial.trial_id, run_before))
    assert trial.status == TrialStatus.PAUSED and of(I.StartTrial, out)[0].trial is not trial
    # Replies of the paused run that arrive late (a result, a save) change nothing.
    for late in (
        E.ResultsArrived(trial.trial_id, run_before, [row(2)]),
        E.CheckpointSaved(trial.trial_id, run_before, 2, [("mem://t/c2", 2)]),
    ):
        out = c.handle(late)
        assert not [i for i in out if not isinstance(i, I.Notify)]
    assert trial.status == TrialStatus.PAUSED and trial.last_result["training_iteration"] == 1
    assert trial.restore_path == "mem://t/c1"


def test_a_donor_that_dies_while_saving_for_a_receiver_lets_it_go_on():
    c = make_controller(n=2, stop={"training_iteration": 100})
    receiver, donor = running(c, workers=1)
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(1)]))
    c.request_exploit(receiver, donor, {"lr": 3}, min_iteration=1)
    c.handle(E.ResultsArrived(receiver.trial_id, receiver.run_number, [row(1)]))
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(2)]))
    out = c.handle(
        E.CallFailed(donor.trial_id, donor.run_number, "save", "x", worker_lost=True, worker="w0")
    )
    # The donor had no checkpoint: the receiver trains on with its own state and config.
    assert any(i.trial is receiver for i in of(I.Train, out))
    assert receiver.config == {"i": 0} and receiver.status == TrialStatus.RUNNING


def test_a_worker_lost_while_the_receiver_stops_for_its_exploit_restarts_it_from_the_donor():
    c = make_controller(n=2, stop={"training_iteration": 100}, failure_policy=FailurePolicy(1))
    receiver, donor = running(c, workers=1)
    url = f"mem://{donor.trial_id}/checkpoint_1"
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(1)]))
    c.request_save(donor)
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(2)]))
    c.handle(E.CheckpointSaved(donor.trial_id, donor.run_number, 1, [(url, 1)]))
    c.request_exploit(receiver, donor, {"lr": 5})
    out = c.handle(E.ResultsArrived(receiver.trial_id, receiver.run_number, [row(1)]))
    assert of(I.Stop, out)[0].trial is receiver
    out = c.handle(E.CallFailed(receiver.trial_id, receiver.run_number, "stop", "", True, "w0"))
    # Retried (a lost worker counts as a failure) from the donor's checkpoint, new config.
    assert receiver.num_failures == 1 and receiver.config == {"lr": 5}
    assert receiver.restore_path == url


def test_stopping_the_run_ends_receivers_waiting_for_a_donor():
    c = make_controller(n=3, stop={"training_iteration": 100})
    receiver, donor, other = running(c, workers=1)
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(1)]))
    c.request_exploit(receiver, donor, {"lr": 1}, min_iteration=1)
    out = c.handle(E.ResultsArrived(receiver.trial_id, receiver.run_number, [row(1)]))
    assert not [i for i in out if not isinstance(i, I.Notify)]  # idles, waiting for the donor
    out = c.handle(E.StopRequested())
    assert [s.trial for s in of(I.Stop, out)] == [receiver]  # no reply of its own would come
    assert receiver.config == {"i": 0}
    c.handle(E.TrialStopped(receiver.trial_id, receiver.run_number))
    assert receiver.status == TrialStatus.TERMINATED


def test_a_held_receiver_can_be_stopped_and_is_not_chosen_meanwhile():
    c = make_controller(n=3, stop={"training_iteration": 100}, max_concurrent_trials=2)
    first, donor = running(c, workers=1)
    c.top_up()
    waiting = c.trials[2]
    assert waiting.status == TrialStatus.PENDING
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(1)]))
    assert c.request_exploit(waiting, donor, {"lr": 1}, min_iteration=1)
    assert waiting not in c.waiting_trials() and not c.is_finished
    assert not c.request_exploit(waiting, donor, {"lr": 2})  # one at a time
    c.request_stop(waiting)
    assert waiting.status == TrialStatus.TERMINATED and waiting.config == {"i": 2}


def test_the_facade_says_whether_more_trials_will_come():
    c = make_controller(n=2, stop={"training_iteration": 100})
    assert c.runner.search_alg is c.search_alg and c.runner._search_alg is c.search_alg
    running(c, workers=1)
    assert c.runner.search_alg.is_finished()  # both trials made: no more will come


def test_a_receiver_paused_with_its_exploit_saves_nothing_and_ignores_its_old_uploads():
    """PBT pauses a receiver to yield its slot: the state it gives up is not saved, and an
    upload of that state that commits as it stops is deleted, not adopted."""
    c = make_controller(n=2, stop={"training_iteration": 100})
    receiver, donor = running(c, workers=1)
    url = f"mem://{donor.trial_id}/checkpoint_1"
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(1)]))
    c.request_save(donor)
    c.handle(E.ResultsArrived(donor.trial_id, donor.run_number, [row(2)]))
    c.handle(E.CheckpointSaved(donor.trial_id, donor.run_number, 1, [(url, 1)]))
    c.request_exploit(receiver, donor, {"lr": 4}, min_iteration=1)
    c.request_pause(receiver)
    out = c.handle(E.ResultsArrived(receiver.trial_id, receiver.run_number, [row(1)]))
    assert not of(I.Save, out) and of(I.Stop, out)[0].trial is receiver
    old = f"mem://{receiver.trial_id}/checkpoint_0"
    out = c.handle(E.TrialStopped(receiver.trial_id, receiver.run_number, [(old, 0)]))
    assert receiver.checkpoint == url and receiver.config == {"lr": 4}
    assert [d.url for d in of(I.DeleteCheckpoint, out)] == [old]
    assert "trial_pause" in [n.kind for n in of(I.Notify, out)]


def test_ray_domain_objects_and_partly_given_nested_keys():
    """Ray's bare Categorical/Float work as mutations (a Categorical explores like a list),
    and a nested mutated key the config lacks is sampled into it, not a KeyError later."""
    import random as _random

    from dasktune.search.sample import Categorical, Float

    pbt = PopulationBasedTraining(
        metric="m",
        mode="max",
        hyperparam_mutations={
            "opt": Categorical(["sgd", "adam", "rms"]),
            "model": {"lr": Float(0.001, 0.1), "mom": [0.8, 0.9]},
        },
        seed=0,
    )
    trial = make_trial(0)
    trial.config = {"opt": "adam", "model": {"lr": 0.01}}
    pbt.on_trial_add(None, trial)
    assert trial.config["model"]["mom"] in (0.8, 0.9) and trial.config["model"]["lr"] == 0.01
    seen = set()
    for i in range(20):
        new = explore(trial.config, pbt._hyperparam_mutations, 0.0, rng=_random.Random(i))
        seen.add(new["opt"])
        assert 0.0008 <= new["model"]["lr"] <= 0.012
    assert seen == {"sgd", "rms"}  # a neighbour of "adam" each time
