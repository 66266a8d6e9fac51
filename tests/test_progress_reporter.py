"""The status table (issue 14, item 2): ``dasktune.progress_reporter`` (Ray's
``CLIReporter``), ``tune.run(progress_reporter=...)``, and the table a plain script prints at
``verbose=1``."""

from __future__ import annotations

import re

import pytest
from scripts import run_script
from trainables import Counter

import dasktune as tune
from dasktune.progress_reporter import CLIReporter, JupyterNotebookReporter, ProgressReporter
from dasktune.resources import Resources
from dasktune.trial import Trial, TrialStatus


def make_trial(index: int, status: str, config: dict, result: dict | None = None) -> Trial:
    trial = Trial(f"t{index:05d}", index, "Counter", config, str(index), f"d{index}", Resources())
    trial.status = status
    trial.last_result = dict(result or {})
    return trial


def header(table: str) -> list[str]:
    """The header cells of the trial table in a report."""
    line = next(line for line in table.splitlines() if line.startswith("| Trial name"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_columns_appear_once_reported_and_statuses_are_counted():
    reporter = CLIReporter(total_samples=3)
    trials = [
        make_trial(0, TrialStatus.PENDING, {"lr": 0.1, "model": {"depth": 2}}),
        make_trial(1, TrialStatus.PENDING, {"lr": 0.2, "model": {"depth": 3}}),
    ]
    text = "\n".join(reporter.progress_str(trials, False, "Using FIFO scheduling algorithm."))
    assert text.startswith("== Status ==\nCurrent time: ")
    assert re.search(r"\(running for \d\d:\d\d:\d\d\.\d\d\)", text)
    assert "Using FIFO scheduling algorithm." in text
    assert "Number of trials: 2/3 (2 PENDING)" in text
    # No result yet: config columns only.
    assert header(text) == ["Trial name", "status", "loc", "lr", "model/depth"]

    trials[0].status, trials[0].location = TrialStatus.RUNNING, "tcp://127.0.0.1:4000"
    trials[0].last_result = {"training_iteration": 2, "time_total_s": 1.5, "acc": 0.25}
    trials[1].status = TrialStatus.TERMINATED
    trials[1].last_result = {"training_iteration": 4, "time_total_s": 3.0, "acc": 0.5}
    trials.append(make_trial(2, TrialStatus.ERROR, {"lr": 0.3, "model": {"depth": 4}}))
    trials[2].num_failures, trials[2].logdir = 1, "/results/exp/d2"
    text = "\n".join(reporter.progress_str(trials, True))
    assert "Number of trials: 3/3 (1 ERROR, 1 RUNNING, 1 TERMINATED)" in text
    assert header(text) == [
        "Trial name",
        "status",
        "loc",
        "lr",
        "model/depth",
        "acc",
        "total time (s)",
        "iter",
    ]
    row = next(line for line in text.splitlines() if "Counter_t00000" in line)
    assert "RUNNING" in row and "tcp://127.0.0.1:4000" in row and "0.25" in row
    assert "Number of errored trials: 1" in text
    assert "/results/exp/d2/error.txt" in text


def test_chosen_columns_rows_limit_and_frequency():
    reporter = CLIReporter(
        metric_columns={"acc": "accuracy"},
        parameter_columns=["lr"],
        max_progress_rows=2,
        max_report_frequency=60,
    )
    reporter.add_metric_column("loss")
    trials = [
        make_trial(i, TrialStatus.TERMINATED, {"lr": i, "b": 1}, {"acc": i, "x": 1})
        for i in range(4)
    ]
    trials[3].status = TrialStatus.RUNNING
    text = "\n".join(reporter.progress_str(trials, False))
    # loss is chosen but nobody reported it yet; x is reported but not chosen.
    assert header(text) == ["Trial name", "status", "loc", "lr", "accuracy"]
    shown = [line for line in text.splitlines() if "Counter_t" in line]
    assert len(shown) == 2 and "Counter_t00003" in shown[0] + shown[1]  # running ones first
    assert "... 2 more trials not shown (2 TERMINATED)" in text
    with pytest.raises(ValueError, match="already shown"):
        reporter.add_metric_column("acc")
    assert reporter.should_report(trials) is True  # at once...
    assert reporter.should_report(trials) is False  # ...then every 60 s...
    assert reporter.should_report(trials, done=True) is True  # ...and at the end


class Recording(ProgressReporter):
    """A user's reporter: records each call."""

    def __init__(self):
        self.reports = []
        self.total = None

    def set_total_samples(self, total_samples):
        self.total = total_samples

    def should_report(self, trials, done=False):
        return True

    def report(self, trials, done, *sys_info):
        self.reports.append((done, [t.status for t in trials], sys_info))


def test_progress_reporter_runs_in_tune_run(client, results_dir, capsys):
    reporter = Recording()
    tune.run(
        Counter,
        stop={"training_iteration": 2},
        config={"step": tune.grid_search([1, 2])},
        progress_reporter=reporter,
        local_dir=results_dir,
        client=client,
        verbose=1,
    )
    assert reporter.total == 2
    done, statuses, sys_info = reporter.reports[-1]
    assert done is True and statuses == [TrialStatus.TERMINATED] * 2
    assert sys_info[0] == "Using FIFO scheduling algorithm."
    assert re.fullmatch(r"Logical resource usage: 0/2 CPUs, 0/0 GPUs", sys_info[1])
    assert sys_info[2].startswith("Result logdir: ") and results_dir in sys_info[2]
    assert all(done is False for done, _, _ in reporter.reports[:-1])
    # The user's reporter replaces the default table.
    assert "== Status ==" not in capsys.readouterr().out


def test_no_reporter_calls_at_verbose_0(client, results_dir):
    reporter = Recording()
    tune.run(
        Counter,
        stop={"training_iteration": 1},
        progress_reporter=reporter,
        local_dir=results_dir,
        client=client,
        verbose=0,
    )
    assert reporter.reports == []


class Broken(CLIReporter):
    def report(self, trials, done, *sys_info):
        raise RuntimeError("no terminal")


def test_bad_reporters_are_named(client, results_dir):
    with pytest.raises(TypeError, match="progress_reporter= must be a reporter instance"):
        tune.run(Counter, progress_reporter=CLIReporter, local_dir=results_dir)
    with pytest.raises(tune.TuneError, match=r"Broken.report\(\) raised RuntimeError"):
        tune.run(
            Counter,
            stop={"training_iteration": 1},
            progress_reporter=Broken(),
            local_dir=results_dir,
            client=client,
        )


def test_notebook_reporter_prints_text_outside_ipython(capsys):
    reporter = JupyterNotebookReporter(overwrite=True)
    reporter.report([make_trial(0, TrialStatus.PENDING, {"lr": 1})], False)
    assert "== Status ==" in capsys.readouterr().out


def test_a_script_prints_the_status_table_at_verbose_1(tmp_path):
    proc = run_script(
        tmp_path,
        """
        import dasktune as tune

        def train(config):
            for i in range(3):
                tune.report(acc=config["lr"] * (i + 1))

        tune.run(
            train,
            name="table",
            config={"lr": tune.grid_search([0.1, 0.2])},
            local_dir="results",
            verbose=1,
        )
        """,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "== Status ==" in out and "Using FIFO scheduling algorithm." in out
    assert "Logical resource usage: " in out and "Result logdir: " in out
    assert re.search(r"^Memory usage on this node: \d+\.\d/\d+\.\d GiB", out, re.M)
    # The Dask dashboard and the run's page on it, once, before the first table.
    links = re.findall(
        r"^Dask dashboard: (http://127\.0\.0\.1:\d+)/status  ·  dasktune page: (\S+)$",
        out,
        re.M,
    )
    assert len(links) == 1 and links[0][1] == f"{links[0][0]}/dasktune"
    assert out.index("Dask dashboard: ") < out.index("== Status ==")
    final = out[out.rindex("== Status ==") :]
    assert "Number of trials: 2/2 (2 TERMINATED)" in final
    cells = header(final)
    assert cells[:4] == ["Trial name", "status", "loc", "lr"] and "acc" in cells
    assert "iter" in cells and "total time (s)" in cells
    rows = [line for line in final.splitlines() if line.startswith("| train_")]
    assert len(rows) == 2 and all("TERMINATED" in row for row in rows)
    assert "== Status: " not in out  # the one-line status of before is gone
