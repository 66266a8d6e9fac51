"""The ``/dasktune`` route on the scheduler's HTTP server (the one that serves Dask's dashboard).

The scheduler plugin adds it when it starts (``http_application.add_handlers``), next to
Dask's own routes and under the same prefix (``--dashboard-prefix``), so a Dask user keeps one
window and one address. A scheduler started without an HTTP server gets no page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tornado import web

from .page_render import render_page
from .page_state import PageState

PAGE = "dasktune"
# Marks an HTTP application that already has the route (a plugin registered again after an
# unregister must not add a second one: the route asks the scheduler for the live plugin).
_INSTALLED_ATTR = "_dasktune_page_installed"


class DasktunePage(web.RequestHandler):
    """GET: the page, rendered from the state the live plugin keeps."""

    def initialize(self, find_state: Callable[[], PageState | None]) -> None:
        """``find_state``: the current plugin's page state (None: no plugin registered)."""
        self._find_state = find_state

    def get(self) -> None:
        """The page (HTML, no script)."""
        state = self._find_state()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write(render_page(state if state is not None else PageState()))


def route_prefix(app: Any) -> str:
    """The prefix Dask's routes were registered under (``/`` unless the scheduler was started
    with a dashboard prefix), read from its ``health`` route."""
    router = getattr(app, "wildcard_router", None)
    for rule in getattr(router, "rules", ()):
        pattern = getattr(getattr(rule.matcher, "regex", None), "pattern", "")
        if pattern.endswith("health$"):
            return pattern[: -len("health$")] or "/"
    return "/"


def install_page(scheduler: Any, find_state: Callable[[], PageState | None]) -> str | None:
    """Add the route to ``scheduler``'s HTTP server; return its path (None: no server)."""
    app = getattr(scheduler, "http_application", None)
    if app is None:
        return None
    path = route_prefix(app) + PAGE
    if not getattr(app, _INSTALLED_ATTR, False):
        app.add_handlers(r".*$", [(path, DasktunePage, {"find_state": find_state})])
        setattr(app, _INSTALLED_ATTR, True)
    return path
