"""After a fatal error under Meltano: keep the input pipe open until Meltano has stopped the tap.

Meltano copies the tap's output into the target's stdin. When the target exits while the
tap still writes (a wrong token, an unconfirmed map, stale bookmarks: stops that come before
the input ends), Meltano's copy hits a closed pipe and prints some 200 lines of
BrokenPipeError tracebacks under the target's one sentence - the last thing on screen is
`BrokenPipeError`. So the target leaves a small child behind that reads and discards its
stdin until the pipe ends: Meltano sees the target exit, stops the tap, closes the pipe, and
the child exits with it. It holds nothing else (stdout and stderr are closed), so Meltano's
reading of the target's output ends with the target.

Without Meltano (`tap | target` in a shell) there is nobody to stop the tap, so there is no
child: the tap stops at its next write (tap-cliniko says so in one sentence).
"""

from __future__ import annotations

import os


def hold_input_open() -> None:
    """Fork the reader of what is left of stdin (under Meltano only; a no-op elsewhere)."""
    if not os.environ.get("MELTANO_LOADER_NAME"):
        return
    try:
        pid = os.fork()
    except OSError:
        return  # no child: Meltano prints its traceback, the target's sentence is still above it
    if pid:
        return
    try:  # the child: only system calls, no Python-level locks of the parent's threads
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        while os.read(0, 1 << 16):
            pass
    finally:
        os._exit(0)
