"""Population Based Training of a function trainable (the toy problem of Ray's
``pbt_function`` example, our own code).

    python examples/pbt_function.py

Each step raises the accuracy by an amount that is largest when ``lr`` is close to an
"optimal" rate that falls during training, so no fixed rate is best throughout. Every 4
iterations the worst quarter of the population continues from a copy of a top trial's
checkpoint with a perturbed ``lr``; ``pbt_global.txt`` in the experiment dir lists every
exploit, and ``PopulationBasedTrainingReplay`` replays one trial's schedule from its
``pbt_policy_<trial_id>.txt``.
"""

import json
import os
import random
import time

import dasktune as tune
from dasktune.schedulers import PopulationBasedTraining


def pbt_toy(config, checkpoint_dir=None):
    accuracy, step = 0.0, 0
    if checkpoint_dir:  # a restart, or a copy of a better trial's state (exploit)
        with open(os.path.join(checkpoint_dir, "state.json")) as f:
            state = json.load(f)
        accuracy, step = state["accuracy"], state["step"]
    while True:
        # A step takes a moment, as training does. Steps of microseconds let one trial finish
        # before the next has started, leaving PBT no running trial to compare it with.
        time.sleep(0.05)
        step += 1
        optimal_lr = max(0.01, 0.1 - 0.001 * step)
        closeness = max(0.0, 1.0 - abs(config["lr"] - optimal_lr) / optimal_lr)
        accuracy += 0.1 * closeness
        if step % 4 == 0:  # PBT perturbs every 4 iterations: a fresh checkpoint to clone
            with tune.checkpoint_dir(step=step) as directory:
                with open(os.path.join(directory, "state.json"), "w") as f:
                    json.dump({"accuracy": accuracy, "step": step}, f)
        tune.report(mean_accuracy=accuracy, lr=config["lr"], optimal_lr=optimal_lr)


pbt = PopulationBasedTraining(
    time_attr="training_iteration",
    perturbation_interval=4,
    hyperparam_mutations={
        # resampled from this (probability 0.25), else multiplied by 0.8 or 1.2
        "lr": lambda: random.uniform(0.0001, 0.2),
    },
)
analysis = tune.run(
    pbt_toy,
    name="pbt_function_example",
    scheduler=pbt,
    metric="mean_accuracy",
    mode="max",
    stop={"training_iteration": 24},
    num_samples=4,
    config={"lr": tune.uniform(0.0001, 0.02)},
    verbose=0,
)
best = max(analysis.trials, key=lambda trial: trial.last_result["mean_accuracy"])
print("best config:", best.config)
print("best accuracy:", round(best.last_result["mean_accuracy"], 3))
print(pbt.debug_string())
