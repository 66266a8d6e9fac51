"""The resource ledger, without Dask."""

from __future__ import annotations

import pytest

from dasktune.ledger import ResourceLedger, capacity_from_worker_info
from dasktune.resources import Resources


def ledger(**workers):
    book = ResourceLedger()
    for name, capacity in workers.items():
        book.set_worker(name, capacity)
    return book


def test_capacity_from_worker_info():
    assert capacity_from_worker_info({"nthreads": 4, "resources": {}}) == {"CPU": 4.0}
    assert capacity_from_worker_info({"nthreads": 4, "resources": {"CPU": 2, "GPU": 1}}) == {
        "CPU": 2.0,
        "GPU": 1.0,
    }


def test_places_until_full_then_none_and_release_frees():
    book = ledger(a={"CPU": 2}, b={"CPU": 1})
    placements = [book.place(f"t{i}", Resources(cpu=1)) for i in range(3)]
    assert all(placements)
    assert sorted(p.worker for p in placements) == ["a", "a", "b"]
    assert book.place("t3", Resources(cpu=1)) is None
    book.release("t1")
    assert book.place("t3", Resources(cpu=1)) is not None
    book.release("t1")  # twice is harmless


def test_spreads_by_free_cpu():
    book = ledger(a={"CPU": 4}, b={"CPU": 4})
    workers = [book.place(f"t{i}", Resources(cpu=1)).worker for i in range(4)]
    assert workers.count("a") == 2 and workers.count("b") == 2


def test_fractional_gpu_packing():
    book = ledger(a={"CPU": 8, "GPU": 1})
    placed = [book.place(f"t{i}", Resources(cpu=1, gpu=0.25)) for i in range(5)]
    assert [p is not None for p in placed] == [True, True, True, True, False]
    tenth = ledger(a={"CPU": 20, "GPU": 1})
    assert all(tenth.place(f"t{i}", Resources(cpu=1, gpu=0.1)) for i in range(10))
    assert tenth.place("t10", Resources(cpu=1, gpu=0.1)) is None


def test_extras_same_worker_first_then_others():
    book = ledger(a={"CPU": 2, "GPU": 1}, b={"CPU": 2, "GPU": 2})
    placement = book.place("t", Resources(cpu=1, gpu=1, extra_gpu=2), exclude={"b"})
    assert placement.worker == "a"
    assert placement.extras == {"b": {"GPU": 2.0}}
    assert book.free("b")["GPU"] == 0
    cpu = ledger(a={"CPU": 2}, b={"CPU": 2})
    placement = cpu.place("t", Resources(cpu=1, extra_cpu=2), exclude={"b"})
    assert placement.extras == {"a": {"CPU": 1.0}, "b": {"CPU": 1.0}}
    cpu.release("t")
    assert cpu.free("a")["CPU"] == 2 and cpu.free("b")["CPU"] == 2


def test_explain_infeasible():
    book = ledger(a={"CPU": 2}, b={"CPU": 2, "GPU": 1})
    assert book.explain_infeasible(Resources(cpu=2, gpu=1)) is None
    message = book.explain_infeasible(Resources(cpu=1, gpu=2))
    assert "no worker can host" in message and "b: 2 CPU, 1 GPU" in message
    assert "whole cluster" in book.explain_infeasible(Resources(cpu=1, extra_cpu=4))
    assert book.explain_infeasible(Resources(custom_resources={"TPU": 1})) is not None
    assert ResourceLedger().explain_infeasible(Resources(gpu=8)) is None  # no workers yet


def test_remove_worker_frees_and_reports_trials():
    book = ledger(a={"CPU": 1}, b={"CPU": 1})
    on_a = book.place("x", Resources(cpu=1), exclude={"b"})
    book.place("y", Resources(cpu=1), exclude={"a"})
    assert on_a.worker == "a"
    assert book.remove_worker("a") == ["x"]
    assert book.release("x") is None  # its slots went with the worker
    assert book.workers == ["b"]


def test_can_place_reserves_nothing():
    book = ledger(a={"CPU": 1})
    assert book.can_place(Resources(cpu=1)) and book.can_place(Resources(cpu=1))
    assert not book.can_place(Resources(cpu=1), exclude={"a"})
    book.place("x", Resources(cpu=1))
    assert not book.can_place(Resources(cpu=1))


def test_double_place_is_an_error():
    book = ledger(a={"CPU": 2})
    book.place("t", Resources(cpu=1))
    with pytest.raises(ValueError):
        book.place("t", Resources(cpu=1))


def test_resources_parsing_errors():
    assert Resources.from_request({"cpu": 2, "gpu": 0.5}).own_demand() == {"CPU": 2, "GPU": 0.5}
    with pytest.raises(ValueError, match="unknown key.*custom_resources"):
        Resources.from_request({"cpu": 1, "TPU": 1})
    with pytest.raises(ValueError, match=">= 0"):
        Resources.from_request({"gpu": -1})
    with pytest.raises(TypeError, match="must be a number"):
        Resources.from_request({"cpu": "one"})
    with pytest.raises(ValueError, match="use the 'cpu'/'gpu'"):
        Resources.from_request({"custom_resources": {"GPU": 1}})
    assert Resources.from_request({"custom_resources": {"TPU": 2}}).own_demand() == {
        "CPU": 1,
        "TPU": 2,
    }
