"""One page ahead: a stream's next page is fetched while the rows of the current one are emitted.

Cliniko's keyset cursor for the next page is known as soon as a page arrives (its last row),
so a fetch thread can request it while the SDK's thread conforms and writes the rows.
Pages leave in the order they were fetched, each with the cursor of the request that
produced it (its overlap rows are dropped against that cursor, not the paginator's, which
has moved on). An error is raised where its page would have been, after every earlier
page; the bookmark is only ever advanced by the SDK's thread, from rows it has emitted, so
state stays exactly as sequential paging would leave it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_POLL_S = 0.1


@dataclass(frozen=True)
class Page:
    response: Any  # requests.Response
    cursor: Any  # the pagination.Cursor the request continued after, or None for the first page


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class _End:
    pass


class Ahead(Generic[T]):
    """Runs `produce` on its own thread, at most `depth` items ahead of the consumer.

    The producer waits for room *before* it asks for the next item, so with depth 1 exactly
    one page is requested while the consumer works on the current one: the pacer is never
    raced by a stream that has run far ahead, and memory holds at most two pages.
    """

    def __init__(self, produce: Iterator[T], depth: int = 1, name: str = "prefetch") -> None:
        self._produce = produce
        self._items: queue.Queue[T | _Failed | _End] = queue.Queue()
        self._room = threading.Semaphore(max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            while True:
                while not self._room.acquire(timeout=_POLL_S):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                try:
                    item = next(self._produce)
                except StopIteration:
                    self._items.put(_End())
                    return
                self._items.put(item)
        except BaseException as exc:  # handed to the consumer, raised there in order
            self._items.put(_Failed(exc))
        finally:
            if self._stop.is_set():
                close = getattr(self._produce, "close", None)
                if close is not None:
                    close()

    def __iter__(self) -> Iterator[T]:
        self._thread.start()
        try:
            while True:
                item = self._items.get()
                if isinstance(item, _End):
                    return
                if isinstance(item, _Failed):
                    raise item.error
                self._room.release()
                yield item
        finally:
            self._stop.set()
