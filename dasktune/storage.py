"""Where an experiment's files live: trial dirs, result logs, errors, experiment state.

Every access goes through fsspec, so ``local_dir`` may be a path, ``s3://bucket/prefix`` or any
fsspec URL. On a local filesystem result rows are appended to open files; elsewhere (object
stores have no append) they go to a local spool file that is uploaded whole when flushed, and
the driver flushes on a timer rather than per result.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import posixpath
import tempfile
import threading
import traceback
from collections.abc import Mapping
from typing import Any

import cloudpickle
import fsspec
from fsspec.implementations.local import LocalFileSystem

from . import result as R
from .utils.dicts import flatten_dict


def json_default(value: Any) -> Any:
    """Make numpy scalars/arrays and other odd values JSON-safe (strings as a last resort)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def to_json(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never fails on result values (NaN stays NaN, as Ray writes it).

    It still fails on what JSON cannot hold: a key that is not a str, number, bool or None
    (a tuple), a container that holds itself, and, with ``sort_keys``, keys of mixed types in
    one dict; :func:`json_problem` says where.
    """
    return json.dumps(value, default=json_default, **kwargs)


_JSON_KEY_TYPES = (str, int, float, bool, type(None))


def json_problem(value: Any, sort_keys: bool = False) -> tuple[tuple[Any, ...], str] | None:
    """Where and why :func:`to_json` fails on ``value``: ``(key path, reason)``, or None when
    the walk finds nothing (then the whole value is to blame). Only run after a failure."""
    return _json_walk(value, (), sort_keys, set())


def _json_walk(
    value: Any, path: tuple[Any, ...], sort_keys: bool, active: set[int]
) -> tuple[tuple[Any, ...], str] | None:
    if isinstance(value, (dict, list, tuple)):
        if id(value) in active:
            return path, "contains itself (a cycle)"
        active.add(id(value))
        try:
            if isinstance(value, dict):
                for key in value:
                    if not isinstance(key, _JSON_KEY_TYPES):
                        kind = type(key).__qualname__
                        return (*path, key), f"has the key {key!r}, a {kind}; keys must be strings"
                if sort_keys:
                    try:
                        sorted(value)
                    except TypeError:
                        kinds = sorted({type(k).__qualname__ for k in value})
                        return path, f"mixes key types ({', '.join(kinds)}) that cannot be sorted"
                items: Any = value.items()
            else:
                items = enumerate(value)
            for key, item in items:
                found = _json_walk(item, (*path, key), sort_keys, active)
                if found is not None:
                    return found
        finally:
            active.discard(id(value))
        return None
    try:
        to_json(value)
    except Exception as exc:  # noqa: BLE001 - a value whose repr/tolist raises
        return path, f"cannot be written as JSON ({type(exc).__name__}: {exc})"
    return None


class StorageLocation:
    """A root URL plus the fsspec options to reach it, usable from any process."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.storage_options = dict(storage_options or {})
        url = str(url)
        self.fs, root = fsspec.core.url_to_fs(url, **self.storage_options)
        _avoid_upload_hangs(self.fs)
        # Only the plain local filesystem gets plain paths and in-place appends; a subclass
        # under its own protocol (a test double, a wrapper) keeps its URLs.
        self.is_local = type(self.fs) is LocalFileSystem
        if self.is_local:
            root = os.path.abspath(os.path.expanduser(root))
            self.url = root
        else:
            self.url = url.rstrip("/")
        self.root = root.rstrip("/") if root != "/" else root

    def join(self, *parts: str) -> str:
        """URL of a path below the root (a plain path when local)."""
        if self.is_local:
            return os.path.join(self.url, *parts)
        return posixpath.join(self.url, *parts)

    def path(self, *parts: str) -> str:
        """Filesystem path (no protocol) of a path below the root, for ``self.fs`` calls."""
        if self.is_local:
            return os.path.join(self.root, *parts)
        return posixpath.join(self.root, *parts)

    def child(self, *parts: str) -> StorageLocation:
        """A location rooted below this one, with the same options."""
        return StorageLocation(self.join(*parts), self.storage_options)

    def makedirs(self, *parts: str) -> None:
        """Create a directory (a no-op on object stores, which have none)."""
        self.fs.makedirs(self.path(*parts), exist_ok=True)

    def write_text(self, relpath: str, text: str) -> None:
        """Write a whole file; readers never see it half-written."""
        target = self.path(relpath)
        if self.is_local:
            tmp = f"{target}.tmp-{os.getpid()}-{threading.get_ident()}"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, target)
        else:
            self.fs.pipe_file(target, text.encode())

    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Write a whole binary file; readers never see it half-written."""
        target = self.path(relpath)
        if self.is_local:
            tmp = f"{target}.tmp-{os.getpid()}-{threading.get_ident()}"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        else:
            self.fs.pipe_file(target, data)

    def read_text(self, relpath: str) -> str:
        """Read a whole file."""
        return self.fs.cat_file(self.path(relpath)).decode()

    def create_exclusive(self, relpath: str, text: str) -> bool:
        """Create a file with ``text`` unless it exists; False if it does.

        Atomic where the filesystem can tell "create" from "overwrite": a local disk (the file
        is written aside and hard-linked into place, which fails if the name exists, so readers
        never see it half-written) and S3 (a conditional PUT, ``If-None-Match: *``, through
        s3fs's ``"xb"`` mode). Other fsspec backends get ``"xb"`` as they implement it; one
        that ignores the ``x`` checks first and is atomic only up to that check.
        """
        target = self.path(relpath)
        if self.is_local:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = f"{target}.tmp-{os.getpid()}-{threading.get_ident()}"
            with open(tmp, "w") as f:
                f.write(text)
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
            except OSError:  # no hard links here (FAT, some network mounts): O_EXCL instead
                return _create_excl(target, text)
            finally:
                os.unlink(tmp)
            return True
        if self.exists(relpath):
            return False
        try:
            with self.fs.open(target, "xb") as f:
                f.write(text.encode())
        except FileExistsError:
            return False
        return True

    def remove(self, relpath: str) -> None:
        """Delete a file; a file already gone is fine."""
        try:
            self.fs.rm_file(self.path(relpath))
        except FileNotFoundError:
            pass

    def subdirs(self) -> list[StorageLocation]:
        """The directories directly below the root (none if the root does not exist)."""
        if not self.exists():
            return []
        return [
            self.child(posixpath.basename(str(p).rstrip("/")))
            for p in self.fs.ls(self.root, detail=False)
            if self.fs.isdir(p)
        ]

    def subdir_names(self) -> list[str]:
        """Names of the directories directly below the root, from one listing (none if the
        root does not exist)."""
        if not self.exists():
            return []
        return [
            posixpath.basename(str(entry["name"]).rstrip("/"))
            for entry in self.fs.ls(self.root, detail=True)
            if entry.get("type") == "directory"
        ]

    def exists(self, relpath: str = "") -> bool:
        """Whether a path exists below the root."""
        if not self.is_local:
            self.fs.invalidate_cache()
        return self.fs.exists(self.path(relpath) if relpath else self.root)


def _create_excl(path: str, text: str) -> bool:
    """Create ``path`` only if it does not exist (atomic, but briefly empty to readers)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return True


def _avoid_upload_hangs(fs: Any) -> None:
    """Stop s3fs uploads from hanging forever on an endpoint that accepts and never answers.

    botocore sends ``Expect: 100-continue`` on uploads and aiohttp arms its read timeout only
    after the body is sent, which waits for that "100 Continue": so ``read_timeout`` never
    applies to a PUT against a black hole. Without the header the body goes out at once and the
    timeout works. (Measured with moto behind a black-holing proxy; s3fs 2026.9, aiohttp 3.14.)
    """
    if type(fs).__name__ != "S3FileSystem" or getattr(fs, "_dasktune_no_expect", False):
        return
    try:
        from botocore.handlers import add_expect_header

        fs.connect()
        fs.s3.meta.events.unregister("before-call.s3", add_expect_header)
        fs._dasktune_no_expect = True
    except Exception:  # noqa: BLE001 - a different s3fs/botocore: uploads keep the header
        return


class _AppendTarget:
    """A file that grows by whole lines: appended in place locally, spooled and uploaded
    elsewhere.

    Appends come from the driver's event loop while flushes may run in a background thread, so
    flushes hold a lock (an older upload never lands after a newer one) and count writes
    rather than keep a dirty flag (a row appended during an upload is uploaded next time).
    """

    def __init__(self, location: StorageLocation, relpath: str, new: bool = False) -> None:
        self._location = location
        self._relpath = relpath
        self._writes = 0
        self._flushed = 0
        self._lock = threading.Lock()
        if location.is_local:
            self._spool_path = None
            self._file = open(location.path(relpath), "a", buffering=1 << 16)  # noqa: SIM115
        else:
            # Named after the trial and file: a spool kept after an outage must say whose it is.
            trial = posixpath.basename(location.root.rstrip("/"))
            fd, self._spool_path = tempfile.mkstemp(prefix=f"dasktune_spool_{trial}_{relpath}_")
            os.close(fd)
            remote = location.path(relpath)
            # A new file needs no look at storage, so it opens while storage does not answer.
            if not new and location.fs.exists(remote):
                location.fs.get_file(remote, self._spool_path)
            self._file = open(self._spool_path, "a", buffering=1 << 16)  # noqa: SIM115

    def is_empty(self) -> bool:
        """Whether nothing was ever written to the file."""
        return self._file.tell() == 0

    def write(self, text: str) -> None:
        """Append text (whole lines)."""
        self._file.write(text)
        self._writes += 1

    def hand_to_os(self) -> None:
        """Move buffered lines into the local file (or the spool), where they outlive this
        process. Cheap, and never waits for an upload in progress."""
        try:
            self._file.flush()
        except ValueError:  # closed meanwhile: close() flushed everything
            pass

    def flush(self) -> None:
        """Make what was written visible in storage."""
        with self._lock:
            writes = self._writes
            if writes == self._flushed or self._file.closed:
                return
            self._file.flush()
            if self._spool_path is not None:
                self._location.fs.put_file(self._spool_path, self._location.path(self._relpath))
            self._flushed = writes

    @property
    def spool_path(self) -> str | None:
        """The local spool file (remote storage only)."""
        return self._spool_path

    def close(self) -> None:
        """Flush and release the file; a spool whose rows did not reach storage is kept."""
        flushed = False
        try:
            self.flush()
            flushed = True
        finally:
            with self._lock:
                self._file.close()
                if flushed and self._spool_path is not None and os.path.exists(self._spool_path):
                    os.unlink(self._spool_path)


class TrialLog:
    """A trial's result log: ``result.json`` (one JSON object per line) and ``progress.csv``.

    ``progress.csv`` holds the flattened results without ``config`` (that is in params.json); its
    columns are fixed by the first result, as in Ray's CSV logger, and later new keys are left
    out of it (they stay in result.json).
    """

    def __init__(
        self,
        location: StorageLocation,
        params: Mapping[str, Any] | None = None,
        files: frozenset[str] = frozenset({R.RESULT_FILE, R.PROGRESS_FILE}),
    ) -> None:
        """Open the logs of the trial dir ``location``.

        With ``params`` (the trial's config) the trial is new: nothing of it is looked up in
        storage here, and its dir, ``params.json`` and ``params.pkl`` are written by the first
        flush, so a trial can start while remote storage does not answer. Without, the dir must
        exist and rows already in storage are kept. ``files`` names the logs kept (the
        ``loggers=`` chosen): ``result.json``, ``progress.csv``, both or neither.
        """
        new = params is not None
        self._location = location
        self._params = None
        if params is not None:
            self._params = (to_json(params, indent=2, sort_keys=True), _pickle_params(params))
        self._json = (
            _AppendTarget(location, R.RESULT_FILE, new=new) if R.RESULT_FILE in files else None
        )
        self._csv_target = (
            _AppendTarget(location, R.PROGRESS_FILE, new=new) if R.PROGRESS_FILE in files else None
        )
        self._columns: list[str] | None = None
        if self._csv_target is not None and not self._csv_target.is_empty():
            self._columns = _read_csv_header(location)
        self._buffer = io.StringIO()

    def _targets(self) -> list[_AppendTarget]:
        return [t for t in (self._json, self._csv_target) if t is not None]

    def append(self, result: Mapping[str, Any]) -> int:
        """Log one result; return the size of its JSON row (characters)."""
        line = to_json(result)
        if self._json is not None:
            self._json.write(line + "\n")
        if self._csv_target is None:
            return len(line)
        row = flatten_dict({k: v for k, v in result.items() if k != R.CONFIG})
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        if self._columns is None:
            self._columns = list(row)
            csv.writer(buffer).writerow(self._columns)
        csv.writer(buffer).writerow([_csv_value(row.get(c)) for c in self._columns])
        self._csv_target.write(buffer.getvalue())
        return len(line)

    def hand_to_os(self) -> None:
        """Move the logged rows out of this process's buffers (see ``_AppendTarget``)."""
        for target in self._targets():
            target.hand_to_os()

    def flush(self) -> None:
        """Make the logged rows visible in storage (and, for a new trial, its dir first)."""
        if self._params is not None:
            self._location.makedirs()
            self._location.write_text(R.PARAMS_FILE, self._params[0])
            self._location.write_bytes(R.PARAMS_PICKLE_FILE, self._params[1])
            self._params = None
        for target in self._targets():
            target.flush()

    def replace_params(self, params: Mapping[str, Any]) -> bool:
        """A new config (PBT's exploit) for a trial whose first flush has not run yet: that
        flush writes it. False when the params are already in storage (rewrite them there)."""
        if self._params is None:
            return False
        self._params = (to_json(params, indent=2, sort_keys=True), _pickle_params(params))
        return True

    def spool_paths(self) -> list[str]:
        """The local spool files holding this log's rows (remote storage only)."""
        return [p for p in (self._json.spool_path, self._csv_target.spool_path) if p]

    def close(self) -> None:
        """Flush and close both files."""
        try:
            if self._params is not None:
                self.flush()
        finally:
            errors = []
            for target in self._targets():
                try:
                    target.close()
                except Exception as exc:  # noqa: BLE001 - the other file must still close
                    errors.append(exc)
            if errors:
                raise errors[0]


def _pickle_params(params: Mapping[str, Any]) -> bytes:
    # params.pkl keeps what JSON cannot (Ray writes it for configs holding objects); configs are
    # checked to pickle before any trial starts.
    return cloudpickle.dumps(dict(params))


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def _read_csv_header(location: StorageLocation) -> list[str] | None:
    with location.fs.open(location.path(R.PROGRESS_FILE), "r") as f:
        header = f.readline()
    return next(csv.reader([header]), None) if header else None


class ExperimentStorage:
    """The experiment directory and everything the driver writes into it."""

    def __init__(self, location: StorageLocation, create: bool = True) -> None:
        self.location = location
        if create:
            location.makedirs()

    @property
    def url(self) -> str:
        """The experiment directory as a URL (a plain path when local)."""
        return self.location.url

    def trial_location(self, dirname: str) -> StorageLocation:
        """Where one trial's files go."""
        return self.location.child(dirname)

    def create_trial_dir(self, dirname: str, config: Mapping[str, Any]) -> StorageLocation:
        """Create a trial's dir and write its ``params.json``; return its location."""
        location = self.trial_location(dirname)
        location.makedirs()
        location.write_text(R.PARAMS_FILE, to_json(config, indent=2, sort_keys=True))
        location.write_bytes(R.PARAMS_PICKLE_FILE, _pickle_params(config))
        return location

    def write_params(self, dirname: str, config: Mapping[str, Any]) -> None:
        """Rewrite a trial's ``params.json``/``params.pkl`` (its config changed: PBT)."""
        location = self.trial_location(dirname)
        location.makedirs()
        location.write_text(R.PARAMS_FILE, to_json(config, indent=2, sort_keys=True))
        location.write_bytes(R.PARAMS_PICKLE_FILE, _pickle_params(config))

    def append_error(self, dirname: str, message: str) -> None:
        """Append one failure (with its traceback) to the trial's ``error.txt``."""
        location = self.trial_location(dirname)
        path = location.path(R.ERROR_FILE)
        previous = ""
        if location.fs.exists(path):
            previous = location.fs.cat_file(path).decode()
        location.write_text(R.ERROR_FILE, previous + message.rstrip("\n") + "\n\n")

    def write_state(self, state: Mapping[str, Any]) -> None:
        """Write the experiment state file atomically."""
        self.location.write_text(R.EXPERIMENT_STATE_FILE, to_json(state, indent=1))

    def read_state(self) -> dict[str, Any] | None:
        """The experiment state file, or None if there is none."""
        if not self.location.exists(R.EXPERIMENT_STATE_FILE):
            return None
        return json.loads(self.location.read_text(R.EXPERIMENT_STATE_FILE))


def format_exception(exc: BaseException) -> str:
    """Traceback text of an exception raised in the driver."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
