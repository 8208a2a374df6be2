"""A hold: freeze the API at an exact point of a client's progress, so a test can stop the client mid-run.

`POST /_admin/hold {"operation": "POST /v1/files", "after": 3}` lets 3 more requests of that operation
(or of that method, given bare: "DELETE") through; the next one, and every API request that arrives after
it, waits until `DELETE /_admin/hold`.
`GET /_admin/hold` says how many wait. A signal sent while requests wait is sure to find the client
mid-run, however loaded the machine: racing the end of a run by polling is not.

The release answers once the held requests have been handled, as a real server would have handled
them: a write whose client was killed meanwhile has landed before the test starts the next run.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MAX_HOLD_S = 600.0  # a test that forgets to release must not keep a server thread forever


class Hold:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.operation: str | None = None  # armed for this operation, or None
        self.left = 0  # requests of `operation` still let through
        self.holding = False
        self.waiting: Counter[str] = Counter()  # held requests not yet let go, by operation
        self.busy = 0  # let-go requests still being handled

    def arm(self, operation: str, after: int) -> None:
        if not operation or after < 0:
            raise ValueError("a hold needs an operation and a non-negative 'after'")
        with self._cond:
            self.operation, self.left, self.holding = operation, after, False

    def as_dict(self) -> dict[str, Any]:
        with self._cond:
            return {"operation": self.operation, "left": self.left, "holding": self.holding,
                    "held": self.waiting.total(), "held_by_operation": dict(+self.waiting)}

    @contextmanager
    def gate(self, operation: str) -> Iterator[None]:
        """Around the handling of one API request: waits while the hold is on."""
        with self._cond:
            if self.operation in (operation, operation.split(" ", 1)[0]) and not self.holding:
                if self.left == 0:
                    self.holding = True
                else:
                    self.left -= 1
            held = self.holding
            if held:
                self.waiting[operation] += 1
                self._cond.notify_all()
                self._cond.wait_for(lambda: not self.holding, timeout=MAX_HOLD_S)
                self.waiting[operation] -= 1
                self.busy += 1
        try:
            yield
        finally:
            if held:
                with self._cond:
                    self.busy -= 1
                    self._cond.notify_all()

    def release(self, timeout_s: float = 60.0) -> bool:
        """Disarm and let every held request go; True once all of them have been handled."""
        with self._cond:
            self.operation, self.left, self.holding = None, 0, False
            self._cond.notify_all()
            return self._cond.wait_for(lambda: not self.waiting.total() and not self.busy, timeout=timeout_s)
