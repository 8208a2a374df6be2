"""Console entry points. A signal while the process starts (its imports take a second or two)
ends it with one sentence and 128 + the signal number, not a KeyboardInterrupt traceback; the
target installs its own handler (interrupt.py) before it reads any input.

Everything the target writes can hold patient data (the crosswalk's before-images, reports, the
map's CSVs): the umask makes each file and folder owner-only from the moment it exists, however
the target was started, so no call site can forget it."""

from __future__ import annotations

import logging
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
    print(f"target-pipedrive: stopped by {name} while starting; nothing was read or written.", file=sys.stderr)
    sys.exit(128 + signum)


def private_files() -> None:
    """Files 0600, folders 0700, for everything this process creates."""
    os.umask(0o077)


def _guard() -> None:
    private_files()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _starting)
    os.environ.setdefault(LOGLEVEL, "WARNING")  # see quiet_sdk_logs


LOGLEVEL = "TARGET_PIPEDRIVE_LOGLEVEL"


def quiet_sdk_logs() -> None:
    """The SDK's INFO lines (its version, "Skipping parse of env var settings", "Reader completed", a METRIC
    line per stream) would follow - and bury - the sentence a stopped tap just printed; the target's progress
    and summary are its own lines and stay. Meltano hands the SDK a logging config at its own level (INFO), so
    the level is set again here; TARGET_PIPEDRIVE_LOGLEVEL=INFO brings the SDK's lines back."""
    level = os.environ.get(LOGLEVEL, "WARNING").upper()
    for name in ("target-pipedrive", "singer_sdk", "singer_sdk.metrics"):
        logging.getLogger(name).setLevel(level)


def _configs(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--config"]


def target() -> None:
    _guard()
    from target_pipedrive.target import TargetPipedrive

    try:
        TargetPipedrive.cli()
    except FileNotFoundError as exc:
        # Meltano removes a run's config files when it stops the run: stopped while this process starts, the
        # file can be gone before it is read (and the signal not yet here)
        gone = next((path for path in _configs(sys.argv) if path in str(exc)), None)
        if gone is None:
            raise
        print(f"target-pipedrive: its config file {gone} was removed before it was read (a run stopped while "
              "it started); nothing was read or written.", file=sys.stderr)
        sys.exit(2)


def plan() -> None:
    _guard()
    from target_pipedrive.workflow.planrun import PlanTarget

    PlanTarget.cli()
