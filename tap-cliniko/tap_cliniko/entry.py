"""Console entry point. A signal while the process starts (its imports take a second or two)
ends it with one sentence and 128 + the signal number, not a KeyboardInterrupt traceback; the
tap installs its own handler (tap.py) before it reads anything."""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _starting(signum: int, frame: FrameType | None) -> None:
    name = "SIGINT (Ctrl-C)" if signum == signal.SIGINT else signal.Signals(signum).name
    print(f"tap-cliniko: stopped by {name} while starting; nothing was read.", file=sys.stderr)
    sys.exit(128 + signum)


def main() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _starting)
    from tap_cliniko.tap import TapCliniko

    TapCliniko.cli()
