"""GeneticSearch (Ray 0.8's ``automl``) through a driver SIGKILL in its second generation, then
``resume=True``: the generation goes on (the same members, bred from the first), not a new
search, and the run ends with exactly the trials of both generations. A user's script, with no
cluster given."""

from __future__ import annotations

import base64
import json
import os
import signal
import time

import cloudpickle
import pytest
from scripts import run_script, start_script

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


def _state_trials(path):
    try:
        return json.loads(path.read_text()).get("trials", [])
    except (OSError, ValueError):
        return []


def test_a_killed_genetic_search_resumes_its_generation(tmp_path):
    first = start_script(tmp_path, SCRIPT.replace("RESUME", "False"), name="first.py")
    state_file = tmp_path / "results" / "exp" / "experiment_state.json"
    deadline = time.time() + 120
    trials = []
    try:
        # Kill in the second generation: past the first 6 trials, with one running.
        while time.time() < deadline and first.poll() is None:
            trials = _state_trials(state_file)
            if len(trials) >= 7 and "RUNNING" in [t["status"] for t in trials]:
                break
            time.sleep(0.05)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    log = (tmp_path / "first.log").read_text()
    assert 7 <= len(trials) < 11 and "RUNNING" in [t["status"] for t in trials], log[-3000:]
    made_first = [cloudpickle.loads(base64.b64decode(t["config_pickle"])) for t in trials]

    done = run_script(tmp_path, SCRIPT.replace("RESUME", "True"), name="second.py", timeout=240)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT ") :])
    configs = out["configs"]
    # 6, then int(6 * 0.95) = 5: no trial twice, none lost, no third generation.
    assert len(configs) == 11 and set(out["statuses"]) == {"TERMINATED"}
    assert configs[: len(made_first)] == made_first
    # The second generation still starts with the first one's top 2 (keep_top_ratio 0.2).
    ranked = sorted(range(6), key=lambda i: out["rewards"][i], reverse=True)
    assert configs[6:8] == [configs[i] for i in ranked[:2]]
    assert all(c["model"]["depth"] == 2 for c in configs)
