"""A signal while a plugin is still importing: one sentence, 128 + n, no traceback - even when a second
signal follows. Meltano sends SIGTERM right after a Ctrl-C; on a loaded machine it can land while the
first signal's exit is running its clean-up (CI caught a `SystemExit: 143` traceback from inside
`weakref._exitfunc`). Here the process sends itself that second signal from its own exit clean-up, so
the order is certain rather than a race."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
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


@pytest.mark.parametrize(("module", "sentence"), [
    ("tap_cliniko.entry", "tap-cliniko: stopped by SIGINT (Ctrl-C) while starting; nothing was read."),
    ("target_pipedrive.entry",
     "target-pipedrive: stopped by SIGINT (Ctrl-C) while starting; nothing was read or written."),
])
def test_a_second_signal_during_the_exit_of_the_first_prints_no_traceback(module: str, sentence: str) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(module=module)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, (done.returncode, done.stderr)
    assert done.stderr.strip() == sentence, done.stderr
    assert "not stopped" not in done.stdout
