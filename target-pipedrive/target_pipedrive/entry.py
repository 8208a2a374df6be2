"""Console entry points. A signal while the process starts (its imports take a second or two)
ends it with one sentence and 128 + the signal number, not a KeyboardInterrupt traceback; the
target installs its own handler (interrupt.py) before it reads any input."""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _starting(signum: int, frame: FrameType | None) -> None:
    name = "SIGINT (Ctrl-C)" if signum == signal.SIGINT else signal.Signals(signum).name
    print(f"target-pipedrive: stopped by {name} while starting; nothing was read or written.", file=sys.stderr)
    sys.exit(128 + signum)


def _guard() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _starting)


def target() -> None:
    _guard()
    from target_pipedrive.target import TargetPipedrive

    TargetPipedrive.cli()


def plan() -> None:
    _guard()
    from target_pipedrive.planrun import PlanTarget

    PlanTarget.cli()
