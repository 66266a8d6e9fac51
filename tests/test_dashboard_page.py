"""The ``/dasktune`` page on the Dask dashboard (issue 14, item 4): the scheduler keeps each
run's trials and curves, the driver pushes what changed about once a second, and a real
headless browser (Debian's chromium) reads the page while a run goes and after it ended."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from pathlib import Path

import pytest
from browser import dump_dom, needs_chromium, screenshot, trial_tables
from distributed import Scheduler
from scripts import start_script

from dasktune.backend.page_render import COLORS, MAX_ROWS, render_page
from dasktune.backend.page_state import PageState, thin
from dasktune.backend.protection import PAGE_HANDLER, PLUGIN_NAME, BusyWorkerProtection
from dasktune.dashboard import DashboardListener, page_link
from dasktune.instructions import Note, Notify
from dasktune.resources import Resources
from dasktune.trial import Trial, TrialStatus

# A run that lasts some seconds: 3 trials of 16 steps of 0.25 s on 2 workers.
SCRIPT = """
import time
import dasktune as tune

def train(config):
    for i in range(16):
        time.sleep(0.25)
        tune.report(loss=config["x"] / (i + 1), acc=i)

analysis = tune.run(
    train,
    name="page-test",
    config={"x": tune.grid_search([1, 2, 3])},
    metric="loss",
    mode="min",
    local_dir="results",
    verbose=1,
    ADDRESS
)
with open("trials.txt", "w") as out:
    out.write("\\n".join(sorted(str(t) for t in analysis.trials)))
"""


def make_trial(index: int, name: str = "train") -> Trial:
    return Trial(f"t{index:05d}", index, name, {"x": index}, str(index), f"d{index}", Resources())


def result_note(trial: Trial, iteration: int, loss: float) -> Notify:
    result = {"training_iteration": iteration, "loss": loss, "time_total_s": iteration * 0.5}
    trial.last_result = result
    trial.num_results = iteration
    return Notify(Note.RESULT, trial, {"result": result})


def test_page_state_merges_updates_and_bounds_curves():
    state = PageState(max_runs=2, max_points=10)
    state.update("a", {"meta": {"name": "exp-a", "metric": "loss"}, "trials": [{"id": "1"}]})
    points = [[i, 1.0 / i] for i in range(1, 26)]
    state.update("a", {"trials": [{"id": "1", "status": "RUNNING", "points": points}]})
    trial = state.runs["a"].trials["1"]
    assert trial.status == "RUNNING" and len(trial.points) <= 10
    assert trial.points[0] == [1, 1.0] and trial.points[-1] == [25, 1.0 / 25]
    assert thin([[i, i] for i in range(7)], 3)[-1] == [6, 6]
    state.update("a", {"ended": True})
    state.update("b", {"meta": {"name": "exp-b"}})
    state.update("c", {"meta": {"name": "exp-c"}})
    # The ended run goes first when there are too many.
    assert sorted(state.runs) == ["b", "c"]


def test_page_escapes_what_runs_send_and_draws_one_curve_per_trial():
    state = PageState()
    state.update(
        "r1",
        {
            "meta": {"name": "<b>exp</b>", "metric": "loss", "mode": "min", "logdir": "/x"},
            "trials": [
                {
                    "id": "1",
                    "name": "t<script>alert(1)</script>",
                    "status": "RUNNING",
                    "worker": "tcp://w:1",
                    "iterations": 3,
                    "metrics": {"loss": 0.5},
                    "config": "a='<i>'",
                    "points": [[1, 2.0], [2, 1.0], [3, 0.5]],
                },
                {"id": "2", "name": "t2", "status": "PENDING"},
            ],
        },
    )
    page = render_page(state)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;exp" in page
    assert page.count('<polyline class="curve"') == 1  # the pending trial has no points
    assert 'http-equiv="refresh"' in page  # a run is going
    state.update("r1", {"ended": True})
    assert 'http-equiv="refresh"' not in render_page(state)


def test_a_large_run_lists_running_trials_first_and_counts_the_rest():
    state = PageState()
    trials = [{"id": str(i), "name": f"t{i}", "status": "TERMINATED"} for i in range(MAX_ROWS)]
    trials.append({"id": "last", "name": "still-running", "status": "RUNNING"})
    state.update("big", {"meta": {"name": "big"}, "trials": trials})
    page = render_page(state)
    assert "still-running" in page and page.count("<tr data-trial=") == MAX_ROWS
    assert "1 more trial(s) not shown." in page


def test_links_next_to_dask_dashboard():
    assert page_link("http://127.0.0.1:8787/status") == "http://127.0.0.1:8787/dasktune"
    assert page_link("https://hub/user/me/proxy/8787/status") == (
        "https://hub/user/me/proxy/8787/dasktune"
    )
    assert page_link(None) is None


def test_listener_sends_only_changes_once_per_interval_and_resends_failed_points():
    sent: list[dict] = []
    answers: list[bool] = []

    async def send(update: dict) -> bool:
        sent.append(update)
        return answers.pop(0) if answers else True

    async def scenario() -> None:
        listener = DashboardListener(send, name="exp", logdir="/x", push_interval=1.0)
        trials = [make_trial(0), make_trial(1)]
        for i in range(1, 51):  # 50 results: no message per result
            listener.on_note(result_note(trials[0], i, 1.0 / i), trials, i)
        assert sent == []
        listener.after_tick(10.0, trials, 0)
        await asyncio.sleep(0.01)
        first = sent[-1]
        assert first["meta"]["metric"] == "loss"  # inferred: the run gave none
        items = {item["id"]: item for item in first["trials"]}
        assert len(items["t00000"]["points"]) == 50 and items["t00000"]["name"] == "train_t00000"
        assert "points" not in items["t00001"]
        # Nothing changed: nothing is sent.
        listener.after_tick(11.5, trials, 0)
        await asyncio.sleep(0.01)
        assert len(sent) == 1
        # A push that fails is merged into the next one.
        listener.on_note(result_note(trials[1], 1, 3.0), trials, 51)
        answers.append(False)
        listener.after_tick(13.0, trials, 0)
        await asyncio.sleep(0.01)
        listener.on_note(result_note(trials[1], 2, 2.0), trials, 52)
        trials[1].status = TrialStatus.TERMINATED
        await listener.on_run_end(trials)
        final = sent[-1]
        assert final["ended"] is True
        (item,) = final["trials"]
        assert item["id"] == "t00001" and item["points"] == [[1, 3.0], [2, 2.0]]
        assert item["status"] == "TERMINATED"

    asyncio.run(scenario())


def test_listener_stops_when_the_scheduler_cannot_take_updates():
    sent: list[dict] = []

    async def refuse(update: dict) -> None:
        sent.append(update)
        return None  # e.g. an older dasktune on the scheduler

    async def scenario() -> None:
        listener = DashboardListener(refuse, name="exp", logdir="/x", metric="loss")
        trials = [make_trial(0)]
        listener.on_note(result_note(trials[0], 1, 1.0), trials, 1)
        listener.after_tick(5.0, trials, 1)
        await asyncio.sleep(0.01)
        for i in range(2, 100):  # nothing kept any more
            listener.on_note(result_note(trials[0], i, 1.0), trials, i)
        listener.after_tick(10.0, trials, 100)
        await listener.on_run_end(trials)
        assert len(sent) == 1 and listener._points == {}

    asyncio.run(scenario())


def test_route_follows_the_dashboard_prefix_and_serves_the_live_plugins_state():
    async def scenario() -> None:
        async with Scheduler(
            dashboard_address="127.0.0.1:0", http_prefix="/dask", host="127.0.0.1"
        ) as scheduler:
            for run, trial in (("r1", "first-plugin-trial"), ("r2", "second-plugin-trial")):
                # Registered again after an unregister: one route, the new plugin's state.
                await scheduler.register_scheduler_plugin(
                    BusyWorkerProtection(), name=PLUGIN_NAME, idempotent=True
                )
                scheduler.handlers[PAGE_HANDLER](
                    run_id=run,
                    update={"meta": {"name": run}, "trials": [{"id": "1", "name": trial}]},
                )
                url = f"http://127.0.0.1:{scheduler.http_server.port}/dask/dasktune"
                page = await asyncio.to_thread(
                    lambda url=url: urllib.request.urlopen(url, timeout=30).read().decode()
                )
                assert trial in page and page.count('<section class="run"') == 1
                await scheduler.unregister_scheduler_plugin(PLUGIN_NAME)

    asyncio.run(scenario())


def wait_for_rows(url: str, want, timeout: float = 90) -> tuple[str, list[dict[str, str]]]:
    """Load the page until its first run's trials table satisfies ``want(rows)``."""
    deadline = time.monotonic() + timeout
    dom, rows = "", []
    while time.monotonic() < deadline:
        dom = dump_dom(url)
        tables = trial_tables(dom)
        rows = tables[0] if tables else []
        if want(rows):
            return dom, rows
        time.sleep(0.5)
    raise AssertionError(f"the page never showed the expected trials; last rows: {rows}")


def check_screenshot(path: Path, width: int, height: int, curves: int) -> None:
    """The PNG decodes at the window's size, is not blank, and shows ``curves`` line colors."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.size == (width, height)
        data = image.convert("RGB").tobytes()
    pixels = [tuple(data[i : i + 3]) for i in range(0, len(data), 3)]
    not_white = sum(1 for p in pixels if min(p) < 235)
    assert not_white > 0.02 * width * height, f"the page looks blank ({not_white} pixels drawn)"
    for color in COLORS[:curves]:
        rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
        near = sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, rgb, strict=True)) < 40)
        assert near > 100, f"no curve drawn in {color} ({near} pixels)"


@pytest.mark.slow
@needs_chromium
def test_page_in_browser_while_running_and_after_the_driver_ended(tmp_path, cluster_factory):
    cluster_factory(dashboard_address="127.0.0.1:0")
    cluster = cluster_factory.last_cluster
    url = page_link(cluster.dashboard_link)
    script = start_script(
        tmp_path, SCRIPT.replace("ADDRESS", f"address={cluster.scheduler_address!r},")
    )
    try:
        dom, rows = wait_for_rows(url, lambda rows: any(r["status"] == "RUNNING" for r in rows))
        assert "page-test" in dom and 'class="run-state">running<' in dom
        running = [r for r in rows if r["status"] == "RUNNING"]
        assert all(re.fullmatch(r"tcp://127\.0\.0\.1:\d+", r["worker"]) for r in running)
        assert script.wait(timeout=120) == 0, (tmp_path / "script.log").read_text()[-3000:]
    finally:
        if script.poll() is None:
            script.kill()
    log = (tmp_path / "script.log").read_text()
    assert f"dasktune page: {url}" in log and f"Dask dashboard: {cluster.dashboard_link}" in log

    # The driver has exited: the scheduler still has the run's last state.
    names = (tmp_path / "trials.txt").read_text().split()
    dom, rows = wait_for_rows(url, lambda rows: len(rows) == 3)
    assert 'class="run-state">ended<' in dom and 'http-equiv="refresh"' not in dom
    assert sorted(r["Trial name"] for r in rows) == names
    assert {r["status"] for r in rows} == {"TERMINATED"}
    assert {r["iterations"] for r in rows} == {"16"}
    assert sorted(float(r["loss"]) for r in rows) == [1 / 16, 2 / 16, 3 / 16]
    assert dom.count('<polyline class="curve"') == 3
    shot = screenshot(url, tmp_path / "page.png", 1000, 800)
    check_screenshot(shot, 1000, 800, curves=3)


@pytest.mark.slow
@needs_chromium
def test_page_of_the_embedded_cluster_while_the_script_runs(tmp_path):
    script = start_script(tmp_path, SCRIPT.replace("ADDRESS", ""))
    log = tmp_path / "script.log"
    try:
        deadline = time.monotonic() + 90
        match = None
        while match is None and time.monotonic() < deadline and script.poll() is None:
            match = re.search(r"dasktune page: (http://127\.0\.0\.1:\d+/dasktune)", log.read_text())
            time.sleep(0.2)
        assert match, log.read_text()[-3000:]
        url = match.group(1)
        dom, rows = wait_for_rows(
            url, lambda rows: any(r["iterations"] not in ("", "0") for r in rows)
        )
        assert "page-test" in dom and len(rows) >= 2
        assert '<polyline class="curve"' in dom
        assert script.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if script.poll() is None:
            script.kill()
