"""A small real model: scikit-learn's SGDClassifier trained with partial_fit on the digits data
that scikit-learn ships (nothing is downloaded), with checkpoints.

    pip install scikit-learn && python examples/sgd_classifier.py

Each ``_train`` is one epoch; ``_save``/``_restore`` pickle the model, so the run keeps the two
best checkpoints per trial by validation accuracy.
"""

import os
import pickle

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

import dasktune as tune


class DigitsSGD(tune.Trainable):
    """One epoch of SGD per training iteration; reports validation accuracy."""

    def _setup(self, config):
        x, y = load_digits(return_X_y=True)
        x = x / 16.0
        self.x_train, self.x_val, self.y_train, self.y_val = train_test_split(
            x, y, test_size=0.25, random_state=0
        )
        self.classes = np.unique(y)
        self.model = SGDClassifier(
            loss=config["loss"],
            alpha=config["alpha"],
            learning_rate="optimal",
            random_state=0,
        )

    def _train(self):
        order = np.random.default_rng(self.iteration).permutation(len(self.x_train))
        for batch in np.array_split(order, 10):
            self.model.partial_fit(self.x_train[batch], self.y_train[batch], classes=self.classes)
        return {"val_accuracy": float(self.model.score(self.x_val, self.y_val))}

    def _save(self, tmp_checkpoint_dir):
        path = os.path.join(tmp_checkpoint_dir, "model.pkl")
        with open(path, "wb") as f:
            pickle.dump(self.model, f)
        return path

    def _restore(self, checkpoint_path):
        with open(checkpoint_path, "rb") as f:
            self.model = pickle.load(f)


if __name__ == "__main__":
    analysis = tune.run(
        DigitsSGD,
        name="digits_sgd",
        stop={"training_iteration": 8},
        config={
            "alpha": tune.loguniform(1e-5, 1e-1),
            "loss": tune.grid_search(["hinge", "log_loss"]),
        },
        num_samples=3,
        checkpoint_freq=2,
        keep_checkpoints_num=2,
        checkpoint_score_attr="val_accuracy",
    )
    print("best config:", analysis.get_best_config(metric="val_accuracy", mode="max"))
    print("best logdir:", analysis.get_best_logdir(metric="val_accuracy", mode="max"))
