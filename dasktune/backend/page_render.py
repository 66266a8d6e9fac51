"""The ``/dasktune`` page as HTML: per run, a learning-curve chart (inline SVG, drawn here, so
the page needs no JavaScript library) and the trials table. Pure: a :class:`PageState` in, a
string out. Everything from a run is escaped (trial names and configs are the user's)."""

from __future__ import annotations

import datetime
import math
from html import escape
from typing import Any

from .page_state import PageState, RunView, TrialView

# Seconds between reloads while some run is going (a meta refresh: no script needed).
REFRESH_S = 2
# At most this many curves in one chart (the best ones when the run has a mode).
MAX_CURVES = 40
# At most this many rows in a run's table (running trials first); the rest are counted.
MAX_ROWS = 500
_ROW_ORDER = {"RUNNING": 0, "PAUSED": 1, "PENDING": 2, "ERROR": 3, "TERMINATED": 4}
WIDTH, HEIGHT = 760, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 20, 40
COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
STATUS_COLORS = {
    "RUNNING": "#1f77b4",
    "TERMINATED": "#2ca02c",
    "ERROR": "#d62728",
    "PAUSED": "#ff7f0e",
    "PENDING": "#7f7f7f",
}

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.meta { color: #555; font-size: 0.9em; }
"""


def render_page(state: PageState, dashboard_link: str = "status") -> str:
    """The whole page."""
    runs = state.newest_first()
    live = any(not run.ended for run in runs)
    head = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        "<title>dasktune</title>",
    ]
    if live:
        head.append(f'<meta http-equiv="refresh" content="{REFRESH_S}">')
    head.append(f"<style>{_STYLE}</style></head><body>")
    body = [
        "<h1>dasktune experiments</h1>",
        f'<p class="meta">On this Dask scheduler; back to the '
        f'<a href="{escape(dashboard_link)}">Dask dashboard</a>. '
        + (
            f"Reloads every {REFRESH_S} s while a run is going.</p>"
            if live
            else "No run is going; reload to see new runs.</p>"
        ),
    ]
    if not runs:
        body.append("<p>No dasktune run has reported to this scheduler yet.</p>")
    for run in runs:
        body.extend(_run_section(run))
    return "\n".join([*head, *body, "</body></html>"])


def _run_section(run: RunView) -> list[str]:
    counts = run.counts()
    states = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    started = datetime.datetime.fromtimestamp(run.started).strftime("%Y-%m-%d %H:%M:%S")
    lines = [
        f'<section class="run" id="run-{escape(run.run_id)}">',
        f"<h2>{escape(run.name or run.run_id)} &mdash; "
        f'<span class="run-state">{"ended" if run.ended else "running"}</span></h2>',
        f'<p class="meta">{len(run.trials)} trial(s): {escape(states) or "none yet"}. '
        f"Started {started}. Results in <code>{escape(run.logdir)}</code>.</p>",
    ]
    plotted = _curves_to_plot(run)
    colors = {t.trial_id: COLORS[i % len(COLORS)] for i, t in enumerate(plotted)}
    if run.metric:
        lines.append(_chart(run, plotted, colors))
    lines.append(_table(run, colors))
    lines.append("</section>")
    return lines


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _curves_to_plot(run: RunView) -> list[TrialView]:
    trials = [t for t in run.trials.values() if any(_finite(p[1]) for p in t.points)]
    if len(trials) <= MAX_CURVES or run.mode not in ("min", "max") or not run.metric:
        return trials[:MAX_CURVES]
    metric = run.metric

    def score(trial: TrialView) -> float:
        value = trial.metrics.get(metric)
        if not _finite(value):
            return math.inf
        return -value if run.mode == "max" else value

    return sorted(trials, key=score)[:MAX_CURVES]


def _chart(run: RunView, plotted: list[TrialView], colors: dict[str, str]) -> str:
    points = [p for t in plotted for p in t.points if _finite(p[0]) and _finite(p[1])]
    title = f"{escape(run.metric or '')} by training_iteration"
    if not points:
        return f'<p class="chart-empty">{title}: no values yet.</p>'
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def sx(x: float) -> float:
        return MARGIN_LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return MARGIN_TOP + (1 - (y - y0) / (y1 - y0)) * plot_h

    bottom, right = MARGIN_TOP + plot_h, MARGIN_LEFT + plot_w
    parts = [
        f'<svg class="curves" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}">',
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_w}" height="{plot_h}" '
        'fill="#fafafa" stroke="#999"/>',
        f'<text x="{MARGIN_LEFT - 6}" y="{MARGIN_TOP + 10}" text-anchor="end" '
        f'font-size="11">{_num(y1)}</text>',
        f'<text x="{MARGIN_LEFT - 6}" y="{bottom}" text-anchor="end" font-size="11">'
        f"{_num(y0)}</text>",
        f'<text x="{MARGIN_LEFT}" y="{bottom + 16}" font-size="11">{_num(x0)}</text>',
        f'<text x="{right}" y="{bottom + 16}" text-anchor="end" font-size="11">{_num(x1)}</text>',
        f'<text x="{MARGIN_LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle" '
        f'font-size="12">{title}</text>',
    ]
    for trial in plotted:
        coords = " ".join(
            f"{sx(x):.1f},{sy(y):.1f}" for x, y in trial.points if _finite(x) and _finite(y)
        )
        parts.append(
            f'<polyline class="curve" data-trial="{escape(trial.name)}" fill="none" '
            f'stroke="{colors[trial.trial_id]}" stroke-width="2" points="{coords}">'
            f"<title>{escape(trial.name)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(run: RunView, colors: dict[str, str]) -> str:
    keys: dict[str, None] = {}
    if run.metric:
        keys[run.metric] = None
    for trial in run.trials.values():
        for key in trial.metrics:
            keys.setdefault(key, None)
    metric_keys = list(keys)
    headers = ["Trial name", "status", "worker", "iterations", "total time (s)", *metric_keys]
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    rows = [f'<table class="trials"><thead><tr>{head}<th>config</th></tr></thead><tbody>']
    shown = list(run.trials.values())
    if len(shown) > MAX_ROWS:
        order = {t.trial_id: i for i, t in enumerate(shown)}
        keep = sorted(shown, key=lambda t: (_ROW_ORDER.get(t.status, 5), order[t.trial_id]))
        kept = {t.trial_id for t in keep[:MAX_ROWS]}
        shown = [t for t in shown if t.trial_id in kept]
    for trial in shown:
        color = colors.get(trial.trial_id)
        swatch = f'<span class="swatch" style="background:{color}"></span>' if color else ""
        status_color = STATUS_COLORS.get(trial.status, "#222")
        cells = [
            f'<td class="name">{swatch}{escape(trial.name)}</td>',
            f'<td class="status" style="color:{status_color}">{escape(trial.status)}</td>',
            f"<td>{escape(trial.worker)}</td>",
            f'<td class="num">{trial.iterations}</td>',
            f'<td class="num">{_num(trial.total_time) if trial.total_time is not None else ""}'
            "</td>",
            *(f'<td class="num">{_num(trial.metrics.get(k))}</td>' for k in metric_keys),
            f"<td><code>{escape(trial.config)}</code></td>",
        ]
        rows.append(f'<tr data-trial="{escape(trial.trial_id)}">{"".join(cells)}</tr>')
    rows.append("</tbody></table>")
    hidden = len(run.trials) - len(shown)
    if hidden:
        rows.append(f'<p class="meta">{hidden} more trial(s) not shown.</p>')
    return "".join(rows)


def _num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.5g}"
    return escape(str(value))
