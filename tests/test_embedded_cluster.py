"""The embedded cluster: Ray Tune scripts run unchanged, as users run them.

Every end-to-end test here saves a module-level script (no ``if __name__ == "__main__":``
guard, no cluster given) and runs it with ``python script.py`` in a subprocess. The shaping
rules are tested without a cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scripts import run_script, script_env

from dasktune.backend.embedded_shape import WorkerShape, explain_unfit, plan_workers
from dasktune.resources import Resources

GUESSER = """
import dasktune as tune

class Guesser(tune.Trainable):
    \"\"\"Randomly picks a number from [1, 10000) to find the password.\"\"\"

    def _setup(self, config):
        self.guess = config["guess"]
        self.iter = 0
        self.password = 1024

    def _train(self):
        self.iter += 1
        self.guess += 1
        return {
            "accuracy": abs(self.guess - self.password),
            "training_iteration": self.iter
        }

analysis = tune.run(
    Guesser,
    stop={"training_iteration": 10},
    num_samples=10,
    config={"guess": tune.randint(1, 10000)},
    verbose=VERBOSE)

print("best config: ", analysis.get_best_config(metric="accuracy", mode="min"))
print("statuses:", sorted({t.status for t in analysis.trials}), len(analysis.trials))
"""


def _worker_processes() -> set[int]:
    found = subprocess.run(
        ["pgrep", "-f", "dasktune.backend.worker_process"], capture_output=True, text=True
    )
    return {int(pid) for pid in found.stdout.split()}


def _assert_ran(done: subprocess.CompletedProcess[str], expected: str) -> None:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert expected in done.stdout
    # No worker's traceback: the script was not run again inside the workers.
    assert "Traceback" not in done.stderr, done.stderr[-4000:]


# -- shaping, no cluster ---------------------------------------------------------------------
def test_one_cpu_trials_get_a_process_per_cpu():
    assert plan_workers([Resources(cpu=1)], cpus=4) == [WorkerShape(cpu=1.0, nthreads=1)] * 4


def test_a_trial_needing_every_cpu_gets_one_worker_with_all_of_them():
    assert plan_workers([Resources(cpu=2)], cpus=2) == [WorkerShape(cpu=2.0, nthreads=2)]
    # Extra CPUs count: the trial's own work should fit next to it.
    assert plan_workers([Resources(cpu=1, extra_cpu=1)], cpus=2) == [WorkerShape(2.0, 2)]


def test_mixed_requests_are_shaped_for_the_largest():
    shapes = plan_workers([Resources(cpu=1), Resources(cpu=3)], cpus=8)
    assert shapes == [WorkerShape(cpu=8 / 2, nthreads=4)] * 2


def test_fractional_cpus_share_a_process_rather_than_start_more_than_the_cpus():
    assert plan_workers([Resources(cpu=0.5)], cpus=2) == [WorkerShape(1.0, 1)] * 2


def test_no_more_workers_than_trials_can_run_at_once():
    assert plan_workers([Resources(cpu=1)], cpus=4, max_trials_at_once=1) == [WorkerShape(4.0, 4)]


def test_gpus_are_split_so_each_device_is_offered_once():
    gpus = ("0", "1", "2")
    shapes = plan_workers([Resources(cpu=1, gpu=1)], cpus=2, gpus=gpus)
    assert [(s.gpu, s.gpu_devices) for s in shapes] == [(2.0, ("0", "2")), (1.0, ("1",))]
    # Fewer devices than workers, fractional requests: workers share a device in fractions.
    shapes = plan_workers([Resources(cpu=1, gpu=0.25)], cpus=4, gpus=("0",))
    assert [(s.gpu, s.gpu_devices) for s in shapes] == [(0.25, ("0",))] * 4
    # A whole-GPU request keeps whole devices: only the first worker has one.
    shapes = plan_workers([Resources(cpu=1, gpu=1)], cpus=2, gpus=("7",))
    assert [(s.gpu, s.gpu_devices) for s in shapes] == [(1.0, ("7",)), (0.0, ())]
    assert shapes[0].resources() == {"CPU": 1.0, "GPU": 1.0}
    assert shapes[1].resources() == {"CPU": 1.0}


def test_requests_the_machine_cannot_hold_are_explained():
    assert explain_unfit([Resources(cpu=2)], cpus=2, gpus=()) is None
    message = explain_unfit([Resources(cpu=3)], cpus=2, gpus=())
    assert "needs 3 CPU but this machine has 2" in message and "client=" in message
    message = explain_unfit([Resources(cpu=1, extra_cpu=2)], cpus=2, gpus=())
    assert "needs 3 CPU (it asks for 1 CPU (+2 CPU extra))" in message
    message = explain_unfit([Resources(gpu=1)], cpus=2, gpus=())
    assert "needs 1 GPU" in message and "no GPU" in message
    message = explain_unfit([Resources(custom_resources={"TPU": 1})], cpus=2, gpus=())
    assert "{'TPU': 1" in message and "--resources" in message


# -- module-level scripts, no cluster given --------------------------------------------------
@pytest.mark.slow
def test_the_seed_documents_guesser_runs_as_a_script_without_a_main_guard(tmp_path):
    before = _worker_processes()
    done = run_script(tmp_path, GUESSER.replace("VERBOSE", "False"))
    _assert_ran(done, "statuses: ['TERMINATED'] 10")
    # verbose=False is Ray's silent level: only the script's own prints.
    assert done.stdout.splitlines()[0].startswith("best config:  {'guess':")
    # The embedded cluster's worker processes are gone with the run.
    assert _worker_processes() <= before


@pytest.mark.slow
def test_a_script_read_from_standard_input_runs(tmp_path):
    done = run_script(tmp_path, GUESSER.replace("VERBOSE", "True"), stdin_mode=True)
    _assert_ran(done, "statuses: ['TERMINATED'] 10")
    assert "== dasktune: 10 trial(s)" in done.stdout  # verbose=True is the default level


@pytest.mark.slow
def test_code_run_like_a_notebook_cell_runs(tmp_path):
    # A notebook cell's classes live in a __main__ that has no file: exec() from `python -c`.
    (tmp_path / "cell.py").write_text(GUESSER.replace("VERBOSE", "0"))
    done = subprocess.run(
        [sys.executable, "-c", "exec(open('cell.py').read())"],
        capture_output=True,
        text=True,
        timeout=180,
        env=script_env(tmp_path),
        cwd=tmp_path,
    )
    _assert_ran(done, "statuses: ['TERMINATED'] 10")


@pytest.mark.slow
def test_a_trial_asking_for_every_cpu_runs_on_the_embedded_cluster(tmp_path):
    # Ray's xgboost/keras/pytorch examples ask for 2 CPUs per trial on a laptop.
    cpus = len(__import__("os").sched_getaffinity(0))
    script = f"""
        import json, os
        import dasktune as tune

        def train(config, reporter):
            for step in range(3):
                reporter(step=step, pid=os.getpid(), gpus=os.environ.get("CUDA_VISIBLE_DEVICES"))

        analysis = tune.run(train, resources_per_trial={{"cpu": {cpus}}}, num_samples=2,
                            verbose=False)
        print(json.dumps([[t.status, t.last_result["pid"]] for t in analysis.trials]))
    """
    done = run_script(tmp_path, script)
    assert done.returncode == 0, done.stderr[-4000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert [status for status, _ in rows] == ["TERMINATED", "TERMINATED"]


@pytest.mark.slow
def test_a_trial_larger_than_the_machine_fails_at_once_naming_the_fix(tmp_path):
    script = """
        import dasktune as tune

        def train(config):
            tune.track.log(score=1)

        tune.run(train, resources_per_trial={"cpu": 4096}, verbose=False)
    """
    done = run_script(tmp_path, script, timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: a trial needs 4096 CPU but this machine has")
    assert "client=" in last


@pytest.mark.slow
def test_a_dead_worker_process_is_started_again_and_its_trial_retried(tmp_path):
    script = """
        import os, signal
        import dasktune as tune

        class Crashy(tune.Trainable):
            def _setup(self, config):
                self.n = 0

            def _train(self):
                self.n += 1
                if self.n == 2:
                    try:  # created atomically: the two trials get here at the same time
                        os.close(os.open("killed", os.O_CREAT | os.O_EXCL))
                    except FileExistsError:
                        return {"n": self.n}
                    os.kill(os.getpid(), signal.SIGKILL)  # the whole worker process dies
                return {"n": self.n}

            def _save(self, d):
                return {"n": self.n}

            def _restore(self, checkpoint):
                self.n = checkpoint["n"]

        analysis = tune.run(Crashy, stop={"training_iteration": 4}, num_samples=2,
                            max_failures=1, checkpoint_freq=1, verbose=False)
        print(sorted((t.status, t.num_failures) for t in analysis.trials))
    """
    done = run_script(tmp_path, script)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "[('TERMINATED', 0), ('TERMINATED', 1)]" in done.stdout
    assert "embedded worker dasktune-" in done.stderr and "starting it again" in done.stderr
