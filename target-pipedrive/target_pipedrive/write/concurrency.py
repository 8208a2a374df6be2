"""Writes in flight: up to `max_writes_in_flight` records written at once, in an order that still holds.

A record waits for an earlier one with the same key (a rollup update after the create) and for the
persons it hangs on; the burst pacer (pipedrive/pacing.py) still caps the rate. Only the submitting
thread touches the table of futures; a free slot is a semaphore the worker releases. A fatal error in a
worker (a revoked token) is raised in the submitting thread by its next submit or drain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

Work = Callable[[str, dict[str, Any]], str]


class InFlight:
    def __init__(self, slots: int, work: Work) -> None:
        self.slots = max(1, slots)
        self._work = work
        self._pool = ThreadPoolExecutor(self.slots, thread_name_prefix="pipedrive-write") if self.slots > 1 else None
        self._futures: dict[tuple[str, str], Future[str]] = {}
        self._free = threading.Semaphore(self.slots)
        self._errors: list[BaseException] = []

    @property
    def concurrent(self) -> bool:
        return self._pool is not None

    def submit(self, stream: str, record: dict[str, Any], after: Iterable[tuple[str, str]]) -> Future[str]:
        """Start `work(stream, record)` once everything in `after` (stream, key) has been written."""
        for dep in after:
            if (earlier := self._futures.get(dep)) is not None:
                earlier.exception()  # blocks until it is done; its error is raised below
        self._free.acquire()  # released by the worker
        self.raise_error()
        assert self._pool is not None
        future = self._pool.submit(self._run, stream, record)
        self._futures[(stream, str(record.get("source_key")))] = future
        if len(self._futures) > 4 * self.slots:
            self._futures = {k: f for k, f in self._futures.items() if not f.done()}
        return future

    def _run(self, stream: str, record: dict[str, Any]) -> str:
        try:
            return self._work(stream, record)
        except BaseException as exc:  # fatal for the run: the submitting thread raises it
            self._errors.append(exc)
            raise
        finally:
            self._free.release()

    def raise_error(self) -> None:
        if self._errors:
            raise self._errors[0]

    def drain(self) -> None:
        """Wait for every write in flight."""
        if self._futures:
            wait(list(self._futures.values()))
            self._futures = {}
        self.raise_error()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def abandon(self, grace_s: float) -> bool:
        """A signal: nothing new starts; the writes running get `grace_s` to end. True when none is left."""
        running = [f for f in self._futures.values() if not f.done()]
        _, left = wait(running, timeout=grace_s) if running else (set(), set())
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        return not left
