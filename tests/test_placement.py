"""GPU device assignment inside one worker process, and TrialPlacement (pure)."""

from __future__ import annotations

import pytest

from dasktune.placement import GpuAllocator, TrialPlacement
from dasktune.trial_info import TrialInfo


@pytest.fixture
def no_visible_devices(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_whole_gpus_go_to_distinct_devices(no_visible_devices):
    gpus = GpuAllocator()
    assert gpus.allocate("a", 1, declared=2) == ("0",)
    assert gpus.allocate("b", 1, declared=2) == ("1",)
    gpus.release("a")
    assert gpus.allocate("c", 1, declared=2) == ("0",)


def test_fractions_pack_onto_the_fullest_device_that_fits(no_visible_devices):
    gpus = GpuAllocator()
    assert gpus.allocate("a", 0.5, declared=2) == ("0",)
    assert gpus.allocate("b", 0.25, declared=2) == ("0",)
    assert gpus.allocate("c", 0.5, declared=2) == ("1",)
    assert gpus.allocate("d", 0.25, declared=2) == ("0",)
    gpus.release("a")
    assert gpus.allocate("e", 0.5, declared=2) in (("0",), ("1",))


def test_visible_devices_are_the_ids(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    gpus = GpuAllocator()
    assert gpus.allocate("a", 1, declared=1) == ("3",)
    assert gpus.allocate("b", 0, declared=1) == ()


def test_trial_placement_from_info():
    info = TrialInfo(
        trial_id="t",
        placement={"worker": "w1", "own": {"CPU": 1.0}, "extras": {"w2": {"GPU": 1.0}}},
        gpu_ids=("0",),
    )
    placement = TrialPlacement.from_info(info)
    assert placement.worker == "w1" and placement.extra_workers == ["w2"]
    assert placement.gpu_ids == ("0",)
    assert TrialPlacement.from_info(None) == TrialPlacement()
