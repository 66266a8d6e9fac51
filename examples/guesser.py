"""The seed document's Guesser, unchanged but for the import: Ray Tune code on Dask.

    python examples/guesser.py

No cluster to start: dasktune starts its embedded cluster, runs 10 trials on it, and closes
it. Like a Ray Tune script it needs no `if __name__ == "__main__":` guard.
"""

import dasktune as tune


class Guesser(tune.Trainable):
    """Randomly picks a number from [1, 10000) to find the password."""

    def _setup(self, config):
        self.guess = config["guess"]
        self.iter = 0
        self.password = 1024

    def _train(self):
        """Execute one step of 'training'. This function will be called iteratively"""
        self.iter += 1
        self.guess += 1
        return {
            "accuracy": abs(self.guess - self.password),
            "training_iteration": self.iter,  # Tune will automatically provide this.
        }


analysis = tune.run(
    Guesser,
    stop={"training_iteration": 10},
    num_samples=10,
    config={"guess": tune.randint(1, 10000)},
)
print("best config: ", analysis.get_best_config(metric="accuracy", mode="min"))
