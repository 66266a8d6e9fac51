"""PopulationBasedTraining end to end: a population on a 2-worker LocalCluster with its
checkpoints and logs on S3 (moto), ``reuse_actors`` both ways. Exploits happen (the policy
log says so), each receiver's next result continues the donor's checkpointed state with the
explored config, and its params.json follows the new config."""

from __future__ import annotations

import json
import os
import signal
import time

import fsspec
import pytest
from helpers import read_rows
from scripts import REPO, run_script, script_env, start_script

import dasktune as tune
from dasktune.schedulers import PopulationBasedTraining

pytestmark = pytest.mark.slow


def gain(lr, iteration):
    """Ray's pbt_function toy: a step gains most when lr is near a falling optimum."""
    optimal = max(0.01, 0.1 - 0.001 * iteration)
    return max(0.0, 1.0 - abs(lr - optimal) / optimal) * 0.1


class Toy(tune.Trainable):
    """Accuracy grows by ``gain(lr)`` per step; ``steps`` counts the steps behind the state
    (both in the checkpoint); ``resets`` counts reset_config calls on this instance."""

    def _setup(self, config):
        self.acc = 0.0
        self.steps = 0
        self.resets = 0

    def _train(self):
        time.sleep(0.02)
        self.steps += 1
        self.acc += gain(self.config["lr"], self.steps)
        return {
            "mean_accuracy": self.acc,
            "steps": self.steps,
            "lr": self.config["lr"],
            "resets": self.resets,
        }

    def _save(self, checkpoint_dir):
        return {"acc": self.acc, "steps": self.steps, "owner": self.trial_id}

    def _restore(self, checkpoint):
        marker = self.config.get("kill_marker")
        if marker and checkpoint["owner"] != self.trial_id and not os.path.exists(marker):
            # Die while restoring a donor's checkpoint (an exploit), once.
            with open(marker, "w") as f:
                f.write(self.trial_id)
            os.kill(os.getpid(), signal.SIGKILL)
        self.acc = checkpoint["acc"]
        self.steps = checkpoint["steps"]

    def reset_config(self, new_config):
        # A kept instance may serve another trial: it starts from scratch (a restore follows
        # for an exploit); the reset count stays with the instance.
        self.acc = 0.0
        self.steps = 0
        self.resets += 1
        return True


def read_json_lines(fs, path):
    with fs.open(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("reuse_actors", [False, True])
def test_pbt_on_two_workers_with_s3_storage(client, s3_bucket, reuse_actors):
    url, options = s3_bucket
    pbt = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=3,
        hyperparam_mutations={"lr": tune.uniform(0.001, 0.2)},
        seed=0,
    )
    analysis = tune.run(
        Toy,
        name="pbt",
        scheduler=pbt,
        metric="mean_accuracy",
        mode="max",
        config={"lr": tune.grid_search([0.001, 0.002, 0.004, 0.05])},
        stop={"training_iteration": 12},
        reuse_actors=reuse_actors,
        local_dir=url,
        storage_options=options,
        client=client,
        verbose=0,
    )
    trials = analysis.trials
    assert {t.status for t in trials} == {"TERMINATED"}
    fs = fsspec.filesystem("s3", **options)
    root = f"{url}/pbt"
    policy = read_json_lines(fs, f"{root}/pbt_global.txt")
    assert policy, "no exploit happened"
    by_tag = {t.experiment_tag.split("@")[0]: t for t in trials}
    rows = {t.trial_id: read_json_lines(fs, f"{t.logdir}/result.json") for t in trials}
    reset_seen = False
    for tag, donor_tag, _iteration, donor_iteration, donor_config, new_config in policy:
        receiver, donor = by_tag[tag], by_tag[donor_tag]
        assert receiver is not donor and new_config != donor_config
        donor_row = next(
            r for r in rows[donor.trial_id] if r["training_iteration"] == donor_iteration
        )
        # The receiver's first result after the exploit continues the donor's state.
        after = [
            r
            for r in rows[receiver.trial_id]
            if r["training_iteration"] == donor_iteration + 1
            and r["iterations_since_restore"] == 1
            and r["lr"] == new_config["lr"]
        ]
        assert after, (tag, donor_iteration)
        first = after[0]
        assert first["steps"] == donor_iteration + 1
        expected = donor_row["mean_accuracy"] + gain(new_config["lr"], donor_iteration + 1)
        assert abs(first["mean_accuracy"] - expected) < 1e-9
        reset_seen |= first["resets"] > 0
    # reset_config ran in place only with reuse_actors.
    assert reset_seen == reuse_actors
    # Each trial's params.json is its config now (the explored one for receivers).
    for trial in trials:
        with fs.open(f"{trial.logdir}/params.json", "rt") as f:
            assert json.load(f) == trial.config
        assert trial.last_result["lr"] == trial.config["lr"]
    assert any("@perturbed[" in t.experiment_tag for t in trials)
    # The receiver's own policy file ends with its last exploit.
    receiver = by_tag[policy[-1][0]]
    own = read_json_lines(fs, f"{root}/pbt_policy_{receiver.trial_id}.txt")
    assert own[-1] == policy[-1]


def test_a_worker_killed_while_a_receiver_restores_its_donor_loses_nothing(
    cluster_factory, tmp_path
):
    """The receiver's worker dies while it reads the donor's checkpoint: the trial starts
    again elsewhere from the same committed checkpoint with the same new config, once."""
    client = cluster_factory(n_workers=2, threads_per_worker=1)
    marker = tmp_path / "killed"
    pbt = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=3,
        hyperparam_mutations={"lr": tune.uniform(0.001, 0.2)},
        seed=1,
    )
    analysis = tune.run(
        Toy,
        name="pbt_kill",
        scheduler=pbt,
        metric="mean_accuracy",
        mode="max",
        config={
            "lr": tune.grid_search([0.001, 0.002, 0.004, 0.05]),
            "kill_marker": str(marker),
        },
        stop={"training_iteration": 12},
        max_failures=1,
        local_dir=str(tmp_path / "results"),
        client=client,
        verbose=0,
    )
    assert marker.exists(), "no exploit restore was killed"
    trials = analysis.trials
    assert {t.status for t in trials} == {"TERMINATED"}
    killed = next(t for t in trials if t.trial_id == marker.read_text())
    policy = [json.loads(line) for line in open(tmp_path / "results/pbt_kill/pbt_global.txt")]
    by_tag = {t.experiment_tag.split("@")[0]: t for t in trials}
    rows = {t.trial_id: read_rows(t.logdir) for t in trials}
    first_exploit = next(p for p in policy if by_tag[p[0]] is killed)
    tag, donor_tag, _, donor_iteration, _, new_config = first_exploit
    donor_row = next(
        r for r in rows[by_tag[donor_tag].trial_id] if r["training_iteration"] == donor_iteration
    )
    after = [
        r
        for r in rows[killed.trial_id]
        if r["iterations_since_restore"] == 1
        and r["lr"] == new_config["lr"]
        and r["training_iteration"] == donor_iteration + 1
    ]
    # Restored once (the killed attempt reported nothing), from the donor's state.
    assert len(after) == 1 and after[0]["steps"] == donor_iteration + 1
    expected = donor_row["mean_accuracy"] + gain(new_config["lr"], donor_iteration + 1)
    assert abs(after[0]["mean_accuracy"] - expected) < 1e-9


def test_pbt_function_example_runs_as_a_script(tmp_path):
    """examples/pbt_function.py as users run it: module level, no cluster given."""
    source = (REPO / "examples" / "pbt_function.py").read_text()
    done = run_script(tmp_path, source, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best config: {'lr':" in done.stdout
    root = tmp_path / "dasktune_results" / "pbt_function_example"
    exploits = (root / "pbt_global.txt").read_text().splitlines()
    assert exploits and f"{len(exploits)} perturbs" in done.stdout
    for line in exploits:
        tag, donor_tag, _, _, donor_config, new_config = json.loads(line)
        assert tag != donor_tag and new_config != donor_config


RESUMABLE_PBT = """
import os
import time

import dasktune as tune
from dasktune.schedulers import PopulationBasedTraining


class Toy(tune.Trainable):
    def _setup(self, config):
        self.acc, self.steps = 0.0, 0

    def _train(self):
        time.sleep(0.08)
        self.steps += 1
        self.acc += config_gain(self.config["lr"], self.steps)
        # One trial ends early: the state file is written about a second after a trial ends
        # (else every 10 s), so the test can kill the driver soon after.
        done = self.trial_id.endswith("_00003") and self.iteration >= 19
        return {"mean_accuracy": self.acc, "steps": self.steps, "done": done}

    def _save(self, checkpoint_dir):
        return {"acc": self.acc, "steps": self.steps}

    def _restore(self, checkpoint):
        self.acc, self.steps = checkpoint["acc"], checkpoint["steps"]


def config_gain(lr, step):
    optimal = max(0.01, 0.1 - 0.001 * step)
    return max(0.0, 1.0 - abs(lr - optimal) / optimal) * 0.1


tune.run(
    Toy,
    name="pbt_resume",
    scheduler=PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=5,
        hyperparam_mutations={"lr": tune.uniform(0.001, 0.2)},
    ),
    metric="mean_accuracy",
    mode="max",
    config={"lr": tune.grid_search([0.001, 0.003, 0.01, 0.03])},
    stop={"training_iteration": 80},
    resume=os.environ.get("RESUME") == "1",
    verbose=0,
)
"""


def _saved_pbt(experiment):
    """The PBT pickled in the experiment state file, or None."""
    from dasktune.experiment_state import restore_run_objects

    path = experiment / "experiment_state.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    restored = restore_run_objects(state.get("run_objects"), PopulationBasedTraining)
    return restored[0] if restored else None


def test_resume_after_a_driver_crash_continues_the_population(tmp_path):
    """The driver is SIGKILLed mid-PBT; resume=True continues the population: the
    scheduler's state (times, policy rows) comes back from the state file and the trials from
    their checkpoints, not from scratch."""
    experiment = tmp_path / "dasktune_results" / "pbt_resume"
    proc = start_script(tmp_path, RESUMABLE_PBT)
    log = tmp_path / "script.log"
    try:
        deadline = time.monotonic() + 180
        while True:
            saved = _saved_pbt(experiment)
            if saved is not None and saved._num_perturbations >= 1:
                break
            assert proc.poll() is None, f"the script ended first:\n{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {p.name: read_rows(str(p)) for p in experiment.iterdir() if p.is_dir()}
    before = {name: rows for name, rows in before.items() if not rows[-1]["done"]}
    assert before and all(len(rows) < 80 for rows in before.values())

    resumed = run_script(tmp_path, RESUMABLE_PBT, env=script_env(tmp_path, RESUME="1"))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-3000:]
    final = _saved_pbt(experiment)
    assert final._num_perturbations >= saved._num_perturbations
    policy = (experiment / "pbt_global.txt").read_text().splitlines(keepends=True)
    assert policy[: len(saved._global_policy)] == saved._global_policy
    for trial_id, state in saved._trial_state.items():
        # No trial's PBT clock went back to zero.
        assert final._trial_state[trial_id].last_perturbation_time >= state.last_perturbation_time
    state = json.loads((experiment / "experiment_state.json").read_text())
    assert {t["status"] for t in state["trials"]} == {"TERMINATED"}
    restarted = 0
    for name, rows_before in before.items():
        rows = read_rows(str(experiment / name))
        again = rows[len(rows_before) :]
        assert again and again[-1]["done"]
        if again[0]["training_iteration"] > 1:
            restarted += 1
            # It went on from a checkpoint: the trainable's own count agrees.
            assert again[0]["steps"] == again[0]["training_iteration"]
    assert restarted >= 1
