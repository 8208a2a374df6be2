"""Start an emulator as a child process and learn its URL (tests, demo, benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO, Any


@dataclass
class RunningSandbox:
    process: subprocess.Popen[str]
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def crash(self) -> None:
        """SIGKILL: the server dies mid-request, as a crashed host would (what it committed stays)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(emulator: str, *args: str, timeout: float = 120.0, stderr: IO[Any] | None = None) -> RunningSandbox:
    """Run `python -m sandbox <emulator> <args>` and wait for its READY line.

    Pass `--port N` (see `free_port`) and `--db PATH` to start it again later at the same URL
    on the same data. `stderr` (a file) takes the server's own messages instead of the caller's stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", emulator, *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
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


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now: pass it as `--port` to restart a sandbox at the same URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
