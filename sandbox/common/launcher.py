"""Start an emulator as a child process and learn its URL (tests, demo, benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class RunningSandbox:
    process: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(emulator: str, *args: str, timeout: float = 120.0) -> RunningSandbox:
    """Run `python -m sandbox <emulator> <args>` and wait for its READY line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", emulator, *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"sandbox {emulator} exited with code {proc.returncode} before it was ready")
            continue
        if line.startswith("READY "):
            _, _, url = line.strip().split(" ", 2)
            return RunningSandbox(proc, url)
    proc.kill()
    raise RuntimeError(f"sandbox {emulator} was not ready within {timeout:.0f}s")
