"""Console entry point. A signal while the process starts (its imports take a second or two)
ends it with one sentence and 128 + the signal number, not a KeyboardInterrupt traceback; the
tap installs its own handler (tap.py) before it reads anything.

Everything the tap writes (downloaded attachments, the folders it creates for them) is patient
data: the umask makes it owner-only from the moment it exists, however the tap was started
(Meltano, a shell pipe, an orchestrator), so no call site can forget it."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    pass


def _starting(signum: int, frame: FrameType | None) -> None:
    # Meltano sends SIGTERM right after a Ctrl-C: it may land while this exit runs its clean-up, and a
    # second SystemExit there prints a traceback under the sentence. One signal is enough to stop. (A
    # handler that does nothing, not SIG_IGN: a signal already caught but not yet handled would make
    # Python report "Signal 15 ignored due to race condition".)
    for other in (signal.SIGINT, signal.SIGTERM):
        signal.signal(other, _already_stopping)
    name = "SIGINT (Ctrl-C)" if signum == signal.SIGINT else signal.Signals(signum).name
    print(f"tap-cliniko: stopped by {name} while starting; nothing was read.", file=sys.stderr)
    sys.exit(128 + signum)


def _guard() -> None:
    os.umask(0o077)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _starting)


def main() -> None:
    _guard()
    from tap_cliniko.tap import TapCliniko

    TapCliniko.cli()
