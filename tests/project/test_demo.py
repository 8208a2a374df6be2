"""`make demo` as a new user meets it: the small clinic, then the commands it suggests, typed as printed.

The demo runs in a fresh project (scratch.py) with the repository's scripts/demo.py; afterwards
every `.venv/bin/meltano ...` line it printed runs from the project folder in a shell without any
of the demo's variables, and must work: the audit again (with the migration's records, not "no
records" from another environment's crosswalk) and the runs the crosswalk recorded. Everything
the demo left is owner-only.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from scratch import clean_env, exposed, meltano, open_modes, scratch_project

PROMPT = "  .venv/bin/meltano "


def test_demo_and_the_commands_it_suggests(tmp_path: Path) -> None:
    project = scratch_project(tmp_path, "scripts/demo.py")
    (project / ".venv").symlink_to(Path(sys.executable).parents[1], target_is_directory=True)
    demo = subprocess.run([sys.executable, str(project / "scripts" / "demo.py")], cwd=project,
                          env=clean_env(DEMO_SIZE="small"), capture_output=True, text=True, timeout=900, check=False)
    assert demo.returncode == 0, (demo.stdout + demo.stderr)[-3000:]
    assert "every one was received and accounted for" in demo.stdout, demo.stdout[-2000:]
    suggested = [shlex.split(line.split("#", 1)[0])[1:] for line in demo.stdout.splitlines()
                 if line.startswith(PROMPT)]
    assert [args[3] for args in suggested] == ["target-pipedrive:report", "target-pipedrive:runs"], suggested

    report = meltano(project, clean_env(), suggested[0])
    assert report.returncode == 0, report.stderr[-2000:]
    assert "migrated" in report.stdout and "no records" not in report.stdout, report.stdout
    assert (project / "output" / "demo" / "report" / "audit.html").is_file()
    runs = meltano(project, clean_env(), suggested[1])
    assert runs.returncode == 0, runs.stderr[-2000:]
    assert [line.split()[1:3] for line in runs.stdout.splitlines()] == [["migration", "ok"]], runs.stdout

    assert exposed(project, "output") == [] and open_modes(project, "output") == [], open_modes(project, "output")
