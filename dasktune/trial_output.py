"""What trials print: kept whole in the trial's directory, and shown on the driver with the
trial's name in front of each line, at a bounded rate.

On the worker, ``sys.stdout`` and ``sys.stderr`` are replaced once per process by streams that
route each write to the :class:`TrialOutput` of the trial whose code is running (a context
variable the trial's host sets around every call into the trial, inherited by a function
trainable's thread); writes from anything else go to the process's own streams as before. A
trial's output is appended to ``stdout``/``stderr`` in its directory (as Ray's
``log_to_file``), and what the driver should show waits in a buffer that rides back on the
host's next reply: no message of its own, no round trip per line. The driver's share is a token
bucket per trial (:data:`BURST_BYTES`, then :data:`RATE_BYTES_PER_S`); what does not fit is
counted and the driver prints one line saying how many bytes were dropped and where the whole
output is (at most every :data:`DROP_NOTICE_INTERVAL_S`, and when the trial ends).

Only Python-level writes are seen: output a C extension or a subprocess writes straight to file
descriptor 1 or 2 goes to the worker's own streams (trials share a worker process, so the file
descriptors cannot be told apart per trial).
"""

from __future__ import annotations

import contextvars
import io
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import dask

# The driver's share of a trial's output: a burst, then a steady rate (bytes).
BURST_BYTES = 64 * 1024
RATE_BYTES_PER_S = 32 * 1024
# Seconds between two "bytes dropped" notices about one trial.
DROP_NOTICE_INTERVAL_S = 5.0
STREAMS = ("stdout", "stderr")
_LINE_ENDS = "\r\n"

_current: contextvars.ContextVar[TrialOutput | None] = contextvars.ContextVar(
    "dasktune_trial_output", default=None
)
_install_lock = threading.Lock()


def log_to_driver() -> bool:
    """Whether trials' output is shown on the driver (dask config ``dasktune.log-to-driver``,
    default True, as Ray's ``log_to_driver``); it is kept in the trial's directory either way."""
    return bool(dask.config.get("dasktune.log-to-driver", True))


class _RoutedStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of a worker: a trial's writes go to its output."""

    def __init__(self, original: TextIO, name: str) -> None:
        self._original = original
        self._name = name

    def write(self, text: str) -> int:
        output = _current.get()
        if output is None:
            return self._original.write(text)
        output.write(self._name, text)
        return len(text)

    def flush(self) -> None:
        if _current.get() is None:
            self._original.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def install_router() -> None:
    """Route this process's ``sys.stdout``/``sys.stderr`` by trial (once per process)."""
    with _install_lock:
        for name in STREAMS:
            stream = getattr(sys, name)
            if not isinstance(stream, _RoutedStream) and stream is not None:
                setattr(sys, name, _RoutedStream(stream, name))


def current_output() -> contextvars.ContextVar[TrialOutput | None]:
    """The context variable naming the trial output of the running code."""
    return _current


class TrialOutput:
    """One trial's output on its worker: the files it is kept in and the driver's share."""

    def __init__(
        self,
        trial_name: str,
        directory: str,
        forward: bool = True,
        shown_dir: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.trial_name = trial_name
        self.directory = directory
        # Where the user finds the files: the trial's directory (its URL with remote storage,
        # where they are uploaded when the trial ends).
        self.shown_dir = shown_dir or directory
        self._forward = forward
        self._lock = threading.Lock()
        self._files: dict[str, TextIO] = {}
        self._pending: dict[str, list[str]] = {name: [] for name in STREAMS}
        self._dropped = dict.fromkeys(STREAMS, 0)
        self._clock = clock
        self._tokens = float(BURST_BYTES)
        self._refilled = clock()
        self._last_notice = -DROP_NOTICE_INTERVAL_S
        self._written = False
        # Whether the text last sent of a stream ended inside a line (the driver holds that
        # part until the line ends, or the trial does).
        self._open_line = dict.fromkeys(STREAMS, False)

    def write(self, stream: str, text: str) -> None:
        """Keep ``text`` (written to ``stream``) in the trial's file; queue it for the driver
        if the trial's share allows, else count it as dropped."""
        if not text:
            return
        with self._lock:
            file = self._files.get(stream)
            if file is None:
                os.makedirs(self.directory, exist_ok=True)
                file = self._files[stream] = open(  # noqa: SIM115 - kept open for the trial
                    os.path.join(self.directory, stream), "a", encoding="utf-8", errors="replace"
                )
            file.write(text)
            self._written = True
            if not self._forward:
                return
            now = self._clock()
            self._tokens = min(
                BURST_BYTES, self._tokens + (now - self._refilled) * RATE_BYTES_PER_S
            )
            self._refilled = now
            size = len(text.encode("utf-8", errors="replace"))
            if size <= self._tokens and not self._dropped[stream]:
                self._tokens -= size
                self._pending[stream].append(text)
            else:
                # Once something is dropped, the rest of that stream waits for the notice
                # (a line shown after a gap would read as if nothing were missing).
                self._dropped[stream] += size

    def drain(self, final: bool = False) -> dict[str, Any] | None:
        """What the driver should print now (None: nothing): the text queued per stream, and
        the bytes dropped when a notice is due (``final``: the trial's call ends it)."""
        if (
            not self._written
            and not any(self._dropped.values())
            and not (final and any(self._open_line.values()))
        ):
            return None  # the usual case, on every reply: no lock taken
        with self._lock:
            if self._written:
                for file in self._files.values():
                    file.flush()
                self._written = False
            text = {name: "".join(parts) for name, parts in self._pending.items() if parts}
            for parts in self._pending.values():
                parts.clear()
            for stream, chunk in text.items():
                self._open_line[stream] = not chunk.endswith(("\n", "\r"))
            closes_lines = final and any(self._open_line.values())
            if final:
                self._open_line = dict.fromkeys(STREAMS, False)
            now = self._clock()
            dropped: dict[str, int] = {}
            if any(self._dropped.values()) and (
                final or now - self._last_notice >= DROP_NOTICE_INTERVAL_S
            ):
                dropped = {name: n for name, n in self._dropped.items() if n}
                self._dropped = dict.fromkeys(STREAMS, 0)
                self._last_notice = now
        if not text and not dropped and not closes_lines:
            return None
        return {
            "trial": self.trial_name,
            "dir": self.shown_dir,
            "text": text,
            "dropped": dropped,
            "final": final,
        }

    def close(self) -> None:
        """Close the trial's files."""
        with self._lock:
            for file in self._files.values():
                file.close()
            self._files.clear()


class OutputPrinter:
    """The driver's side: prints what trials wrote, each line after ``(trial name)``."""

    def __init__(
        self,
        stdout: Callable[[], TextIO] = lambda: sys.stdout,
        stderr: Callable[[], TextIO] = lambda: sys.stderr,
    ) -> None:
        self._streams = {"stdout": stdout, "stderr": stderr}
        # The unfinished last line of each (trial, stream), printed once it ends.
        self._partial: dict[tuple[str, str], str] = {}

    def __call__(self, output: dict[str, Any]) -> None:
        """Print one drained :class:`TrialOutput` chunk."""
        name = output["trial"]
        prefix = f"({name}) "
        final = bool(output.get("final"))
        texts = dict(output.get("text", {}))
        if final:  # the trial's last output: nothing is held back
            for stream in STREAMS:
                if (name, stream) in self._partial:
                    texts.setdefault(stream, "")
        for stream, text in texts.items():
            lines = (self._partial.pop((name, stream), "") + text).splitlines(keepends=True)
            if lines and not final and not lines[-1].endswith(("\n", "\r")):
                self._partial[(name, stream)] = lines.pop()
            if not lines:
                continue
            out = self._streams[stream]()
            out.write("".join(f"{prefix}{line.rstrip(_LINE_ENDS)}\n" for line in lines))
            out.flush()
        for stream, size in output.get("dropped", {}).items():
            directory = output["dir"]
            out = self._streams[stream]()
            out.write(
                f"{prefix}{size} bytes of output from {name} dropped, see "
                f"{directory.rstrip('/')}/{stream}\n"
            )
            out.flush()
