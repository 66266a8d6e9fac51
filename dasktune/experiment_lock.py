"""One writer per experiment directory: a lock file the run creates atomically and removes.

Two runs writing one experiment interleave rows in each trial's ``result.json``, overwrite
each other's ``experiment_state.json``, and leave an analysis that mixes both. So a run
creates ``.dasktune_lock.json`` in the experiment directory before it writes anything else
there, with a create that fails if the file exists (a hard link locally, a conditional PUT on
S3; see :meth:`StorageLocation.create_exclusive`), and deletes it when it ends, on errors and
Ctrl-C too. A second run fails at once with the holder's host, pid and start time.

The lock records the holder's host, pid and start time, and a heartbeat the driver refreshes
on its experiment-state timer. A run that died without removing it (SIGKILL, a lost node)
does not lock the experiment forever. The rule: ``resume=True`` takes a lock over when its
holder is provably gone or silent:

* gone: it ran on this machine (same host name, boot and pid namespace) and its process no
  longer exists (or is a zombie, or the pid now belongs to a process started later);
* silent: its heartbeat is older than dask config ``dasktune.lock-timeout`` (default 2
  minutes), for a holder on another machine. Clocks are assumed to agree to well within that.

A run without ``resume=`` never takes a lock over: it says the holder is gone and that
``resume=True`` continues the experiment. Taking over is itself exclusive: the taker first
creates a claim file named after the stale lock's token, so of two runs resuming at once one
takes over and the other fails naming it. A holder whose lock was taken over (it was alive but
silent) learns it at its next heartbeat and stops with :class:`ExperimentLockLost`.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import threading
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType

import dask
from dask.utils import parse_timedelta

from .error import TuneError
from .storage import StorageLocation
from .storage_calls import in_thread, storage_timeout

LOCK_FILE = ".dasktune_lock.json"
DEFAULT_LOCK_TIMEOUT = "120s"
# The driver refreshes the heartbeat on its state timer, at most this often.
REFRESH_INTERVAL_S = 5.0


class ExperimentLocked(TuneError):
    """Another run holds the experiment directory (or left it locked)."""


class ExperimentLockLost(TuneError):
    """This run's lock was taken over by another run, which now writes the experiment."""


def lock_timeout() -> float:
    """Seconds without a heartbeat after which a holder on another machine counts as dead."""
    return float(parse_timedelta(dask.config.get("dasktune.lock-timeout", DEFAULT_LOCK_TIMEOUT)))


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: written into the lock file."""

    token: str
    host: str
    pid: int
    started: float
    heartbeat: float
    machine: str = ""
    process_start: str | None = None

    @classmethod
    def this_process(cls) -> Holder:
        """A new holder record for this process (a fresh token per lock)."""
        now = time.time()
        pid = os.getpid()
        return cls(
            token=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=pid,
            started=now,
            heartbeat=now,
            machine=_machine_id(),
            process_start=_process_start(pid),
        )

    @classmethod
    def from_text(cls, text: str) -> Holder | None:
        """Parse a lock file; None if it is not one (empty, torn, or foreign)."""
        try:
            data = json.loads(text)
            return cls(
                token=str(data["token"]),
                host=str(data["host"]),
                pid=int(data["pid"]),
                started=float(data["started"]),
                heartbeat=float(data["heartbeat"]),
                machine=str(data.get("machine", "")),
                process_start=data.get("process_start"),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def to_text(self) -> str:
        """The lock file's content."""
        data = asdict(self)
        data["started_at"] = _when(self.started)  # for people reading the file
        return json.dumps(data, indent=1)

    def describe(self, now: float) -> str:
        """The holder for people: host, pid, start time and how old its heartbeat is."""
        return (
            f"host {self.host}, pid {self.pid}, started at {_when(self.started)} (last "
            f"heartbeat {max(0.0, now - self.heartbeat):.0f} s ago)"
        )

    def why_dead(self, timeout: float, now: float) -> str | None:
        """Why this holder provably no longer runs, or None if it may still run."""
        if self.machine and self.machine == _machine_id():
            if not _process_runs(self.pid, self.process_start):
                return f"its process {self.pid} on this machine is gone"
            return None  # it runs here: trust that over any heartbeat
        silent = now - self.heartbeat
        if silent > timeout:
            return f"no heartbeat for {silent:.0f} s (dasktune.lock-timeout: {timeout:g} s)"
        return None


class ExperimentLock:
    """The lock a run holds on its experiment directory; see the module doc for the rule."""

    def __init__(self, location: StorageLocation, holder: Holder) -> None:
        self.location = location
        self.holder = holder
        self._lock = threading.Lock()  # refresh (a driver thread) vs release
        self._released = False

    @property
    def url(self) -> str:
        """The lock file's URL."""
        return self.location.join(LOCK_FILE)

    @classmethod
    def acquire(
        cls, location: StorageLocation, *, take_over: bool, timeout: float | None = None
    ) -> ExperimentLock:
        """Lock the experiment at ``location`` for this run, or raise :class:`ExperimentLocked`
        naming the holder and the fix. ``take_over`` (``resume=``) takes a dead holder's lock."""
        timeout = lock_timeout() if timeout is None else timeout
        me = Holder.this_process()
        location.makedirs()
        # Few rounds: each ends with the lock taken, an error, or a holder that just left.
        for _ in range(5):
            if location.create_exclusive(LOCK_FILE, me.to_text()):
                return cls(location, me)
            text = _read(location, LOCK_FILE)
            if text is None:
                continue  # released meanwhile: try again
            other = Holder.from_text(text)
            now = time.time()
            url = location.join(LOCK_FILE)
            if other is None:
                raise ExperimentLocked(
                    f"{location.url} is locked by {url}, which dasktune cannot read. If no "
                    "other run uses this experiment, delete that file and run again; otherwise "
                    "pass another name=."
                )
            why = other.why_dead(timeout, now)
            if why is None:
                raise ExperimentLocked(_in_use_message(location, other, now, take_over, timeout))
            if not take_over:
                raise ExperimentLocked(
                    f"{location.url} was left locked by a run that is gone ({why}): "
                    f"{other.describe(now)}. Pass resume=True to continue that experiment "
                    "(it takes the lock over), or pass another name= to start a new one."
                )
            if _take_over(location, other, me):
                return cls(location, me)
        raise ExperimentLocked(
            f"could not lock {location.url}: other runs keep taking and releasing it. Make "
            "sure one run at a time uses this experiment, or pass another name=."
        )

    def refresh(self) -> None:
        """Renew the heartbeat; raise :class:`ExperimentLockLost` if another run took over."""
        with self._lock:
            if self._released:
                return
            text = _read(self.location, LOCK_FILE)
            current = Holder.from_text(text) if text is not None else None
            if current is None and text is None:
                # Deleted by hand while this run lives: take it back unless another run has.
                if self.location.create_exclusive(LOCK_FILE, self.holder.to_text()):
                    return
                text = _read(self.location, LOCK_FILE)
                current = Holder.from_text(text) if text is not None else None
            if current is None or current.token != self.holder.token:
                who = current.describe(time.time()) if current is not None else "an unknown run"
                raise ExperimentLockLost(
                    f"this run's lock on {self.location.url} was taken over by another run "
                    f"({who}), which found this one silent for longer than dasktune.lock-timeout "
                    f"({lock_timeout():g} s). Two runs now write this experiment, so this one "
                    "stops. Raise dasktune.lock-timeout if heartbeats can pause that long "
                    "(e.g. a slow store), and resume only runs that are gone."
                )
            self.holder = replace(self.holder, heartbeat=time.time())
            self.location.write_text(LOCK_FILE, self.holder.to_text())

    def release(self) -> None:
        """Delete the lock file if it is still this run's; never raises (a warning instead)."""
        with self._lock:
            if self._released:
                return
            self._released = True
            try:
                text = _read(self.location, LOCK_FILE)
                current = Holder.from_text(text) if text is not None else None
                if current is not None and current.token == self.holder.token:
                    self.location.remove(LOCK_FILE)
            except Exception as exc:  # noqa: BLE001 - the run's own outcome matters more
                warnings.warn(
                    f"could not remove the lock {self.url} ({exc!r}); a later run with "
                    "resume=True takes it over once this process is gone.",
                    stacklevel=2,
                )

    def __enter__(self) -> ExperimentLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Under the storage deadline: a store that stopped answering must not hang the run's end.
        timeout = storage_timeout()
        try:
            in_thread(self.release).result(timeout)
        except concurrent.futures.TimeoutError:
            warnings.warn(
                f"could not remove the lock {self.url}: storage did not answer within "
                f"{timeout:g} s (dask config 'dasktune.storage-timeout'); a later run with "
                "resume=True takes it over once this process is gone.",
                stacklevel=2,
            )


def _in_use_message(
    location: StorageLocation, other: Holder, now: float, take_over: bool, timeout: float
) -> str:
    head = (
        f"{location.url} is in use by another run: {other.describe(now)}. An experiment "
        "directory has one writer, so this run does not start."
    )
    if not take_over:
        return f"{head} Wait for that run to end (or stop it), or pass another name=."
    if other.machine == _machine_id():
        return (
            f"{head} resume=True takes the lock over from a run on this machine once its "
            f"process has ended: stop pid {other.pid} first, then resume."
        )
    after = max(0.0, timeout - (now - other.heartbeat))
    return (
        f"{head} resume=True takes the lock over from a run on another machine once it has "
        f"sent no heartbeat for dasktune.lock-timeout ({timeout:g} s; {after:.0f} s from now "
        f"for this one). Stop that run first, or, if you are sure it is gone, delete "
        f"{location.join(LOCK_FILE)}."
    )


def _take_over(location: StorageLocation, stale: Holder, me: Holder) -> bool:
    """Replace ``stale``'s lock with ours, exclusively among runs taking over at once."""
    claim = f"{LOCK_FILE}.takeover-{stale.token}"
    if not location.create_exclusive(claim, me.to_text()):
        text = _read(location, claim)
        taker = Holder.from_text(text) if text is not None else None
        who = taker.describe(time.time()) if taker is not None else "an unknown run"
        raise ExperimentLocked(
            f"another run ({who}) is taking over the lock of {location.url} right now. If no "
            f"other run is starting on this experiment, delete {location.join(claim)} (left "
            "by a run that died while taking over) and run again."
        )
    try:
        # Only the holder of this claim removes this stale lock, and it re-reads first: a
        # taker that finished before us has replaced it with its own.
        text = _read(location, LOCK_FILE)
        current = Holder.from_text(text) if text is not None else None
        if current is not None and current.token == stale.token:
            location.remove(LOCK_FILE)
        return location.create_exclusive(LOCK_FILE, me.to_text())
    finally:
        # Removed only after our lock exists, so a late taker of the same stale lock finds
        # either this claim or our lock, never the stale one.
        location.remove(claim)


def _read(location: StorageLocation, relpath: str) -> str | None:
    try:
        return location.read_text(relpath)
    except FileNotFoundError:
        return None


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def _machine_id() -> str:
    """Host name, boot and pid namespace: where a pid means the same process as here."""
    parts = [socket.gethostname()]
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(os.readlink(source) if source.endswith("ns/pid") else _read_proc(source))
        except OSError:
            pass
    return "|".join(parts)


def _read_proc(path: str) -> str:
    return Path(path).read_text().strip()


def _process_start(pid: int) -> str | None:
    """When the process started, in clock ticks since boot (Linux), to tell a reused pid."""
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _proc_stat(pid: int) -> list[str] | None:
    # Fields after the command name (which may hold spaces and parentheses): state first.
    try:
        return _read_proc(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_runs(pid: int, started: str | None) -> bool:
    """Whether process ``pid`` (started at ``started``, if known) still runs here."""
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate it there; rely on the heartbeat
    fields = _proc_stat(pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):
            return False  # killed, not yet reaped by its parent
        return started is None or len(fields) <= 19 or fields[19] == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, as another user's process
        return True
    return True
