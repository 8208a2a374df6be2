"""Ctrl-C and SIGTERM: stop at once, keep only what is durable, and say so.

The SDK's own handler drains the sinks and relays the latest STATE from inside the signal
handler, then exits 0. For this target both are wrong: records before that STATE may still
be in flight or only in the map's memory (the bookmark would run ahead of Pipedrive), the
handler can land while the main thread holds the crosswalk's lock, and a script cannot
tell an interrupted run from a finished one. So the first signal raises `Interrupted` in
the main thread instead; the target then relays nothing more (Meltano's bookmarks stay at
the last checkpoint, where everything was durable) and exits 128 + the signal number.
Later signals (Meltano sends SIGTERM right after a Ctrl-C) do not cut that short.
"""

from __future__ import annotations

import signal
from types import FrameType

NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}


class Interrupted(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM.

    A BaseException, like KeyboardInterrupt: no `except Exception` on the way (a map
    function's error handling, a retry loop) may turn it into a record failure.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(NAMES.get(signal.Signals(signum), f"signal {signum}"))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class InterruptHandler:
    """Installed for SIGINT and SIGTERM (main thread only, as Python requires)."""

    def __init__(self) -> None:
        self.received: int | None = None

    def install(self) -> None:
        for signum in NAMES:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return  # already stopping: let the clean-up finish
        self.received = signum
        raise Interrupted(signum)
