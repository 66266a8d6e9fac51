"""Searchers through a driver SIGKILL, then ``resume=True``, as a user's script with no cluster
given: GeneticSearch (Ray 0.8's ``automl``) killed in its second generation goes on with that
generation, not a new search, and ends with exactly the trials of both generations; TuneBOHB
with HyperBandForBOHB killed with a bracket half done keeps its model and its brackets.
(OptunaSearch's is in test_optuna_crash_asha_e2e.py.)"""

from __future__ import annotations

import base64

import cloudpickle
import pytest
from scripts import kill_when, printed_result, run_script, start_script

pytestmark = pytest.mark.slow

SCRIPT = """
import json, time
import dasktune as tune
from dasktune.automl import ContinuousSpace, DiscreteSpace, GeneticSearch, SearchSpace

space = SearchSpace([ContinuousSpace("model.x", -2.0, 2.0, 9), DiscreteSpace("act", ["a", "b"])])

def objective(config):
    for _ in range(3):
        time.sleep(0.25)
        tune.report(reward=-(config["model"]["x"] - 1.0) ** 2 + (config["act"] == "b"))

search = GeneticSearch(space, "reward", max_generation=2, population_size=6, seed=5)
analysis = tune.run(objective, search_alg=search, config={"model": {"depth": 2}},
                    max_concurrent_trials=2, name="exp", local_dir="results",
                    resume=RESUME, verbose=0)
print("RESULT " + json.dumps({
    "configs": [t.config for t in analysis.trials],
    "statuses": [t.status for t in analysis.trials],
    "rewards": [t.last_result.get("reward") for t in analysis.trials],
}))
"""


def test_a_killed_genetic_search_resumes_its_generation(tmp_path):
    first = start_script(tmp_path, SCRIPT.replace("RESUME", "False"), name="first.py")
    # Kill in the second generation: past the first 6 trials, with one running.
    trials = kill_when(
        first,
        tmp_path / "results" / "exp" / "experiment_state.json",
        lambda ts: len(ts) >= 7 and "RUNNING" in [t["status"] for t in ts],
    )
    log = (tmp_path / "first.log").read_text()
    assert 7 <= len(trials) < 11 and "RUNNING" in [t["status"] for t in trials], log[-3000:]
    made_first = [cloudpickle.loads(base64.b64decode(t["config_pickle"])) for t in trials]

    done = run_script(tmp_path, SCRIPT.replace("RESUME", "True"), name="second.py", timeout=240)
    out = printed_result(done)
    configs = out["configs"]
    # 6, then int(6 * 0.95) = 5: no trial twice, none lost, no third generation.
    assert len(configs) == 11 and set(out["statuses"]) == {"TERMINATED"}
    assert configs[: len(made_first)] == made_first
    # The second generation still starts with the first one's top 2 (keep_top_ratio 0.2).
    ranked = sorted(range(6), key=lambda i: out["rewards"][i], reverse=True)
    assert configs[6:8] == [configs[i] for i in ranked[:2]]
    assert all(c["model"]["depth"] == 2 for c in configs)


BOHB_SCRIPT = """
import json, time
import dasktune as tune
from dasktune.schedulers import HyperBandForBOHB
from dasktune.suggest.bohb import TuneBOHB

class Curve(tune.Trainable):
    def _setup(self, config):
        self.steps = 0

    def _train(self):
        time.sleep(0.1)
        self.steps += 1
        return {"loss": (self.config["x"] - 1.0) ** 2 + 2.0 / self.steps, "steps": self.steps}

    def _save(self, tmp_checkpoint_dir):
        return {"steps": self.steps}

    def _restore(self, checkpoint):
        self.steps = checkpoint["steps"]

searcher = TuneBOHB(max_concurrent=2, seed=0)
analysis = tune.run(Curve, search_alg=searcher, scheduler=HyperBandForBOHB(max_t=9,
                    reduction_factor=3), metric="loss", mode="min", num_samples=17,
                    config={"x": tune.uniform(-3.0, 3.0)}, name="bohb", local_dir="results",
                    resume=RESUME, verbose=0)
print("RESULT " + json.dumps({
    "configs": [t.config for t in analysis.trials],
    "statuses": [t.status for t in analysis.trials],
    "ends": [t.last_result.get("training_iteration") for t in analysis.trials],
    "heard_at_1": len(searcher.bohber.configs.get(1, [])),
}))
"""


def test_a_killed_bohb_run_resumes_its_brackets_and_its_model(tmp_path):
    pytest.importorskip("hpbandster")
    first = start_script(tmp_path, BOHB_SCRIPT.replace("RESUME", "False"), name="first.py")
    # Kill with a bracket half done: some trials paused at a milestone.
    trials = kill_when(
        first,
        tmp_path / "results" / "bohb" / "experiment_state.json",
        lambda ts: "PAUSED" in [t["status"] for t in ts],
    )
    log = (tmp_path / "first.log").read_text()
    assert "PAUSED" in [t["status"] for t in trials], log[-3000:]
    made_first = [cloudpickle.loads(base64.b64decode(t["config_pickle"])) for t in trials]

    out = printed_result(
        run_script(tmp_path, BOHB_SCRIPT.replace("RESUME", "True"), name="second.py")
    )
    assert len(out["configs"]) == 17 and set(out["statuses"]) == {"TERMINATED"}
    assert out["configs"][: len(made_first)] == made_first
    assert all(-3.0 <= c["x"] <= 3.0 for c in out["configs"])
    # HyperBand's milestones held across the kill: every trial ended at one of them.
    assert set(out["ends"]) <= {1, 3, 9}, out["ends"]
    # The resumed TuneBOHB kept what it heard before the kill: all 9 first-rung results of the
    # first bracket (a searcher started afresh would hold only those reported after resume).
    assert out["heard_at_1"] >= 9, out["heard_at_1"]
