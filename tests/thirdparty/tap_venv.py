"""A published Singer tap in a virtualenv of its own, installed from PyPI once and kept between runs.

The tap pins its own dependencies (singer-python, requests, ...) to versions that clash with the
project's, so it never shares the project's venv. The venv lives in the user's cache directory
(outside the repository), keyed by package, pinned version and Python version; a marker file written
after a successful install makes a half-built venv (an interrupted run) count as absent. A file lock
lets parallel test sessions share one install.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

INSTALL_TIMEOUT_S = 600


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cliniko-pipedrive" / "thirdparty"


def ensure_tap(package: str, version: str, executable: str) -> Path:
    """Path of `executable` in a venv holding exactly `package==version`; installs it on first use."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"{package}-{version}-py{sys.version_info.major}{sys.version_info.minor}"
    marker = venv / ".installed"
    with open(root / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            shutil.rmtree(venv, ignore_errors=True)
            _install(venv, f"{package}=={version}")
            marker.write_text(f"{package}=={version}\n")
    return venv / "bin" / executable


def _install(venv: Path, requirement: str) -> None:
    # run from the project's venv, `venv` still bases the new one on the system interpreter
    steps = ([sys.executable, "-m", "venv", str(venv)],
             [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              requirement])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(f"could not install {requirement} into its own venv ({' '.join(step[:3])} exited "
                               f"{done.returncode}): {done.stderr.strip()[-1500:]}")
