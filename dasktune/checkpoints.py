"""Checkpoints in storage: written by the worker that runs the trial, readable by any other.

A checkpoint is whole or absent. Its files are uploaded into ``<trial>/checkpoint_<iter>/``
first and a manifest (``.dasktune_manifest.json``, listing every file and its size) is written
last; a reader only takes a directory whose manifest exists and whose files match it. Before a
directory is written again, its old manifest is removed, so a half-overwritten checkpoint never
looks committed.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from .storage import StorageLocation

MANIFEST = ".dasktune_manifest.json"
_CHECKPOINT_DIR = re.compile(r"^checkpoint_(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, not committed, or does not match its manifest."""


def checkpoint_dirname(iteration: int) -> str:
    """Name of the directory holding the checkpoint taken at ``iteration``."""
    return f"checkpoint_{iteration}"


def upload_checkpoint(
    local_dir: str,
    trial_url: str,
    checkpoint_path: str,
    iteration: int,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Copy a local checkpoint dir into the trial's storage and commit it; return its URL.

    ``checkpoint_path`` is what ``Trainable.save`` returned (inside ``local_dir``); its relative
    path is recorded so the restore gets the same layout.
    """
    trial = StorageLocation(trial_url, storage_options)
    name = checkpoint_dirname(iteration)
    fs = trial.fs
    target = trial.path(name)
    manifest_path = trial.path(name, MANIFEST)
    if fs.exists(manifest_path):
        fs.rm_file(manifest_path)
    files: dict[str, int] = {}
    for root, _dirs, names in os.walk(local_dir):
        for filename in names:
            full = os.path.join(root, filename)
            rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
            files[rel] = os.path.getsize(full)
    fs.makedirs(target, exist_ok=True)
    for rel in files:
        parts = rel.split("/")
        fs.makedirs(trial.path(name, *parts[:-1]), exist_ok=True)
        fs.put_file(os.path.join(local_dir, *parts), trial.path(name, *parts))
    manifest = {
        "iteration": iteration,
        "checkpoint": os.path.relpath(checkpoint_path, local_dir).replace(os.sep, "/"),
        "files": files,
    }
    trial.write_text(posixpath.join(name, MANIFEST), json.dumps(manifest))
    return trial.join(name)


def read_manifest(
    checkpoint_url: str, storage_options: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The manifest of a committed checkpoint dir, or None if it is not committed."""
    location = StorageLocation(checkpoint_url, storage_options)
    if not location.is_local:
        location.fs.invalidate_cache()
    path = location.path(MANIFEST)
    if not location.fs.exists(path):
        return None
    return json.loads(location.fs.cat_file(path))


def download_checkpoint(
    checkpoint_url: str, scratch_dir: str, storage_options: Mapping[str, Any] | None = None
) -> str:
    """Fetch a checkpoint into ``scratch_dir``; return the local checkpoint path to restore.

    Takes a committed ``checkpoint_<iter>`` URL, or (for ``tune.run(restore=...)``) a local
    checkpoint dir or file made by ``Trainable.save`` outside dasktune.
    """
    location = StorageLocation(checkpoint_url, storage_options)
    manifest = read_manifest(checkpoint_url, storage_options)
    if manifest is None:
        if location.is_local and os.path.exists(location.url):
            return location.url  # a plain checkpoint made by Trainable.save(): use it in place
        raise CheckpointError(
            f"{checkpoint_url} is not a committed dasktune checkpoint (no {MANIFEST}); it was "
            "never finished or does not exist."
        )
    local_root = os.path.join(scratch_dir, posixpath.basename(location.url.rstrip("/")))
    for rel, size in manifest["files"].items():
        if rel == MANIFEST:
            continue
        dest = os.path.join(local_root, *rel.split("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        location.fs.get_file(location.path(*rel.split("/")), dest)
        if os.path.getsize(dest) != size:
            raise CheckpointError(
                f"checkpoint file {rel} in {checkpoint_url} has {os.path.getsize(dest)} bytes, "
                f"its manifest says {size}: the checkpoint was overwritten or damaged."
            )
    relative = manifest["checkpoint"]
    return local_root if relative in (".", "") else os.path.join(local_root, *relative.split("/"))


def committed_checkpoints(
    trial_url: str, storage_options: Mapping[str, Any] | None = None
) -> list[tuple[int, str]]:
    """``(iteration, url)`` of every committed checkpoint under a trial dir, oldest first."""
    trial = StorageLocation(trial_url, storage_options)
    if not trial.is_local:
        trial.fs.invalidate_cache()
    if not trial.fs.exists(trial.root):
        return []
    found = []
    for entry in trial.fs.ls(trial.root, detail=False):
        name = posixpath.basename(str(entry).rstrip("/"))
        match = _CHECKPOINT_DIR.match(name)
        if match and trial.fs.exists(trial.path(name, MANIFEST)):
            found.append((int(match.group(1)), trial.join(name)))
    return sorted(found)


def delete_checkpoint(
    checkpoint_url: str, storage_options: Mapping[str, Any] | None = None
) -> None:
    """Delete a checkpoint dir, manifest first so it is never seen half-deleted."""
    location = StorageLocation(checkpoint_url, storage_options)
    manifest = location.path(MANIFEST)
    if location.fs.exists(manifest):
        location.fs.rm_file(manifest)
    if location.fs.exists(location.root):
        location.fs.rm(location.root, recursive=True)
