"""The ``dasktune`` namespace: every public name resolves, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dasktune as tune


@pytest.mark.parametrize("name", tune.__all__)
def test_every_public_name_resolves(name):
    assert getattr(tune, name) is not None
    assert name in dir(tune)


def test_submodules_are_attributes_as_in_ray():
    assert tune.analysis.ExperimentAnalysis is tune.ExperimentAnalysis
    assert tune.schedulers.FIFOScheduler.__name__ == "FIFOScheduler"
    assert tune.function_runner.StatusReporter is tune.StatusReporter
    assert callable(tune.utils.validate_save_restore)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tune.nope  # noqa: B018
    assert not hasattr(tune, "tune_run")


def test_hosting_a_trial_does_not_load_the_driver_or_pandas():
    """Workers import dasktune to host trials and the scheduler to load its plugin: neither
    needs tune.run's machinery, and nobody needs pandas until a dataframe is built."""
    code = (
        "import sys, dasktune.backend.host, dasktune.backend.protection; "
        "print(sorted(m for m in ('pandas', 'dasktune.tune', 'dasktune.driver', "
        "'dasktune.analysis') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import sys, dasktune as t; t.ExperimentAnalysis; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
