"""The ``dasktune`` command on a finished experiment, run as a user runs it: in a subprocess
(``python -m dasktune`` and the console script's entry point), locally and on S3 (moto)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from finished_experiment import (
    ITERATIONS,
    QS,
    expected_loss,
    local_experiment,
)
from scripts import REPO, script_env
from services.s3 import s3_filesystem

pytestmark = pytest.mark.slow

# matplotlib's first three default line colours: the trials' curves, in order.
CURVE_COLOURS = [(0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C)]


def dasktune(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m dasktune ARGS`` from ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "dasktune", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env or script_env(cwd),
    )


def storage_flags(options: dict[str, Any]) -> list[str]:
    """``options`` as --storage-option flags, nested keys dotted, as a user would type them."""
    flags = []
    for key, value in options.items():
        if isinstance(value, dict) and key == "client_kwargs":
            for sub, sub_value in value.items():
                flags += ["--storage-option", f"{key}.{sub}={sub_value}"]
        else:
            flags += ["--storage-option", f"{key}={json.dumps(value)}"]
    return flags


@pytest.fixture(scope="module")
def local_exp(tmp_path_factory) -> tuple[Path, str]:
    return local_experiment(tmp_path_factory)


@pytest.fixture(scope="module")
def s3_exp(local_exp, moto_server) -> tuple[Path, str, dict[str, Any]]:
    """The finished experiment in a bucket, uploaded as `aws s3 sync` would (a run writing to
    S3 itself is read back in tests/test_storage_suite.py; this saves a second run)."""
    home, local = local_exp
    moto_server.reset()
    bucket = moto_server.make_bucket("cli-bucket")
    options = moto_server.storage_options()
    url = f"{bucket}/results/exp"
    s3_filesystem(options).put(local, url, recursive=True)
    return home, url, options


def check_ls(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["trial", "status", "iter", "loss", "acc"]
    assert len(lines) == 1 + len(QS)
    for line, q in zip(lines[1:], QS, strict=True):
        name, status, iterations, loss, acc = line.split()
        assert name.startswith("Curve_") and status == "TERMINATED"
        assert int(iterations) == ITERATIONS
        assert float(loss) == pytest.approx(expected_loss(q, ITERATIONS), abs=1e-3)
        assert float(acc) == pytest.approx(1 - q)


def check_best(proc: subprocess.CompletedProcess[str], q: float, logdir_prefix: str) -> None:
    assert proc.returncode == 0, proc.stderr
    fields = dict(line.split(": ", 1) for line in proc.stdout.splitlines())
    assert json.loads(fields["config"]) == {"q": q}
    assert fields["status"] == "TERMINATED"
    if "loss (last)" in fields:
        assert float(fields["loss (last)"]) == pytest.approx(expected_loss(q, ITERATIONS), abs=1e-3)
    else:
        assert float(fields["acc (last)"]) == pytest.approx(1 - q)
    assert fields["logdir"].startswith(logdir_prefix) and f"q={q}" in fields["logdir"]


def check_png(path: Path, width: int, height: int) -> None:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (width, height)
        pixels = np.asarray(image.convert("RGB"), dtype=int)
    background = np.all(pixels == 255, axis=-1).sum()
    assert background > 0.5 * width * height  # a plot, not a filled area
    for colour in CURVE_COLOURS:
        drawn = np.all(np.abs(pixels - np.array(colour)) <= 40, axis=-1).sum()
        # Each curve spans the plot's width: hundreds of pixels of its colour.
        assert drawn > width // 2, (colour, drawn)


def test_ls_best_plot_local(local_exp, tmp_path):
    home, exp = local_exp
    check_ls(dasktune("ls", exp, cwd=home))
    check_best(dasktune("best", exp, "--metric", "loss", "--mode", "min", cwd=home), 0.1, exp)
    # "acc" is 1 - q, so its minimum is q=0.5; the experiment_state.json path names the
    # experiment too (Ray's experiment_checkpoint_path).
    state = f"{exp}/experiment_state.json"
    check_best(dasktune("best", state, "-m", "acc", "--mode", "min", cwd=home), 0.5, exp)
    out = tmp_path / "curves.png"
    proc = dasktune(
        "plot", exp, "-m", "loss", "-o", str(out), "--width", "640", "--height", "400", cwd=home
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 curve(s)" in proc.stdout
    check_png(out, 640, 400)


def test_console_script_entry_point(local_exp):
    """The `dasktune` script pyproject declares runs the same main()."""
    home, exp = local_exp
    # (tomllib is not in Python 3.10, which dasktune supports.)
    scripts = (REPO / "pyproject.toml").read_text().split("[project.scripts]", 1)[1]
    target = re.search(r'^dasktune = "([^"]+)"', scripts, re.MULTILINE).group(1)
    module, func = target.split(":")
    # What pip's generated `dasktune` script does.
    launcher = f"import sys; from {module} import {func}; sys.exit({func}())"
    proc = subprocess.run(
        [sys.executable, "-c", launcher, "ls", exp],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
        env=script_env(home),
    )
    check_ls(proc)


def test_ls_best_plot_s3(s3_exp, tmp_path):
    home, exp, options = s3_exp
    assert exp.startswith("s3://")
    flags = storage_flags(options)
    check_ls(dasktune("ls", exp, *flags, cwd=home))
    proc = dasktune("best", exp, *flags, "--metric", "loss", "--mode", "min", cwd=home)
    check_best(proc, 0.1, exp)
    out = tmp_path / "s3_curves.png"
    proc = dasktune("plot", exp, *flags, "--metric", "loss", "-o", str(out), cwd=home)
    assert proc.returncode == 0, proc.stderr
    check_png(out, 1000, 600)


def test_s3_options_from_the_environment(s3_exp):
    """No flags: fsspec's FSSPEC_S3 variable (JSON storage options) configures s3://."""
    home, exp, options = s3_exp
    env = script_env(home, FSSPEC_S3=json.dumps(options))
    check_ls(dasktune("ls", exp, cwd=home, env=env))


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_missing_path_is_one_line(tmp_path):
    missing = str(tmp_path / "no_such_experiment")
    for args in (
        ["ls", missing],
        ["best", missing, "--metric", "loss", "--mode", "min"],
        ["plot", missing, "--metric", "loss", "-o", str(tmp_path / "x.png")],
    ):
        one_line_error(dasktune(*args, cwd=tmp_path), f"dasktune {args[0]}: error:", "not exist")
    assert not (tmp_path / "x.png").exists()


def test_bad_input_errors(local_exp, tmp_path):
    home, exp = local_exp
    one_line_error(
        dasktune("best", exp, "--metric", "los", "--mode", "min", cwd=home),
        "No trial reported metric 'los'",
        "Did you mean 'loss'?",
    )
    one_line_error(dasktune("ls", exp, "--storage-option", "novalue", cwd=home), "is not KEY=VALUE")
    one_line_error(
        dasktune(
            "plot", exp, "-m", "loss", "-o", str(tmp_path / "p.png"), "--width", "5", cwd=home
        ),
        "at least 100 pixels",
    )
    # argparse's own errors: usage and exit status 2.
    proc = dasktune("best", exp, "--metric", "loss", "--mode", "up", cwd=home)
    assert proc.returncode == 2 and "invalid choice: 'up'" in proc.stderr


def test_plot_without_matplotlib_names_the_extra(local_exp, tmp_path):
    home, exp = local_exp
    # A matplotlib that cannot be imported, first on the path: as if it were not installed.
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n"
    )
    env = script_env(home)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "shadow"), env["PYTHONPATH"]])
    proc = dasktune("plot", exp, "-m", "loss", "-o", str(tmp_path / "p.png"), cwd=home, env=env)
    one_line_error(proc, "matplotlib", "pip install 'dasktune[plot]'")
    # The other commands do not need it.
    check_ls(dasktune("ls", exp, cwd=home, env=env))
