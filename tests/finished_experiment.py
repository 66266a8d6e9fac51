"""A small finished experiment, made the way a user makes one (a script run in a subprocess),
for tests that read experiments back: the CLI and ``ExperimentAnalysis``.

Three trials of ``loss = q + 1/step`` (q = 0.1, 0.5, 0.3), six iterations each, a checkpoint
every second iteration, ``metric="loss", mode="min"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripts import run_script

QS = (0.1, 0.5, 0.3)
ITERATIONS = 6
CHECKPOINT_FREQ = 2

SCRIPT = """
import os
import dasktune as tune


class Curve(tune.Trainable):
    def _setup(self, config):
        self.step_n = 0

    def _train(self):
        self.step_n += 1
        return {{"loss": self.config["q"] + 1.0 / self.step_n, "acc": 1 - self.config["q"]}}

    def _save(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "step"), "w") as f:
            f.write(str(self.step_n))
        return checkpoint_dir

    def _restore(self, checkpoint):
        with open(os.path.join(checkpoint, "step")) as f:
            self.step_n = int(f.read())


tune.run(
    Curve,
    name="exp",
    local_dir={local_dir!r},
    storage_options={storage_options!r},
    config={{"q": tune.grid_search({qs!r})}},
    stop={{"training_iteration": {iterations}}},
    checkpoint_freq={checkpoint_freq},
    metric="loss",
    mode="min",
    verbose=0,
)
"""


def expected_loss(q: float, step: int) -> float:
    """The loss trial ``q`` reports at ``step``."""
    return q + 1.0 / step


_made: dict[str, tuple[Path, str]] = {}


def local_experiment(tmp_path_factory: Any) -> tuple[Path, str]:
    """``(home, experiment path)`` of the local experiment, made once per test session (the
    test modules that read it only read it)."""
    if "local" not in _made:
        home = tmp_path_factory.mktemp("finished_experiment")
        _made["local"] = (home, make_experiment(home, str(home / "results")))
    return _made["local"]


def make_experiment(
    directory: Path, local_dir: str, storage_options: dict[str, Any] | None = None
) -> str:
    """Run the experiment script in ``directory``; return the experiment's path or URL."""
    source = SCRIPT.format(
        local_dir=local_dir,
        storage_options=storage_options,
        qs=list(QS),
        iterations=ITERATIONS,
        checkpoint_freq=CHECKPOINT_FREQ,
    )
    proc = run_script(directory, source, name="make_experiment.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return f"{local_dir.rstrip('/')}/exp"
