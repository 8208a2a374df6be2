"""A fresh Meltano project as a new user has it after `make install`, in a temporary folder.

It holds this repository's meltano.yml (and whatever else a test copies), the folders the
Makefile's `private` rule makes, and links to the installed plugins; its `.meltano/run`, system
database and `output/` are its own. So the file's real defaults are exercised - output/<environment>/
paths under $MELTANO_PROJECT_ROOT - without writing into the repository's own output/.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MELTANO = Path(sys.executable).with_name("meltano")


def scratch_project(tmp_path: Path, *copies: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("meltano.yml", *copies):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, project / name)
    subprocess.run(["make", "--no-print-directory", "-s", "-C", str(project), "-f", str(ROOT / "Makefile"), "private"],
                   check=True, timeout=60)
    if not (ROOT / ".meltano" / "loaders" / "target-pipedrive" / "venv").exists():
        raise AssertionError("the plugins are not installed: run `make install` (it runs `meltano install`)")
    (project / ".meltano").mkdir(exist_ok=True)  # as Meltano makes it when nothing did before
    for kind in ("extractors", "loaders"):
        (project / ".meltano" / kind).symlink_to(ROOT / ".meltano" / kind, target_is_directory=True)
    return project


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any plugin or Meltano setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    return {**env, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **extra}


def meltano(project: Path, env: dict[str, str], args: list[str],
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MELTANO), *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def exposed(project: Path, top: str) -> list[str]:
    """Files under `project/top` another local user could read: every folder from `top` down lets the group or
    others in, and the file lets them read (the project folder itself counts as open, as a clone in a shared
    home is). Symbolic links (the installed plugins) are not followed."""
    found = []
    for folder, dirs, files in os.walk(project / top):
        path = Path(folder)
        chain = [path, *[p for p in path.parents if p.is_relative_to(project / top)]]
        for who, enter, read in (("group", stat.S_IXGRP, stat.S_IRGRP), ("others", stat.S_IXOTH, stat.S_IROTH)):
            if all(os.lstat(d).st_mode & enter for d in chain):
                found += [f"{(path / f).relative_to(project)} ({who})" for f in files
                          if not (path / f).is_symlink() and os.lstat(path / f).st_mode & read]
        dirs[:] = [d for d in dirs if not (path / d).is_symlink()]
    return found


def open_modes(project: Path, top: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Files and folders under `project/top` whose own mode gives the group or others anything."""
    out = []
    for folder, dirs, files in os.walk(project / top):
        path = Path(folder)
        for entry in [path / d for d in dirs] + [path / f for f in files]:
            if entry.is_symlink() or entry.name.endswith(skip):
                continue
            mode = stat.S_IMODE(os.lstat(entry).st_mode)
            if mode & 0o077:
                out.append(f"{entry.relative_to(project)} {oct(mode)}")
        dirs[:] = [d for d in dirs if not (path / d).is_symlink()]
    return out
