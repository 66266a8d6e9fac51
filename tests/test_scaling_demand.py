"""Adaptive growth for trials, without a cluster: the plugin's target arithmetic, its wrapping of
the scheduler's ``adaptive_target``, and the driver's conversion of pending trials to workers."""

from __future__ import annotations

import asyncio
from typing import Any

from controller_harness import add_workers, make_controller

from dasktune import events as E
from dasktune.backend.protection import (
    HANDLER,
    PLUGIN_NAME,
    TARGET_HANDLER,
    BusyWorkerProtection,
)
from dasktune.demand import workers_needed
from dasktune.resources import Resources

WORKERS = {"tcp://a", "tcp://b", "tcp://c"}


# -- the plugin's arithmetic ---------------------------------------------------------------------
def test_demands_of_runs_add_up_on_top_of_busy_workers():
    plugin = BusyWorkerProtection()
    plugin.report("run1", ["tcp://a"], demand=2)
    plugin.report("run2", ["tcp://a", "tcp://b"], demand=3)
    # Busy workers count once however many runs use them.
    assert plugin.target(0, WORKERS) == 2 + 2 + 3


def test_a_run_reporting_nothing_is_forgotten():
    plugin = BusyWorkerProtection()
    plugin.report("run1", ["tcp://a"], demand=2)
    plugin.report("run2", ["tcp://b"], demand=1)
    plugin.report("run1", [], demand=0)
    assert plugin.target(0, WORKERS) == 1 + 1
    assert plugin.busy_workers() == {"tcp://b"}
    plugin.report("run2", [], 0)
    assert plugin.target(0, WORKERS) == 0
    assert plugin._busy == {} and plugin._demand == {}


def test_dasks_own_target_is_a_floor():
    plugin = BusyWorkerProtection()
    plugin.report("run1", ["tcp://a"], demand=1)
    assert plugin.target(5, WORKERS) == 5  # ordinary tasks want more workers
    assert plugin.target(1, WORKERS) == 2


def test_busy_workers_that_left_do_not_count():
    plugin = BusyWorkerProtection()
    plugin.report("run1", ["tcp://a", "tcp://gone"], demand=0)
    assert plugin.target(0, WORKERS) == 1


def test_a_run_with_only_demand_or_only_busy_workers_is_kept():
    plugin = BusyWorkerProtection()
    plugin.report("waiting", [], demand=2)  # no worker yet
    plugin.report("draining", ["tcp://c"], demand=0)  # nothing pending any more
    assert plugin.target(0, WORKERS) == 3


# -- the wrapped scheduler handler ---------------------------------------------------------------
class FakeScheduler:
    """What the plugin touches on a scheduler: handlers, plugins, workers, adaptive_target."""

    def __init__(self, dask_target: int) -> None:
        self.dask_target = dask_target
        self.calls: list[Any] = []
        self.workers = dict.fromkeys(WORKERS)
        self.plugins: dict[str, Any] = {}
        self.handlers: dict[str, Any] = {TARGET_HANDLER: self.adaptive_target}

    def adaptive_target(self, target_duration: Any = None) -> int:
        self.calls.append(target_duration)
        return self.dask_target


def install(scheduler: FakeScheduler) -> BusyWorkerProtection:
    plugin = BusyWorkerProtection()
    asyncio.run(plugin.start(scheduler))
    scheduler.plugins[PLUGIN_NAME] = plugin
    return plugin


def test_the_scheduler_handler_reports_busy_plus_demand():
    scheduler = FakeScheduler(dask_target=1)
    install(scheduler)
    target = scheduler.handlers[TARGET_HANDLER]
    assert target(target_duration="5s") == 1
    assert scheduler.calls == ["5s"]  # Dask's own target was asked, with Adaptive's argument
    scheduler.handlers[HANDLER](run_id="r", workers=["tcp://a"], demand=2)
    assert target(target_duration=None) == 3
    assert scheduler.adaptive_target() == 3  # in-process callers see the same number
    scheduler.handlers[HANDLER](run_id="r", workers=[], demand=0)
    assert target() == 1


def test_a_second_plugin_wraps_the_original_and_an_unregistered_one_steps_aside():
    scheduler = FakeScheduler(dask_target=0)
    first = install(scheduler)
    first.report("old", [], demand=4)
    # Unregistering does not tell the plugin: its wrapper must stop counting by itself.
    del scheduler.plugins[PLUGIN_NAME]
    assert scheduler.handlers[TARGET_HANDLER]() == 0
    second = install(scheduler)
    second.report("new", [], demand=1)
    assert scheduler.handlers[TARGET_HANDLER]() == 1
    assert len(scheduler.calls) == 2  # one call into Dask's target each time, no stacked wrapper


# -- pending trials as workers --------------------------------------------------------------------
CPU1 = Resources()
GPU1 = Resources(cpu=1, gpu=1)


def test_no_worker_seen_counts_a_worker_per_trial():
    assert workers_needed([(CPU1, 4)], []) == 4
    assert workers_needed([], []) == 0


def test_trials_are_packed_by_the_capacity_seen():
    four_cpus = {"CPU": 4.0}
    assert workers_needed([(CPU1, 4)], [four_cpus]) == 1
    assert workers_needed([(CPU1, 5)], [four_cpus]) == 2
    assert workers_needed([(Resources(cpu=3), 2)], [four_cpus]) == 2
    # One GPU per job: one trial per job whatever the CPUs.
    assert workers_needed([(GPU1, 3)], [{"CPU": 8.0, "GPU": 1.0}]) == 3
    assert workers_needed([(Resources(cpu=1, gpu=0.5), 3)], [{"CPU": 8.0, "GPU": 1.0}]) == 2


def test_the_best_fitting_kind_of_worker_and_groups_add_up():
    shapes = [{"CPU": 1.0}, {"CPU": 4.0, "GPU": 1.0}]
    # CPU trials pack four to the big worker; GPU trials cannot use the small one.
    assert workers_needed([(CPU1, 4), (GPU1, 2)], shapes) == 1 + 2


def test_extras_count_and_may_spread_a_trial_over_workers():
    shapes = [{"CPU": 2.0}]
    assert workers_needed([(Resources(cpu=1, extra_cpu=1), 3)], shapes) == 3
    assert workers_needed([(Resources(cpu=1, extra_cpu=3), 2)], shapes) == 4


def test_a_group_no_seen_worker_can_host_counts_a_worker_per_trial():
    assert workers_needed([(GPU1, 2)], [{"CPU": 4.0}]) == 2


def test_startable_pending_respects_the_concurrency_limit_and_stop_all():
    controller = make_controller(5, max_concurrent_trials=3)
    controller.handle(E.Tick(0.0))
    assert controller.startable_pending() == [(Resources(), 3)]
    add_workers(controller, w={"CPU": 2})
    assert controller.num_running == 2
    assert controller.startable_pending() == [(Resources(), 1)]
    controller.handle(E.StopRequested())
    assert controller.startable_pending() == []
    # Trials the search algorithm has yet to hand out count too.
    fresh = make_controller(4)
    fresh.handle(E.Tick(0.0))
    assert fresh.startable_pending() == [(Resources(), 4)]
