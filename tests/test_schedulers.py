"""Ray's schedulers (ASHA, MedianStoppingRule, HyperBand): decisions on recorded learning
curves checked against hand-computed expectations, and each scheduler through the whole loop
on the simulated backend (no cluster)."""

from __future__ import annotations

import asyncio

import pytest
from controller_harness import make_controller, make_trial

import dasktune as tune
from dasktune.backend.protocol import TrialCodeError
from dasktune.backend.simulated import ScriptedTrainable, SimulatedBackend
from dasktune.callback import Callback, CallbackListener
from dasktune.driver import Driver
from dasktune.listeners import Listeners
from dasktune.schedulers import ASHAScheduler as ASHAFromPackage
from dasktune.schedulers import AsyncHyperBandScheduler, HyperBandScheduler, MedianStoppingRule
from dasktune.schedulers.async_hyperband import ASHAScheduler
from dasktune.trial import TrialStatus

CONTINUE, STOP, PAUSE = "CONTINUE", "STOP", "PAUSE"


def feed(scheduler, trials, rows):
    """``rows`` of ``(trial index, result)``, in arrival order; the decision on each."""
    return [scheduler.on_trial_result(None, trials[i], result) for i, result in rows]


def added(scheduler, n):
    trials = [make_trial(i) for i in range(n)]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    return trials


def run_loop(controller, backend):
    rows = Rows()
    driver = Driver(
        controller,
        backend,
        storage=None,
        listeners=Listeners([CallbackListener([rows])]),
        build_state=dict,
        clock=backend.clock,
    )
    asyncio.run(driver.run())
    return rows


class Rows(Callback):
    """Every result, per trial."""

    def __init__(self):
        self.rows: dict[str, list[dict]] = {}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.rows.setdefault(trial.trial_id, []).append(result)


def workers(n, cpus=1):
    return {f"w{i}": {"CPU": cpus} for i in range(n)}


# -- ASHA: the published algorithm on a small case, by hand ------------------------------------
def test_asha_names_and_ray_defaults():
    assert ASHAScheduler is AsyncHyperBandScheduler is ASHAFromPackage
    assert tune.schedulers.ASHAScheduler is ASHAScheduler
    s = ASHAScheduler()
    assert s._time_attr == "training_iteration" and s.metric is None and s.mode is None
    assert s._max_t == 100 and s._reduction_factor == 4 and len(s._brackets) == 1
    # grace_period=1, reduction_factor=4, max_t=100: rungs at 1, 4, 16, 64.
    assert [r.milestone for r in s._brackets[0].rungs] == [64, 16, 4, 1]
    # Bracket s starts at grace * rf**s; an exact power keeps its top rung (Ray's float
    # count of rungs loses it for 1000 / 10).
    s = ASHAScheduler(max_t=1000, reduction_factor=10, brackets=2)
    assert [r.milestone for r in s._brackets[0].rungs] == [1000, 100, 10, 1]
    assert [r.milestone for r in s._brackets[1].rungs] == [1000, 100, 10]


@pytest.mark.parametrize("mode", ["max", "min"])
def test_asha_decisions_equal_the_published_algorithm(mode):
    """max_t 9, grace 1, rf 3: rungs at 1, 3, 9; a trial reaching a rung stops when its score
    is below the 2/3 quantile (linear interpolation) of the scores recorded there before it."""
    sign = 1 if mode == "max" else -1
    s = ASHAScheduler(metric="acc", mode=mode, max_t=9, grace_period=1, reduction_factor=3)
    a, b, c, d, e = range(5)
    trials = added(s, 5)

    def r(t, acc):
        return {"training_iteration": t, "acc": sign * acc}

    rung1 = feed(s, trials, [(a, r(1, 0.5)), (b, r(1, 0.9)), (c, r(1, 0.2))])
    # a: first at the rung, continues. b: cutoff 0.5. c: cutoff of [0.5, 0.9] = 0.5 + 0.4 *
    # 2/3 = 0.767 > 0.2.
    assert rung1 == [CONTINUE, CONTINUE, STOP]
    # d: cutoff of [0.2, 0.5, 0.9] at rank 4/3 = 0.633 <= 0.7. e: cutoff of [.2, .5, .7, .9]
    # at rank 2 = 0.7 > 0.6.
    assert feed(s, trials, [(d, r(1, 0.7)), (e, r(1, 0.6))]) == [CONTINUE, STOP]
    # The rung's cutoff now: sorted scores (for min, the loss negated) [.2, .5, .6, .7, .9]
    # at rank 8/3.
    assert s._brackets[0].rungs[-1].cutoff(2 / 3) == pytest.approx(0.6 + 0.1 * 2 / 3)
    # Between rungs nothing is decided, however bad.
    assert feed(s, trials, [(a, r(2, 0.0)), (b, r(2, 0.0)), (d, r(2, 0.0))]) == [CONTINUE] * 3
    # Rung 3: b first (continues); a below b's 0.95; d below [0.6, 0.95] at 2/3 = 0.833.
    rung3 = feed(s, trials, [(b, r(3, 0.95)), (a, r(3, 0.6)), (d, r(3, 0.8))])
    assert rung3 == [CONTINUE, STOP, STOP]
    # b goes on alone; at 9 (max_t) it stops.
    assert feed(s, trials, [(b, r(t, 0.99)) for t in range(4, 10)]) == [CONTINUE] * 5 + [STOP]
    assert s._num_stopped == 5
    assert "num_stopped=5" in s.debug_string()


def test_asha_first_result_past_a_rung_decides_there():
    s = ASHAScheduler(metric="m", mode="max", max_t=100, grace_period=1, reduction_factor=2)
    trials = added(s, 3)
    # time_attr jumps (e.g. time_total_s): the first result at or past a rung decides there,
    # at the highest rung reached; a later result does not decide again at that rung.
    assert feed(s, trials, [(0, {"training_iteration": 5, "m": 10})]) == [CONTINUE]
    assert set(s._brackets[0].rungs[-3].recorded) == {"t0"}  # the rung at 4
    assert feed(s, trials, [(1, {"training_iteration": 4.5, "m": 1})]) == [STOP]
    assert feed(s, trials, [(0, {"training_iteration": 6, "m": -100})]) == [CONTINUE]
    # Results without the metric or the time are not judged (warned about once: a misspelt
    # metric would stop nothing).
    with pytest.warns(UserWarning, match="has no 'm'.*Check metric= and time_attr="):
        assert feed(s, trials, [(2, {"training_iteration": 4}), (2, {"m": 0})]) == [CONTINUE] * 2


def test_a_nested_metric_is_named_with_a_slash():
    s = ASHAScheduler(metric="val/loss", mode="min", max_t=9, grace_period=1, reduction_factor=3)
    trials = added(s, 2)
    rows = [(0, {"training_iteration": 1, "val": {"loss": 1.0}})]
    rows += [(1, {"training_iteration": 1, "val": {"loss": 2.0}})]
    assert feed(s, trials, rows) == [CONTINUE, STOP]


def test_asha_without_stop_last_trials_lets_trials_run_past_max_t():
    s = ASHAScheduler(
        metric="m", mode="max", max_t=4, grace_period=1, reduction_factor=2, stop_last_trials=False
    )
    trials = added(s, 2)
    assert (
        feed(s, trials, [(0, {"training_iteration": t, "m": 1}) for t in (1, 2, 4, 5, 9)])
        == [CONTINUE] * 5
    )
    # The second trial is judged at each rung, the top one (4 = max_t) included.
    rows = [(1, {"training_iteration": t, "m": 2 if t < 4 else 0}) for t in (1, 2, 4, 5)]
    assert feed(s, trials, rows) == [CONTINUE, CONTINUE, STOP, CONTINUE]


def test_asha_brackets_drawn_as_ray_draws_them():
    np = pytest.importorskip("numpy")
    np.random.seed(0)
    s = ASHAScheduler(metric="m", mode="max", brackets=3)
    assert [len(b.rungs) for b in s._brackets] == [4, 3, 2]
    added(s, 3000)
    counts = [sum(b is bracket for b in s._trial_info.values()) for bracket in s._brackets]
    # Weights e**(rungs - max rungs): 1, 1/e, 1/e**2 of 1.503.
    expected = [3000 / 1.503, 3000 / 1.503 / 2.718, 3000 / 1.503 / 7.389]
    # Within 4 standard deviations of the binomial counts.
    assert all(abs(n - x) < 4 * x**0.5 for n, x in zip(counts, expected, strict=True)), counts


def test_asha_refuses_bad_arguments_and_values_naming_them():
    for kwargs, words in [
        ({"mode": "maximize"}, "mode must be 'min' or 'max'"),
        ({"grace_period": 10, "max_t": 5}, "grace_period must be at most max_t"),
        ({"reduction_factor": 1}, "greater than 1"),
        ({"brackets": 0}, "positive int"),
    ]:
        with pytest.raises(ValueError, match=words):
            ASHAScheduler(**kwargs)
    s = ASHAScheduler(metric="m", mode="min")
    (trial,) = added(s, 1)
    with pytest.raises(TypeError, match="m='high' \\(str\\), not a number"):
        s.on_trial_result(None, trial, {"training_iteration": 1, "m": "high"})


@pytest.mark.parametrize("cls", [AsyncHyperBandScheduler, MedianStoppingRule, HyperBandScheduler])
def test_reward_attr_is_deprecated_and_means_metric_with_mode_max(cls):
    with pytest.warns(DeprecationWarning, match="reward_attr") as caught:
        s = cls(reward_attr="episode_reward_mean")
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert (s.metric, s.mode) == ("episode_reward_mean", "max")
    with pytest.raises(ValueError, match="contradicts"):
        cls(reward_attr="r", mode="min")


# -- MedianStoppingRule --------------------------------------------------------------------------
class Runner:
    """What MedianStoppingRule asks of trial_runner: the trials and their states."""

    def __init__(self, trials):
        self.trials = trials

    def get_trials(self):
        return self.trials


def test_median_stopping_rule_ray_defaults():
    s = MedianStoppingRule()
    assert s._time_attr == "time_total_s" and s.metric is None and s.mode is None
    assert (s._grace_period, s._min_samples_required, s._min_time_slice) == (60.0, 3, 0)
    assert s._hard_stop is True
    assert tune.schedulers.MedianStoppingRule is MedianStoppingRule


@pytest.mark.parametrize("mode", ["max", "min"])
def test_median_stopping_rule_decisions_by_hand(mode):
    """grace 2, two samples: from t = 2 a trial stops when its best score so far is below the
    median of the running means (over results from t = 2 to now) of the trials that have
    reached t."""
    sign = 1 if mode == "max" else -1
    s = MedianStoppingRule(
        time_attr="training_iteration",
        metric="acc",
        mode=mode,
        grace_period=2,
        min_samples_required=2,
    )
    trials = added(s, 6)
    for trial in trials:
        trial.status = TrialStatus.RUNNING  # nothing waits: too few samples means CONTINUE
    runner = Runner(trials)

    def curve(i, *points):
        rows = [{"training_iteration": t, "acc": sign * acc} for t, acc in points]
        return [s.on_trial_result(runner, trials[i], row) for row in rows]

    assert curve(0, (1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)) == [CONTINUE] * 4
    # At 2 only t0 has got there: one sample of two.
    assert curve(1, (1, 0.5), (2, 0.6), (3, 0.7)) == [CONTINUE] * 3
    # At 2: t0's mean 0.2, t1's 0.6, median 0.4 > t2's best 0.1.
    assert curve(2, (1, 0.0), (2, 0.1)) == [CONTINUE, STOP]
    # At 2 the median of 0.2, 0.6, 0.1 is 0.2 < t3's best 0.9 (its pre-grace result counts for
    # the best, not for the means). At 4 only t0 has got there.
    assert curve(3, (1, 0.9), (2, 0.3), (4, 0.0)) == [CONTINUE] * 3
    # At 4: t0's mean over 2..4 is 0.3, t3's (0.3 + 0.0) / 2: median 0.225 < t1's best 0.8.
    assert curve(1, (4, 0.8)) == [CONTINUE]
    # At 2: means 0.2, 0.6, 0.1, 0.3: median 0.25. Equal is not worse; below is.
    assert curve(4, (2, 0.25)) == [CONTINUE]
    assert curve(5, (2, 0.24)) == [STOP]
    assert s.debug_string() == "Using MedianStoppingRule: num_stopped=2."


def test_median_stopping_rule_pauses_to_yield_when_it_cannot_judge():
    s = MedianStoppingRule(
        time_attr="training_iteration", metric="m", mode="max", grace_period=2, min_time_slice=2
    )
    trials = added(s, 2)
    trials[0].status = TrialStatus.RUNNING
    runner = Runner(trials)  # t1 waits PENDING
    decide = [
        s.on_trial_result(runner, trials[0], {"training_iteration": t, "m": 1}) for t in range(1, 7)
    ]
    # Before grace: continue. At 2: too few samples and a trial waits: yield. Then again only
    # after more than min_time_slice (2) since the last pause.
    assert decide == [CONTINUE, PAUSE, CONTINUE, CONTINUE, PAUSE, CONTINUE]
    trials[1].status = TrialStatus.RUNNING  # nothing waits any more
    assert s.on_trial_result(runner, trials[0], {"training_iteration": 9, "m": 1}) == CONTINUE


def test_median_stopping_rule_without_hard_stop_pauses_then_runs_on():
    s = MedianStoppingRule(
        time_attr="training_iteration",
        metric="m",
        mode="max",
        grace_period=1,
        min_samples_required=1,
        hard_stop=False,
    )
    trials = added(s, 2)
    trials[0].status = trials[1].status = TrialStatus.RUNNING
    runner = Runner(trials)
    assert s.on_trial_result(runner, trials[0], {"training_iteration": 1, "m": 5}) == CONTINUE
    # Worse than t0's mean 5: paused instead of stopped.
    assert s.on_trial_result(runner, trials[1], {"training_iteration": 1, "m": 1}) == PAUSE
    # Paused for doing worse, it is never judged again.
    assert s.on_trial_result(runner, trials[1], {"training_iteration": 2, "m": 0}) == CONTINUE


def test_median_stopping_rule_needs_metric_and_mode():
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        MedianStoppingRule(mode="best")
    with pytest.raises(ValueError, match="MedianStoppingRule has no metric and mode"):
        added(MedianStoppingRule(), 1)
    s = MedianStoppingRule()
    assert s.set_search_properties("loss", "min")
    added(s, 1)


# -- metric and mode: on the scheduler, from tune.run, or a clear error -------------------------
def test_metric_and_mode_from_tune_run_or_the_scheduler():
    s = ASHAScheduler()
    assert s.set_search_properties("loss", "min")  # what tune.run(metric=, mode=) does
    assert (s.metric, s.mode) == ("loss", "min")
    s = ASHAScheduler(metric="loss", mode="min")
    assert s.set_search_properties(None, None) and (s.metric, s.mode) == ("loss", "min")
    assert not s.set_search_properties("acc", "max")  # contradicts: tune.run refuses it


def test_no_metric_or_mode_anywhere_fails_the_run_naming_the_fix(tmp_path):
    def trainable(config):
        tune.report(loss=1.0)

    with pytest.raises(ValueError) as info:
        tune.run(
            trainable,
            scheduler=ASHAScheduler(),
            num_samples=2,
            local_dir=str(tmp_path),
            verbose=0,
        )
    message = str(info.value)
    assert "AsyncHyperBandScheduler has no metric and mode" in message
    assert "to AsyncHyperBandScheduler(...) or to tune.run(...)" in message
    with pytest.raises(ValueError, match="no mode"):
        tune.run(
            trainable,
            scheduler=ASHAScheduler(metric="loss"),
            local_dir=str(tmp_path),
            verbose=0,
        )
    with pytest.raises(ValueError, match="contradicts"):
        tune.run(
            trainable,
            scheduler=ASHAScheduler(metric="loss", mode="min"),
            metric="acc",
            mode="max",
            local_dir=str(tmp_path),
            verbose=0,
        )


# -- the whole loop on the simulated backend ---------------------------------------------------
def quality(config):
    """Each trial's asymptotic loss, a permutation of 0..299 / 300 (the best is trial 0)."""
    return (config["i"] * 37 % 300) / 300


def learning_curve(config, iteration):
    return {"loss": quality(config) + 1.0 / iteration}


@pytest.mark.parametrize("where", ["scheduler", "tune.run"])
def test_asha_through_the_whole_loop(where):
    n, max_t = 300, 27
    if where == "scheduler":
        scheduler = ASHAScheduler(
            metric="loss", mode="min", max_t=max_t, grace_period=1, reduction_factor=3
        )
    else:
        scheduler = ASHAScheduler(max_t=max_t, grace_period=1, reduction_factor=3)
        assert scheduler.set_search_properties("loss", "min")
    controller = make_controller(n, scheduler=scheduler, stop=None)
    backend = SimulatedBackend(workers(8), ScriptedTrainable(learning_curve))
    rows = run_loop(controller, backend)
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    lengths = {t: len(r) for t, r in rows.rows.items()}
    assert len(lengths) == n and max(lengths.values()) == max_t
    # Most trials stop at the first rung; iterations are a fraction of n * max_t.
    assert sum(1 for k in lengths.values() if k == 1) > n / 2
    assert sum(lengths.values()) < n * max_t / 8
    # The stopped results are marked done, as Ray logs them.
    assert all(r[-1]["done"] for r in rows.rows.values())
    # The best configuration survives to max_t.
    assert lengths["t0"] == max_t
    assert not backend.hosted


def test_median_stopping_rule_through_the_whole_loop():
    """Pauses to yield while too few trials have got far enough, stops the worse half later;
    every trial ends TERMINATED and the best runs to the end."""
    n, last = 200, 20
    scheduler = MedianStoppingRule(
        time_attr="training_iteration", metric="loss", mode="min", grace_period=3
    )
    controller = make_controller(n, scheduler=scheduler, stop={"training_iteration": last})
    backend = SimulatedBackend(workers(4), ScriptedTrainable(learning_curve))
    rows = run_loop(controller, backend)
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    lengths = {t: r[-1]["training_iteration"] for t, r in rows.rows.items()}
    assert len(lengths) == n and lengths["t0"] == last
    stopped = [t for t, k in lengths.items() if k < last]
    assert len(stopped) > n / 3
    # Some trials yielded their slot (paused, then resumed from their checkpoint).
    resumed = [t for t, r in rows.rows.items() if r[-1]["iterations_since_restore"] != len(r)]
    assert resumed
    assert sum(len(r) for r in rows.rows.values()) < n * last * 0.7
    assert not backend.hosted


# -- synchronous HyperBand -----------------------------------------------------------------------
def test_hyperband_ray_defaults_and_errors():
    s = HyperBandScheduler()
    assert (s._time_attr, s._max_t, s._eta, s._stop_last_trials) == (
        "training_iteration",
        81,
        3,
        True,
    )
    assert tune.schedulers.HyperBandScheduler is HyperBandScheduler
    with pytest.raises(ValueError, match="HyperBandScheduler has no metric and mode"):
        added(HyperBandScheduler(), 1)
    with pytest.raises(ValueError, match="greater than 1"):
        HyperBandScheduler(reduction_factor=1)


@pytest.mark.parametrize("limit", [None, 2])
def test_hyperband_fills_brackets_in_order_and_halves_each_when_its_rung_is_complete(limit):
    """max_t 9, eta 3: the first band is a bracket of 3 trials run to 9, one of 5 run to 3
    whose best 2 go on to 9, and one of 9 run to 1 whose best 3 go to 3 and best 1 to 9.
    Paused trials resume from their checkpoints; the rest stop at the milestone. Trials are
    made as they can start, so with max_concurrent_trials=2 a bracket fills only as its
    first trials pause: its rung waits until it is filled."""
    scheduler = HyperBandScheduler(metric="loss", mode="min", max_t=9, reduction_factor=3)
    controller = make_controller(17, scheduler=scheduler, stop=None, max_concurrent_trials=limit)
    backend = SimulatedBackend(workers(2), ScriptedTrainable(learning_curve))
    rows = run_loop(controller, backend)
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    ends = {t: r[-1]["training_iteration"] for t, r in rows.rows.items()}
    by_quality = lambda ids: sorted(ids, key=lambda i: quality({"i": i}))  # noqa: E731
    assert [ends[f"t{i}"] for i in range(3)] == [9, 9, 9]
    second = by_quality(range(3, 8))
    assert [ends[f"t{i}"] for i in second] == [9, 9, 3, 3, 3]
    third = by_quality(range(8, 17))
    assert [ends[f"t{i}"] for i in third] == [9, 3, 3] + [1] * 6
    # Every row is reported once: the survivors went on from their own checkpoints.
    for trial_id, trial_rows in rows.rows.items():
        iterations = [r["training_iteration"] for r in trial_rows]
        assert iterations == list(range(1, ends[trial_id] + 1)), trial_id
    resumed = rows.rows[f"t{second[0]}"]
    assert [r["iterations_since_restore"] for r in resumed] == [1, 2, 3, 1, 2, 3, 4, 5, 6]
    assert "num_stopped=11 total_brackets=3" in scheduler.debug_string()
    assert not backend.hosted


def test_hyperband_halves_an_unfilled_last_bracket_once_no_more_trials_come():
    """12 trials: brackets of 3 and 5, then 4 of the third's 9. Once the search has no more,
    the 4 are halved as a full bracket would be: the best 3 go to 3, the best 1 to 9."""
    scheduler = HyperBandScheduler(metric="loss", mode="min", max_t=9, reduction_factor=3)
    controller = make_controller(12, scheduler=scheduler, stop=None, max_concurrent_trials=2)
    backend = SimulatedBackend(workers(4), ScriptedTrainable(learning_curve))
    rows = run_loop(controller, backend)
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    ends = {t: r[-1]["training_iteration"] for t, r in rows.rows.items()}
    last = sorted(range(8, 12), key=lambda i: quality({"i": i}))
    assert [ends[f"t{i}"] for i in last] == [9, 3, 3, 1]


def test_hyperband_through_the_whole_loop():
    n, max_t = 300, 27
    scheduler = HyperBandScheduler(max_t=max_t, reduction_factor=3)
    assert scheduler.set_search_properties("loss", "min")
    controller = make_controller(n, scheduler=scheduler, stop=None)
    backend = SimulatedBackend(workers(8), ScriptedTrainable(learning_curve))
    rows = run_loop(controller, backend)
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    ends = [r[-1]["training_iteration"] for r in rows.rows.values()]
    assert len(ends) == n and set(ends) <= {1, 3, 9, 27}
    assert sum(1 for e in ends if e < max_t) > n / 2
    assert sum(len(r) for r in rows.rows.values()) < n * max_t / 3
    assert not backend.hosted


def test_hyperband_a_trial_that_fails_does_not_hold_up_its_bracket():
    scheduler = HyperBandScheduler(metric="loss", mode="min", max_t=9, reduction_factor=3)
    controller = make_controller(17, scheduler=scheduler, stop=None)
    backend: SimulatedBackend

    def fault(method, trial):
        hosted = backend.hosted.get(trial.trial_id)
        if method == "train" and trial.trial_id in ("t4", "t9") and hosted.iteration == 1:
            raise TrialCodeError("simulated: boom")

    backend = SimulatedBackend(workers(2), ScriptedTrainable(learning_curve), fault=fault)
    rows = run_loop(controller, backend)
    status = {t.trial_id: t.status for t in controller.trials}
    assert status.pop("t4") == status.pop("t9") == TrialStatus.ERROR
    assert set(status.values()) == {TrialStatus.TERMINATED}
    # t4 failed before the second bracket's first milestone: its 4 others were halved
    # without it (best 2 to 9). t9 failed after being promoted at the third bracket's first
    # milestone (3 to go to 3): only 2 got there, and the best went on to 9.
    ends = {t: r[-1]["training_iteration"] for t, r in rows.rows.items()}
    assert sorted(ends[f"t{i}"] for i in (3, 5, 6, 7)) == [3, 3, 9, 9]
    third = sorted(ends[f"t{i}"] for i in (8, *range(10, 17)))
    assert third == [1] * 6 + [3, 9]


@pytest.mark.parametrize("budget", [3, 8, 20, 30, 45])
def test_hyperband_when_the_time_budget_ends_the_waiting_trials(budget):
    """The budget ends every waiting trial, paused ones at a milestone too; a bracket whose
    rung that completes stops nothing from inside that (it used to, and crashed the run)."""
    scheduler = HyperBandScheduler(metric="loss", mode="min", max_t=9, reduction_factor=3)
    controller = make_controller(17, scheduler=scheduler, stop=None)
    controller.time_budget_s = budget  # simulated seconds
    backend = SimulatedBackend(workers(2), ScriptedTrainable(learning_curve))
    run_loop(controller, backend)
    # All TERMINATED, a trial whose pause was being saved as the budget ran out too.
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    assert not backend.hosted


def test_schedulers_pickle_with_their_trials_for_resume():
    """The experiment state pickles a stateful scheduler together with the trials (resume);
    HyperBand's brackets refer to the trials themselves."""
    from dasktune.experiment_state import restore_run_objects, run_objects_record

    scheduler = HyperBandScheduler(metric="loss", mode="min", max_t=9, reduction_factor=3)
    controller = make_controller(17, scheduler=scheduler, stop=None)
    backend = SimulatedBackend(workers(2), ScriptedTrainable(learning_curve))
    run_loop(controller, backend)
    for s in (
        scheduler,
        ASHAScheduler(metric="loss", mode="min"),
        MedianStoppingRule(metric="loss", mode="min"),
    ):
        trials = added(s, 3)
        restored, back = restore_run_objects(run_objects_record(s, trials), type(s))
        assert restored.debug_string() == s.debug_string()
        if isinstance(s, HyperBandScheduler):
            bracket = restored._trial_info[back[0].trial_id]
            assert bracket.trials[back[0].trial_id] is back[0]


def test_hyperband_without_stop_last_trials_lets_the_survivors_run_to_their_stop_rule():
    scheduler = HyperBandScheduler(
        metric="loss", mode="min", max_t=9, reduction_factor=3, stop_last_trials=False
    )
    controller = make_controller(17, scheduler=scheduler, stop={"training_iteration": 12})
    backend = SimulatedBackend(workers(2), ScriptedTrainable(learning_curve))
    rows = run_loop(controller, backend)
    assert {t.status for t in controller.trials} == {TrialStatus.TERMINATED}
    ends = sorted(r[-1]["training_iteration"] for r in rows.rows.values())
    # The same survivors as with stop_last_trials (3 + 2 + 1) go on to the stop rule.
    assert ends == [1] * 6 + [3] * 5 + [12] * 6
