"""The target's threads on one CPU.

The writer threads and the map take turns under Python's global lock; each time the lock
passes between threads on different cores it costs a cross-core wake-up, and on a
two-core machine shared with a local API the target wrote about a quarter fewer objects per
second unpinned (`make bench`, limits off). One core is all the lock lets Python use anyway.
"""

from __future__ import annotations

import os
from pathlib import Path


def _current_cpu() -> int | None:
    """The CPU this thread last ran on (field 39 of /proc/self/stat), or None off Linux."""
    try:
        fields = Path("/proc/thread-self/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[36]) if len(fields) > 36 and fields[36].isdigit() else None


def keep_on_one_cpu() -> int | None:
    """Restrict every thread of this process to one of its allowed CPUs; returns it (None: left as is)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        return None
    current = _current_cpu()
    cpu = current if current in allowed else min(allowed)
    try:
        tasks = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tasks = [0]
    for task in tasks:
        try:
            os.sched_setaffinity(task, {cpu})
        except OSError:  # a thread that ended meanwhile, or a sandbox that forbids it: nothing lost
            continue
    return cpu
