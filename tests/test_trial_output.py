"""What trials print (issue 14, item 3): shown on the driver after the trial's name, kept whole
in the trial's directory, and bounded on the terminal when a trial prints megabytes."""

from __future__ import annotations

import contextvars
import io
import json
import re
import sys
import threading
from pathlib import Path

import fsspec
import pytest
from scripts import run_script

import dasktune as tune
from dasktune import trial_output
from dasktune.trial_output import (
    BURST_BYTES,
    OutputPrinter,
    TrialOutput,
    current_output,
    install_router,
)

SCRIPT = """
import sys
import dasktune as tune

def train(config):
    print(f"setting up x={config['x']}")
    for i in range(3):
        print(f"step {i} of x={config['x']}")
        if config["x"] == 2 and i == 1:
            # 10 MB in 100,000 lines: far more than a terminal should get.
            sys.stdout.write(("z" * 99 + "\\n") * 100_000)
            print("a warning of x=2", file=sys.stderr)
        tune.report(loss=i)

class Chatty(tune.Trainable):
    def setup(self, config):
        print("class setup")

    def step(self):
        print(f"class step {self.iteration}", flush=True)
        return {"loss": 1.0, "done": self.iteration >= 1}

    def cleanup(self):
        print("class cleanup")

dirs = {}
for trainable, config in ((train, {"x": tune.grid_search([1, 2])}), (Chatty, {})):
    analysis = tune.run(trainable, config=config, local_dir="results", verbose=0)
    dirs.update({str(t): t.logdir for t in analysis.trials})
print("DIRS " + __import__("json").dumps(dirs))
"""


def lines_of(out: str, trial: str) -> list[str]:
    prefix = f"({trial}) "
    return [line[len(prefix) :] for line in out.splitlines() if line.startswith(prefix)]


@pytest.mark.slow
def test_trial_output_reaches_the_driver_prefixed_bounded_and_whole_in_the_trial_dir(tmp_path):
    done = run_script(tmp_path, SCRIPT)
    assert done.returncode == 0, done.stderr[-3000:]
    dirs = json.loads(done.stdout.split("DIRS ", 1)[1].splitlines()[0])
    quiet, loud = sorted(t for t in dirs if t.startswith("train_"))
    (chatty,) = [t for t in dirs if t.startswith("Chatty_")]

    # Each line after its trial's name, in order (verbose=0 hides dasktune's own output only,
    # as Ray's log_to_driver shows workers' output whatever the verbosity).
    assert lines_of(done.stdout, quiet) == ["setting up x=1"] + [
        f"step {i} of x=1" for i in range(3)
    ]
    assert lines_of(done.stdout, chatty) == ["class setup", "class step 0", "class step 1"] + [
        "class cleanup"
    ]
    assert lines_of(done.stderr, loud) == ["a warning of x=2"]
    # At verbose=0 dasktune itself prints nothing: every other line is the script's own.
    others = [line for line in done.stdout.splitlines() if not line.startswith("(")]
    assert others == [f"DIRS {json.dumps(dirs)}"]
    # The 10 MB did not reach the terminal; one line says so and where it is.
    assert len(done.stdout) < 2 * BURST_BYTES
    loud_lines = lines_of(done.stdout, loud)
    assert loud_lines[:2] == ["setting up x=2", "step 0 of x=2"]
    stdout_file = Path(dirs[loud]) / "stdout"
    notice = [line for line in loud_lines if "dropped" in line]
    assert notice == [
        f"{int(notice[0].split()[0])} bytes of output from {loud} dropped, see {stdout_file}"
    ]
    assert int(notice[0].split()[0]) >= 10_000_000
    assert not any(re.fullmatch("z+", line) for line in loud_lines)

    # Everything is in the trial's directory.
    text = stdout_file.read_text()
    assert text.count("z" * 99 + "\n") == 100_000
    assert text.startswith("setting up x=2\nstep 0 of x=2\nstep 1 of x=2\n")
    assert text.endswith("step 2 of x=2\n")
    assert (Path(dirs[loud]) / "stderr").read_text() == "a warning of x=2\n"
    assert (Path(dirs[chatty]) / "stdout").read_text() == (
        "class setup\nclass step 0\nclass step 1\nclass cleanup\n"
    )


def test_writes_are_routed_by_the_running_trial_and_others_pass_through(tmp_path, monkeypatch):
    # Restored after the test: the router stays out of the test session's own streams.
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    install_router()
    install_router()  # once per process, however often hosts ask
    assert isinstance(sys.stdout, trial_output._RoutedStream)
    assert not isinstance(sys.stdout._original, trial_output._RoutedStream)
    output = TrialOutput("t1", str(tmp_path / "t1"))

    def trial_code() -> None:
        print("from the trial")

        def child() -> None:
            print("from a thread the trial started")

        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(child,))
        thread.start()
        thread.join()

    context = contextvars.copy_context()
    context.run(current_output().set, output)
    context.run(trial_code)
    drained = output.drain()
    assert drained["text"] == {"stdout": "from the trial\nfrom a thread the trial started\n"}
    assert output.drain() is None  # drained once
    output.close()
    assert (tmp_path / "t1" / "stdout").read_text() == drained["text"]["stdout"]


def test_the_drivers_share_is_bounded_and_dropped_bytes_are_announced(tmp_path):
    now = [0.0]
    output = TrialOutput("t2", str(tmp_path), forward=True, clock=lambda: now[0])
    line = "x" * 1023 + "\n"  # 1 KiB
    for _ in range(200):  # 200 KiB at once: the burst (64 KiB) passes, the rest is dropped
        output.write("stdout", line)
    drained = output.drain()
    assert drained["text"] == {"stdout": line * 64}
    assert drained["dropped"] == {"stdout": 136 * 1024}
    # A second later 32 KiB more may pass.
    now[0] = 1.0
    for _ in range(40):
        output.write("stdout", line)
    drained = output.drain()
    assert drained["text"] == {"stdout": line * 32}
    assert drained["dropped"] == {}  # the last notice was a second ago: the next one waits...
    now[0] = 2.0
    assert output.drain(final=True)["dropped"] == {"stdout": 8 * 1024}  # ...unless it ends
    output.close()
    assert (tmp_path / "stdout").stat().st_size == 240 * 1024

    silent = TrialOutput("t3", str(tmp_path / "t3"), forward=False)
    silent.write("stderr", "kept, not shown\n")
    assert silent.drain() is None
    silent.close()
    assert (tmp_path / "t3" / "stderr").read_text() == "kept, not shown\n"

    out, err = io.StringIO(), io.StringIO()
    OutputPrinter(lambda: out, lambda: err)(
        {
            "trial": "t2",
            "dir": "/exp/t2/",
            "text": {"stdout": "a\nb", "stderr": "c\n"},
            "dropped": {"stdout": 5},
        }
    )
    # "b" waits for the rest of its line.
    assert out.getvalue() == "(t2) a\n(t2) 5 bytes of output from t2 dropped, see /exp/t2/stdout\n"
    assert err.getvalue() == "(t2) c\n"
    printer = OutputPrinter(lambda: out, lambda: err)
    out.truncate(0), out.seek(0)
    piece = {"trial": "t2", "dir": "/d", "dropped": {}}
    printer({**piece, "text": {"stdout": "loss: "}})
    printer({**piece, "text": {"stdout": "0.5\nnext"}})
    assert out.getvalue() == "(t2) loss: 0.5\n"
    printer({**piece, "text": {}, "final": True})  # the trial ended mid-line
    assert out.getvalue() == "(t2) loss: 0.5\n(t2) next\n"

    # The worker says when a trial ends inside a line, even with nothing new to send.
    unfinished = TrialOutput("t4", str(tmp_path / "t4"))
    unfinished.write("stdout", "no newline")
    assert unfinished.drain()["text"] == {"stdout": "no newline"}
    assert unfinished.drain() is None
    assert unfinished.drain(final=True)["final"] is True
    unfinished.close()


def _printing(config):
    print(f"hello from x={config['x']}")
    marker = Path(config["marker"])
    if not marker.exists():  # the first start fails, after printing
        marker.touch()
        raise RuntimeError("first start fails")
    tune.report(loss=1.0)


@pytest.mark.s3
def test_output_of_a_trial_on_s3_is_shown_and_uploaded_to_its_directory(
    client, s3_bucket, capsys, tmp_path
):
    url, options = s3_bucket
    analysis = tune.run(
        _printing,
        config={"x": 7, "marker": str(tmp_path / "failed-once")},
        max_failures=1,
        local_dir=f"{url}/out",
        storage_options=options,
        client=client,
        verbose=0,
    )
    (trial,) = analysis.trials
    assert trial.status == "TERMINATED" and trial.num_failures == 1
    assert capsys.readouterr().out.count(f"({trial}) hello from x=7\n") == 2
    # Both starts' output, the first one's first (an object store cannot append).
    fs, path = fsspec.core.url_to_fs(f"{trial.logdir}/stdout", **options)
    assert fs.cat_file(path).decode() == "hello from x=7\n" * 2
