"""Run the plugins as processes and measure them: wall time and each process's own peak RSS.

Peak RSS comes from `os.wait4`, the kernel's high-water mark for exactly that child
(not `RUSAGE_CHILDREN`, which is the maximum over every child the bench ever waited for).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Finished:
    returncode: int
    seconds: float
    peak_rss_mb: float
    cpu_s: float
    stderr_tail: str = ""


@dataclass
class Child:
    """A started plugin process; `finish` reaps it with its own rusage."""

    proc: subprocess.Popen[bytes]
    started: float
    stderr_path: Path
    result: Finished | None = field(default=None)

    def alive(self) -> bool:
        """Reaps the child when it has exited (never Popen.poll: its own wait would lose the rusage)."""
        if self.result is not None:
            return False
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if not pid:
            return True
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        tail = self.stderr_path.read_text(errors="replace")[-3000:] if self.stderr_path.exists() else ""
        # ru_maxrss is in kilobytes on Linux
        self.result = Finished(self.proc.returncode, time.monotonic() - self.started, usage.ru_maxrss / 1024,
                               usage.ru_utime + usage.ru_stime, tail)
        return False

    def finish(self, timeout: float | None = None, stop: bool = False) -> Finished:
        if stop and self.alive():
            self.proc.send_signal(signal.SIGTERM)
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.alive():
            if deadline is not None and time.monotonic() > deadline:
                self.proc.kill()
                deadline = None
            time.sleep(0.05)
        assert self.result is not None
        return self.result


def spawn(args: list[str], stdin: IO[bytes] | int | None, stdout: IO[bytes] | int | None, stderr_path: Path,
          env: dict[str, str] | None = None) -> Child:
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=err, env=env)
    return Child(proc, time.monotonic(), stderr_path)


def clean_env() -> dict[str, str]:
    """No TAP_CLINIKO_* / TARGET_PIPEDRIVE_* from the caller's shell: the config files say everything."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TAP_CLINIKO_", "TARGET_PIPEDRIVE_"))}


def rss_mb(pid: int) -> float | None:
    """Current resident set of a running process (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a running process (a sandbox) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
