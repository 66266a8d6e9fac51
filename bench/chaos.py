"""Chaos run: trials keep exactly the right state while their workers are SIGKILLed at random.

What it shows. ``tune.run`` trains ``--trials`` checkpointing trials for ``--iterations``
results each on a ``LocalCluster`` of ``--workers`` worker processes (2 threads, so 2 trial slots,
each), with ``checkpoint_freq=1`` and ``max_failures=-1``. Meanwhile a killer thread SIGKILLs a
random worker process every ``--kill-every`` seconds (its nanny starts a fresh one). Every trial
whose worker dies must be restarted by dasktune from its newest committed checkpoint on a live
worker, and end with exactly the state an uninterrupted run would have.

The trainable, ``ChaosCounter``, keeps a counter ``n``, a running sum ``value`` (step ``k`` adds
``k * seed``, ``seed`` drawn per trial) and the list of every increment, from which it derives
``checksum = sum(k * increment_k)``. Each result carries ``value``/``checksum`` and what an
uninterrupted run has at that iteration in closed form (``expected``/``expected_checksum``). A
restore of the wrong checkpoint, of another trial's, of a partial one, or with state and
iteration counter out of step shows up as a mismatch on the very row after it.

How to read the output. First one line per kill (time, worker address, PID); then per trial:
its seed, failures counted by dasktune, rows in ``result.json``, repeated iterations and the
final value. Then the totals:

- ``kills survived``: SIGKILLs sent to worker processes while the run was going on;
- ``worker processes seen``: distinct worker PIDs (the first ones plus the nannies' restarts);
- ``results lost``: iterations 1..I with no row in ``result.json`` (must be 0);
- ``extra iterations repeated``: rows beyond one per iteration. A result is logged before its
  checkpoint is committed, so a kill during that checkpoint's save makes the restarted trial
  redo that iteration (it then appears twice, the repeat with ``iterations_since_restore`` 1).
  Expect at most one per failure, and far fewer: most kills land in a step, not a save;
- ``failures counted by dasktune``: sum of ``trial.num_failures``. A kill of an idle worker (or
  of one whose trials had just finished) costs none; a kill of a worker running two trials, two;
- ``failures not caused by a lost worker``: entries of ``error.txt`` that are not "was lost"
  (the trainable itself never raises, so this must be 0);
- ``wall time`` of ``tune.run``; ``nannies left``: should stay ``W of W``.

Then ``OK`` (exit 0), or ``FAILED`` with one line per broken check (exit 1): a trial did not end
TERMINATED at iteration I with the right value; a row holds wrong state; a result is lost; a
row's iteration jumps without a restore; a restore went back further than the in-flight
iteration (with ``checkpoint_freq=1`` the newest committed checkpoint is at most one behind);
``error.txt`` and ``num_failures`` disagree; a failure blames a worker that was never killed; or
no kill happened at all. If the run does not finish within ``--timeout`` seconds it prints the
cluster's nannies and workers, every unfinished trial's last rows and ``error.txt``, the
threads' stacks, and exits 2. Failing runs keep their results directory (printed); ``--keep``
keeps it always. Seeds fix the trials' configs and the killer's choices, not the timing.

The cluster is configured with ``distributed.deploy.lost-worker-timeout`` of a day: by default
a ``LocalCluster`` closes a nanny for good if 15 s after its worker left no worker of that name
is up, which under repeated kills (a worker killed again while restarting) empties the cluster.

    python bench/chaos.py [--trials 8] [--iterations 40] [--kill-every 3.0] [--workers 4]
                          [--seed N] [--timeout 900] [--keep]
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

if __package__ in (None, ""):
    # this repository's dasktune, whatever an installed (or editable) one points at; the
    # workers are spawned with this sys.path too
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dask
from distributed import Client, LocalCluster

import dasktune as tune

EXPERIMENT = "chaos"
# How error.txt names the worker of a lost-worker failure.
LOST_WORKER = re.compile(r"the worker (\S+) holding the trial's actor was lost")


# -- the trainable ---------------------------------------------------------------------------
def expected_value(seed: int, n: int) -> int:
    """``value`` after ``n`` uninterrupted steps: ``sum(k * seed for k in 1..n)``."""
    return seed * n * (n + 1) // 2


def expected_checksum(seed: int, n: int) -> int:
    """``checksum`` after ``n`` uninterrupted steps: ``sum(k * (k * seed) for k in 1..n)``."""
    return seed * n * (n + 1) * (2 * n + 1) // 6


class ChaosCounter(tune.Trainable):
    """Counts with per-trial increments; its whole state goes into each checkpoint."""

    def _setup(self, config: dict[str, Any]) -> None:
        self.seed: int = int(config["seed"])
        self.n = 0
        self.value = 0
        self.increments: list[int] = []

    def _train(self) -> dict[str, Any]:
        time.sleep(random.uniform(0.1, 0.2))
        self.n += 1
        increment = self.n * self.seed
        self.value += increment
        self.increments.append(increment)
        # dasktune's own counter (restored from the checkpoint's metadata) for this result
        iteration = self.iteration + 1
        return {
            "n": self.n,
            "value": self.value,
            "checksum": sum(k * inc for k, inc in enumerate(self.increments, start=1)),
            "history_len": len(self.increments),
            "expected": expected_value(self.seed, iteration),
            "expected_checksum": expected_checksum(self.seed, iteration),
            "worker_pid": os.getpid(),
        }

    def _save(self, tmp_checkpoint_dir: str) -> dict[str, Any]:
        return {"n": self.n, "value": self.value, "increments": list(self.increments)}

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        self.n = checkpoint["n"]
        self.value = checkpoint["value"]
        self.increments = list(checkpoint["increments"])


# -- the killer ------------------------------------------------------------------------------
def _parent_pid(pid: int) -> int | None:
    """The parent of ``pid`` (from /proc), or None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses
    return int(stat.rsplit(")", 1)[1].split()[1])


@dataclass
class Killer:
    """SIGKILLs a random live worker of ``client``'s cluster every ``every`` seconds."""

    client: Client
    every: float
    rng: random.Random
    kills: int = 0
    pids_seen: set[int] = field(default_factory=set)
    killed: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="chaos-killer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def worker_pids(self) -> dict[str, int]:
        """PIDs of the workers answering now; only children of this process (their nannies
        run here), so nothing outside this cluster is ever a candidate."""
        replies = self.client.run(os.getpid, on_error="return")
        me = os.getpid()
        pids = {}
        for addr, pid in replies.items():
            if isinstance(pid, int) and _parent_pid(pid) in (me, None):
                pids[addr] = pid
        self.pids_seen.update(pids.values())
        return pids

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                pids = self.worker_pids()
            except Exception as exc:  # noqa: BLE001 - a dying worker may break one broadcast
                self.log.append(f"listing workers failed: {exc!r}")
                continue
            if not pids or self._stop.is_set():
                continue
            addr = self.rng.choice(sorted(pids))
            pid = pids[addr]
            if _parent_pid(pid) not in (os.getpid(), None):
                continue  # it died and the PID is someone else's now
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills += 1
            self.killed.add(addr)
            self.log.append(f"{time.strftime('%H:%M:%S')} killed {addr} (pid {pid})")


# -- checking --------------------------------------------------------------------------------
def read_rows(logdir: str) -> list[dict[str, Any]]:
    """The rows of a trial's result.json."""
    path = os.path.join(logdir, "result.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_errors(logdir: str) -> list[str]:
    """The failure entries of a trial's error.txt."""
    path = os.path.join(logdir, "error.txt")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read()
    return ["Failure #" + part for part in text.split("Failure #")[1:]]


@dataclass
class TrialReport:
    """What one trial's files say."""

    name: str
    seed: int
    status: str
    failures: int
    rows: int
    repeats: int
    lost: int
    final: int | None
    other_errors: list[str]
    problems: list[str]


def check_trial(trial: Any, iterations: int, killed: set[str]) -> TrialReport:
    """Check one trial's status, final result, every logged row, and that each failure in its
    error.txt names a lost worker the killer had killed (``killed``: worker addresses)."""
    seed = int(trial.config["seed"])
    name = str(trial)
    rows = read_rows(trial.logdir)
    errors = read_errors(trial.logdir)
    problems: list[str] = []
    last = trial.last_result
    final_iter = last.get("training_iteration")
    if trial.status != "TERMINATED":
        problems.append(f"{name}: status {trial.status} (error: {trial.error_msg!r:.300})")
    if final_iter != iterations:
        problems.append(f"{name}: ended at iteration {final_iter}, not {iterations}")
    if last.get("value") != expected_value(seed, iterations):
        problems.append(
            f"{name}: final value {last.get('value')}, expected {expected_value(seed, iterations)}"
        )
    previous = 0
    for i, row in enumerate(rows, start=1):
        it = row["training_iteration"]
        want = (it, expected_value(seed, it), expected_checksum(seed, it), it)
        got = (row["n"], row["value"], row["checksum"], row["history_len"])
        if got != want or row["expected"] != want[1] or row["expected_checksum"] != want[2]:
            problems.append(
                f"{name}: row {i} (iteration {it}) holds wrong state: (n, value, checksum, "
                f"history_len) = {got}, expected {want}"
            )
        if it != previous + 1:
            if row["iterations_since_restore"] != 1:
                problems.append(
                    f"{name}: row {i} jumps from iteration {previous} to {it} without a restore"
                )
            elif it < previous:
                problems.append(
                    f"{name}: row {i} restarted at iteration {it} after {previous} was logged: "
                    "the restore went back further than the in-flight checkpoint"
                )
        if it > iterations:
            problems.append(f"{name}: row {i} is iteration {it}, past the stop at {iterations}")
        previous = it
    seen = {row["training_iteration"] for row in rows}
    missing = sorted(set(range(1, iterations + 1)) - seen)
    if missing:
        problems.append(f"{name}: result.json has no row for iteration(s) {missing}")
    if len(errors) != trial.num_failures:
        problems.append(
            f"{name}: num_failures is {trial.num_failures} but error.txt has {len(errors)} entries"
        )
    other = [e for e in errors if "was lost" not in e]
    for entry in other:
        problems.append(f"{name}: a failure that is not a lost worker:\n{entry.strip()}")
    for entry in errors:
        match = LOST_WORKER.search(entry)
        if match and match.group(1) not in killed:
            problems.append(
                f"{name}: a failure blames worker {match.group(1)}, which was never killed:\n"
                f"{entry.strip()}"
            )
    return TrialReport(
        name=name,
        seed=seed,
        status=trial.status,
        failures=trial.num_failures,
        rows=len(rows),
        repeats=len(rows) - len(seen),
        lost=len(missing),
        final=last.get("value"),
        other_errors=other,
        problems=problems,
    )


# -- hang diagnostics ------------------------------------------------------------------------
def dump_cluster(cluster: LocalCluster) -> None:
    """Print each nanny's status and its worker process, and the scheduler's workers."""
    print("cluster:")
    for name, nanny in list(cluster.workers.items()):
        process = getattr(nanny, "process", None)
        pid = getattr(nanny, "pid", None)
        alive = None
        if pid:
            alive = _parent_pid(pid) == os.getpid()
        print(
            f"  nanny {name}: status {getattr(nanny, 'status', '?')}, worker pid {pid} "
            f"(alive: {alive}), worker process {'set' if process else 'none'}"
        )
    try:
        workers = cluster.scheduler_info.get("workers", {})
        print(f"  scheduler knows {len(workers)} worker(s): {sorted(workers)}")
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        print(f"  scheduler info unavailable: {exc!r}")


def dump_hang(experiment_dir: str, iterations: int, cluster: LocalCluster) -> None:
    """Print what every unfinished trial's files say, the cluster, and every thread's stack."""
    print(f"\nHANG: the run did not finish; experiment dir {experiment_dir}", flush=True)
    dump_cluster(cluster)
    state_path = os.path.join(experiment_dir, "experiment_state.json")
    statuses: dict[str, str] = {}
    if os.path.exists(state_path):
        with open(state_path) as f:
            state = json.load(f)
        statuses = {t["dirname"]: t.get("status", "?") for t in state.get("trials", [])}
    dirs = sorted(
        d for d in os.listdir(experiment_dir) if os.path.isdir(os.path.join(experiment_dir, d))
    )
    for dirname in dirs:
        logdir = os.path.join(experiment_dir, dirname)
        rows = read_rows(logdir)
        last = rows[-1]["training_iteration"] if rows else 0
        if last == iterations and statuses.get(dirname) == "TERMINATED":
            continue
        tail = [(r["training_iteration"], r["iterations_since_restore"]) for r in rows[-5:]]
        print(
            f"  {dirname}: state-file status {statuses.get(dirname, '?')}, {len(rows)} rows, "
            f"last (iteration, since_restore) {tail}"
        )
        for entry in read_errors(logdir)[-3:]:
            print("    " + entry.strip().replace("\n", "\n    "))
    print("\nthread stacks:", flush=True)
    faulthandler.dump_traceback(all_threads=True)


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the chaos experiment; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between kills")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    parser.add_argument("--timeout", type=float, default=900.0, help="hang limit, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the results dir")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(
        f"chaos: {args.trials} trials x {args.iterations} iterations on {args.workers} workers "
        f"(2 slots each), a SIGKILL every {args.kill_every:g} s, seed {seed}",
        flush=True,
    )
    print(f"dasktune from {os.path.dirname(tune.__file__)}", flush=True)
    local_dir = tempfile.mkdtemp(prefix="dasktune_chaos_")
    experiment_dir = os.path.join(local_dir, EXPERIMENT)
    # A LocalCluster closes a worker's nanny for good when no worker of that name is back
    # 'lost-worker-timeout' (15 s) after one left; under repeated kills on a busy machine that
    # shrinks the cluster to nothing. Nannies here must restart their workers forever (the
    # setting is read at each worker loss, so it stays set for the whole process).
    dask.config.set({"distributed.deploy.lost-worker-timeout": "1 day"})
    cluster = LocalCluster(
        n_workers=args.workers, threads_per_worker=2, processes=True, dashboard_address=":0"
    )
    client = Client(cluster, direct_to_workers=True, set_as_default=False)
    killer = Killer(client, args.kill_every, random.Random(seed))
    finished = threading.Event()

    def watchdog() -> None:
        if finished.wait(args.timeout):
            return
        dump_hang(experiment_dir, args.iterations, cluster)
        print(f"\nkills so far: {killer.kills}; killer log tail: {killer.log[-5:]}", flush=True)
        for pid in killer.pids_seen:  # only this cluster's workers
            if _parent_pid(pid) == os.getpid():
                os.kill(pid, signal.SIGKILL)
        print(f"results kept in {local_dir}", flush=True)
        os._exit(2)

    threading.Thread(target=watchdog, name="chaos-watchdog", daemon=True).start()
    ok = False
    try:
        killer.worker_pids()
        killer.start()
        started = time.perf_counter()
        try:
            analysis = tune.run(
                ChaosCounter,
                name=EXPERIMENT,
                config={"seed": tune.randint(1, 1_000_000)},
                num_samples=args.trials,
                stop={"training_iteration": args.iterations},
                checkpoint_freq=1,
                max_failures=-1,
                client=client,
                local_dir=local_dir,
                verbose=0,
                seed=seed,
                raise_on_failed_trial=False,
            )
        finally:
            wall = time.perf_counter() - started
            killer.stop()
            finished.set()
        reports = [check_trial(t, args.iterations, killer.killed) for t in analysis.trials]
        print()
        for line in killer.log:
            print(line)
        print(f"\n{'trial':<28} {'seed':>7} {'fail':>4} {'rows':>4} {'rep':>3} final value")
        for r in reports:
            print(
                f"{r.name:<28} {r.seed:>7} {r.failures:>4} {r.rows:>4} {r.repeats:>3} {r.final}"
                + ("" if r.status == "TERMINATED" else f"  [{r.status}]")
            )
        problems = [p for r in reports for p in r.problems]
        print()
        print(f"kills survived:                        {killer.kills}")
        print(f"worker processes seen:                 {len(killer.pids_seen)}")
        print(f"results lost:                          {sum(r.lost for r in reports)}")
        print(f"extra iterations repeated:             {sum(r.repeats for r in reports)}")
        print(f"failures counted by dasktune:          {sum(r.failures for r in reports)}")
        print(f"failures not caused by a lost worker:  {sum(len(r.other_errors) for r in reports)}")
        print(f"wall time:                             {wall:.1f} s")
        print(f"nannies left in the cluster:           {len(cluster.workers)} of {args.workers}")
        if killer.kills == 0:
            problems.append(
                "no worker was killed: the run ended before the first kill (raise --iterations "
                "or lower --kill-every)"
            )
        if problems:
            print(f"\nFAILED ({len(problems)} problem(s)):")
            for p in problems:
                print("  - " + p.replace("\n", "\n    "))
        else:
            print("\nOK: every trial TERMINATED at its final iteration with the right state.")
            ok = True
    except Exception:
        traceback.print_exc()
        print("\nFAILED: tune.run raised (traceback above)")
    finally:
        finished.set()
        killer.stop()
        client.close()
        cluster.close()
        if ok and not args.keep:
            shutil.rmtree(local_dir, ignore_errors=True)
        else:
            print(f"results kept in {local_dir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
