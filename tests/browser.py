"""A real headless browser for page tests: Debian's ``chromium`` (``ci/install-system.sh``
installs it), driven through its command line (``--dump-dom``, ``--screenshot``).

Import as ``from browser import ...`` (``tests/`` is on ``sys.path`` under pytest).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# One page load, including the browser's own start (about a second on the reference machine).
LOAD_TIMEOUT_S = 60

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (bash ci/install-system.sh installs it, as CI does)",
)


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    # A profile of its own per call: two browsers never share one (its lock would refuse).
    with tempfile.TemporaryDirectory(prefix="dasktune-chromium-") as profile:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=LOAD_TIMEOUT_S,
        )


def dump_dom(url: str) -> str:
    """The page's DOM after the browser loaded it, serialized as HTML."""
    done = _chromium("--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(url: str, path: Path, width: int, height: int) -> Path:
    """A PNG of the page in a ``width`` × ``height`` window."""
    done = _chromium(f"--screenshot={path}", f"--window-size={width},{height}", url)
    assert done.returncode == 0 and path.exists(), done.stderr[-2000:]
    return path


class _Tables(HTMLParser):
    """Rows of ``<table class="trials">``: each row's cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._in_table = False
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "trials") in attrs:
            self._in_table = True
            self.tables.append([])
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def trial_tables(dom: str) -> list[list[dict[str, str]]]:
    """Each run's trials table on the page, as one dict (header -> cell text) per trial."""
    parser = _Tables()
    parser.feed(dom)
    tables = []
    for rows in parser.tables:
        header, body = rows[0], rows[1:]
        tables.append([dict(zip(header, row, strict=True)) for row in body])
    return tables
