"""After a fatal error under Meltano: keep the input pipe open until Meltano has seen the exit.

Meltano copies the tap's output into the target's stdin. When the target exits while the
tap still writes (a wrong token, an unconfirmed map, stale bookmarks: stops that come before
the input ends), Meltano's copy can hit a closed pipe with data still queued and print some
200 lines of BrokenPipeError tracebacks under the target's one sentence. So the target leaves
a small child behind that reads and discards its stdin while Meltano takes note of the exit.

The child must not outlive that moment: Meltano (asyncio) reports a process as finished only
once all its pipes are closed, stdin included, and only then stops the tap. A child that read
until the end of the input would let the tap read the whole clinic (and download every
attachment) after the target has already failed. So the child drains until the target has
been reaped by Meltano, empties what is queued, and exits; Meltano then sees the target's end
with nothing pending, stops the tap, and its copy ends quietly.

Without Meltano (`tap | target` in a shell) there is nobody to stop the tap, so there is no
child: the tap stops at its next write (tap-cliniko says so in one sentence).
"""

from __future__ import annotations

import os
import select

POLL_S = 0.05  # how often the child looks whether Meltano has reaped the target
FINAL_READS = 64  # at most this many reads once it has (a few MB), so a fast tap cannot keep it alive


def hold_input_open() -> None:
    """Fork the reader of what is left of stdin (under Meltano only; a no-op elsewhere)."""
    if not os.environ.get("MELTANO_LOADER_NAME"):
        return
    target = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        return  # no child: Meltano may print its traceback, the target's sentence is still above it
    if pid:
        return
    try:  # the child: only system calls, no Python-level locks of the parent's threads
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        while _exists(target):  # a zombie still exists: Meltano has not taken note yet
            if _read_available(POLL_S) is None:
                break  # the input ended
        for _ in range(FINAL_READS):  # leave nothing queued behind Meltano's copy, but do not wait for the tap
            if not _read_available(0):
                break
    finally:
        os._exit(0)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_available(wait_s: float) -> bool | None:
    """Discard what stdin holds: True if something was read, False if nothing came, None at its end."""
    ready, _, _ = select.select([0], [], [], wait_s)
    if not ready:
        return False
    return True if os.read(0, 1 << 16) else None
