"""The function API: report with ``tune.track.log`` from a plain function.

    python examples/function_api.py

The function runs in its own thread inside a Dask actor; each ``track.log`` hands one result to
the driver and waits, so the ``stop`` rule really stops the function.
"""

import math

import dasktune as tune


def trainable(config):
    """A made-up loss curve that depends on the learning rate and momentum."""
    loss = 10.0
    for step in range(1, 1000):
        loss *= 1 - config["lr"] * (1 + config["momentum"]) / (1 + math.log(step))
        tune.track.log(mean_loss=loss, step=step)


analysis = tune.run(
    trainable,
    name="function_api_example",
    stop={"training_iteration": 20},
    config={
        "lr": tune.loguniform(1e-3, 1e-1),
        "momentum": tune.grid_search([0.0, 0.5, 0.9]),
    },
    num_samples=2,
)
print("best config:", analysis.get_best_config(metric="mean_loss", mode="min"))
print(
    analysis.dataframe(metric="mean_loss", mode="min")[
        ["mean_loss", "config/lr", "config/momentum"]
    ]
)
