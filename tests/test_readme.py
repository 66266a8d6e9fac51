"""Every Python block of README.md runs as written, saved as a script: ``python script.py``,
module level, no main guard, no cluster given (as Ray Tune users write them)."""

from __future__ import annotations

import re

import pytest
from scripts import REPO, run_script

pytestmark = pytest.mark.slow

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_the_readme_has_python_blocks_that_call_tune_run():
    assert sum("tune.run(" in block for block in BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_as_a_script(index, tmp_path):
    block = BLOCKS[index]
    done = run_script(tmp_path, block, timeout=240)
    assert done.returncode == 0, f"README block {index}:\n{block}\n{done.stderr[-4000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    if "tune.run(" in block:
        # It really ran trials: results under ~/dasktune_results (HOME is the test's dir).
        assert list((tmp_path / "dasktune_results").glob("*/*/result.json")), done.stdout
