"""Create, verify and reuse the benchmark-only Ray Tune virtualenv (``bench/.venv-ray``).

Ray Tune is not a dependency of dasktune. The benchmark runner installs a pinned
``ray[tune]`` into its own virtualenv so that its many dependencies never touch the
environment dasktune is developed and tested in. The Ray workloads
(:mod:`bench.workloads_ray`) run under that venv's interpreter.

Run ``python -m bench.ray_env`` to create or check the venv by hand; it prints one JSON
line describing the result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RAY_VERSION = "2.60.0"
"""The Ray release the comparison is pinned to."""

REQUIREMENTS: tuple[str, ...] = (f"ray[tune]=={RAY_VERSION}", "pandas")
"""What the Ray workloads need; ``pyarrow`` (for S3) comes with ``ray[tune]``."""

VENV_DIR = Path(__file__).resolve().parent / ".venv-ray"
"""Where the venv lives (git-ignored)."""

_MARKER = "dasktune-bench.json"
_INSTALL_TIMEOUT_S = 1800


@dataclass
class RayEnv:
    """Outcome of :func:`ensure_ray_env`.

    ``python`` is the venv interpreter when Ray Tune is usable, else ``None`` and
    ``reason`` says why.
    """

    python: str | None
    ray_version: str | None = None
    reason: str = ""
    created: bool = False
    install_s: float | None = None
    size_mb: float | None = None
    packages: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the venv has the pinned Ray Tune importable."""
        return self.python is not None


def venv_python(venv: Path = VENV_DIR) -> Path:
    """Return the path of the interpreter inside ``venv``."""
    return venv / "bin" / "python"


def dir_size_mb(path: Path) -> float:
    """Return the on-disk size of a directory tree in MiB (files only, no symlinks)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                try:
                    total += p.stat().st_size
                except OSError:
                    pass
    return total / 2**20


_PROBE = (
    "import json, importlib.metadata as m, ray, ray.tune\n"
    "names = ['ray', 'pandas', 'pyarrow', 'numpy']\n"
    "print(json.dumps({n: m.version(n) for n in names}))\n"
)


def probe(python: Path) -> dict[str, str] | None:
    """Import Ray Tune under ``python``; return package versions, or ``None`` on failure."""
    if not python.exists():
        return None
    try:
        out = subprocess.run(
            [str(python), "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        return None


def _marker_ok(venv: Path) -> bool:
    try:
        data = json.loads((venv / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return data.get("requirements") == list(REQUIREMENTS)


def _log(msg: str) -> None:
    print(f"[ray-env] {msg}", file=sys.stderr, flush=True)


def ensure_ray_env(venv: Path = VENV_DIR, install: bool = True) -> RayEnv:
    """Return a usable Ray Tune venv, creating or repairing it when ``install`` is true.

    The venv is reused as is when it imports ``ray.tune`` at :data:`RAY_VERSION` and was
    installed with the current :data:`REQUIREMENTS`; otherwise ``pip install`` is (re)run
    into it. Never raises for an installation failure: the result says why instead.
    """
    python = venv_python(venv)
    versions = probe(python)
    if versions and versions.get("ray") == RAY_VERSION and _marker_ok(venv):
        return RayEnv(str(python), versions["ray"], packages=versions)
    if not install:
        why = "not installed" if versions is None else "stale (version or requirements differ)"
        return RayEnv(None, reason=f"{venv} is {why}; run without --no-install to create it")

    t0 = time.monotonic()
    created = False
    try:
        if not python.exists():
            _log(f"creating {venv}")
            if venv.exists():
                shutil.rmtree(venv)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            created = True
        _log(f"pip install {' '.join(REQUIREMENTS)} (a few minutes the first time)")
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", *REQUIREMENTS],
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT_S,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return RayEnv(None, reason=f"could not create the Ray venv: {exc}")
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return RayEnv(None, reason="pip install failed: " + " | ".join(tail))
    install_s = time.monotonic() - t0
    versions = probe(python)
    if not versions or versions.get("ray") != RAY_VERSION:
        return RayEnv(None, reason=f"ray {RAY_VERSION} not importable after install: {versions}")
    (venv / _MARKER).write_text(
        json.dumps({"requirements": list(REQUIREMENTS), "installed": versions}) + "\n"
    )
    env = RayEnv(
        str(python),
        versions["ray"],
        created=created,
        install_s=round(install_s, 1),
        size_mb=round(dir_size_mb(venv), 1),
        packages=versions,
    )
    _log(f"ready in {env.install_s} s, {env.size_mb} MiB")
    return env


def main(argv: list[str] | None = None) -> int:
    """CLI: create or verify the venv and print one JSON line; exit 1 when unusable."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-install", action="store_true", help="only check, never install")
    args = parser.parse_args(argv)
    env = ensure_ray_env(install=not args.no_install)
    if env.ok and env.size_mb is None:
        env.size_mb = round(dir_size_mb(VENV_DIR), 1)
    print(json.dumps(asdict(env)))
    return 0 if env.ok else 1


if __name__ == "__main__":
    sys.exit(main())
