"""A signal while a plugin is still importing: one sentence, 128 + n, no traceback - even when a second
signal follows. Meltano sends SIGTERM right after a Ctrl-C; on a loaded machine it can land while the
first signal's exit is running its clean-up (CI caught a `SystemExit: 143` traceback from inside
`weakref._exitfunc`), or before Python has handled the first at all. Here the process sends itself the
two signals in each of those orders, so the order is certain rather than a race."""

from __future__ import annotations

import subprocess
import sys

import pytest

# the second signal from the exit's clean-up
DURING_EXIT = """
import atexit, os, signal
from {module} import _guard

def second_signal():
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(100_000):  # Python runs a signal handler between bytecodes: give it some
        pass

atexit.register(second_signal)
_guard()
os.kill(os.getpid(), signal.SIGINT)
for _ in range(100_000):
    pass
print("not stopped")
"""
# both signals caught before Python handles the first (blocked, then let through at once)
AT_ONCE = """
import os, signal
from {module} import _guard

_guard()
signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGINT, signal.SIGTERM}})
os.kill(os.getpid(), signal.SIGINT)
os.kill(os.getpid(), signal.SIGTERM)
try:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {{signal.SIGINT, signal.SIGTERM}})
    for _ in range(100_000):
        pass
    print("not stopped")
finally:  # code that runs while the first signal's exit unwinds (as the import machinery's did in CI)
    for _ in range(100_000):
        pass
"""


@pytest.mark.parametrize("script", [DURING_EXIT, AT_ONCE], ids=["during-exit", "at-once"])
@pytest.mark.parametrize(("module", "sentence"), [
    ("tap_cliniko.entry", "tap-cliniko: stopped by SIGINT (Ctrl-C) while starting; nothing was read."),
    ("target_pipedrive.entry",
     "target-pipedrive: stopped by SIGINT (Ctrl-C) while starting; nothing was read or written."),
])
def test_a_second_signal_during_the_exit_of_the_first_prints_no_traceback(module: str, sentence: str,
                                                                         script: str) -> None:
    done = subprocess.run([sys.executable, "-c", script.format(module=module)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, (done.returncode, done.stderr)
    assert done.stderr.strip() == sentence, done.stderr
    assert "not stopped" not in done.stdout


@pytest.mark.parametrize("module", ["tap_cliniko.entry", "target_pipedrive.entry"])
def test_after_the_first_signal_later_ones_go_to_a_handler_that_does_nothing(module: str) -> None:
    """Not SIG_IGN: a signal the C handler has caught just before the switch is then handled under SIG_IGN,
    and Python prints "OSError: Signal 15 ignored due to race condition" with a traceback (seen once in CI,
    a window too narrow to hit on purpose; this checks the handler that closes it)."""
    script = f"""
import signal
from {module} import _guard, _starting
_guard()
try:
    _starting(signal.SIGINT, None)
except SystemExit as stop:
    code = stop.code
handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
print(code, all(callable(h) and h is not _starting for h in handlers))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["130", "True"], (done.stdout, done.stderr)
