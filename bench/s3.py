"""A loopback moto S3 server for the durable-trainable workload.

Runs ``python -m moto.server`` on 127.0.0.1 in its own process (so serving 10 MB
checkpoints costs neither the measured driver nor the runner), creates the bucket, and
offers bucket statistics so the runner can check that ``keep`` was honoured.
Uses the system interpreter's ``moto[server]`` and ``boto3``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from bench.common import s3_env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@contextlib.contextmanager
def moto_s3(bucket: str = "dasktune-bench", timeout_s: float = 30.0) -> Iterator[str]:
    """Start a moto S3 server on loopback, create ``bucket``, yield its endpoint URL."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, **s3_env(endpoint)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on {endpoint}") from None
                time.sleep(0.2)
        _client(endpoint).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def bucket_stats(endpoint: str, bucket: str, prefix: str = "") -> dict[str, float]:
    """Return object count and MiB stored under ``prefix`` in ``bucket``."""
    client = _client(endpoint)
    count = size = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            count += 1
            size += int(obj["Size"])
    return {"objects": count, "mb": round(size / 2**20, 1)}


def empty_bucket(endpoint: str, bucket: str) -> None:
    """Delete every object in ``bucket`` (between repetitions)."""
    client = _client(endpoint)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
