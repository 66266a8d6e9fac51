"""PopulationBasedTraining end to end: a population on a 2-worker LocalCluster with its
checkpoints and logs on S3 (moto), ``reuse_actors`` both ways. Exploits happen (the policy
log says so), each receiver's next result continues the donor's checkpointed state with the
explored config, and its params.json follows the new config."""

from __future__ import annotations

import json
import time

import fsspec
import pytest
from scripts import REPO, run_script

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
        return {"acc": self.acc, "steps": self.steps}

    def _restore(self, checkpoint):
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
        stop={"training_iteration": 15},
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
