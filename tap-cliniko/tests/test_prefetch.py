"""Pages fetched ahead: the next page is requested while the current one's rows are emitted,
never more than one ahead, in order, with errors where they happened and nothing lost."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tap_helpers import parse_singer, tap_config

from sandbox.cliniko.auth import KeyRing
from tap_cliniko.client import ClinikoError, ClinikoStream
from tap_cliniko.pagination import PagingError
from tap_cliniko.prefetch import Ahead
from tap_cliniko.tap import TapCliniko

WAIT_S = 10.0  # generous: only a broken implementation waits this long


class Producer:
    """An iterator that records how far it has been asked, and can fail at a chosen item."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.produced = 0
        self.closed = threading.Event()
        self.moved = threading.Condition()

    def __iter__(self) -> Iterator[int]:
        try:
            for n in range(1, self.count + 1):
                if n == self.fail_at:
                    raise ValueError(f"item {n} failed")
                with self.moved:
                    self.produced = n
                    self.moved.notify_all()
                yield n
        finally:
            self.closed.set()

    def wait_for(self, n: int) -> bool:
        with self.moved:
            return self.moved.wait_for(lambda: self.produced >= n, timeout=WAIT_S)


def test_items_arrive_in_order_and_complete() -> None:
    assert list(Ahead(iter(Producer(50)), depth=1)) == list(range(1, 51))


def test_one_item_ahead_while_the_consumer_holds_the_current_one() -> None:
    producer = Producer(10)
    items = iter(Ahead(iter(producer), depth=1))
    assert next(items) == 1
    assert producer.wait_for(2), "the next item was not fetched while the consumer held the first"
    threading.Event().wait(0.3)  # a producer that ignored the bound would be far ahead by now
    assert producer.produced == 2, "the producer ran more than one item ahead"
    assert next(items) == 2
    assert producer.wait_for(3)
    assert list(items) == list(range(3, 11))


def test_an_error_is_raised_after_every_earlier_item() -> None:
    got: list[int] = []
    with pytest.raises(ValueError, match="item 4 failed"):
        for item in Ahead(iter(Producer(10, fail_at=4)), depth=1):
            got.append(item)
    assert got == [1, 2, 3]


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    producer = Producer(1000)
    items = iter(Ahead(iter(producer), depth=1))
    assert [next(items), next(items)] == [1, 2]
    items.close()  # type: ignore[attr-defined]
    assert producer.closed.wait(WAIT_S), "the producer kept running after the consumer left"
    assert producer.produced <= 3


# -- the tap over HTTP ------------------------------------------------------------------------------
def _patients_stream(sandbox: Any, **config: Any) -> Any:
    tap = TapCliniko(config=tap_config(sandbox, **config), setup_mapper=False)
    return tap.streams["patients"]


def test_the_next_page_is_requested_while_the_rows_of_this_one_are_emitted(cliniko_sandbox: Any) -> None:
    served: list[str] = []
    seen = threading.Condition()

    def observe(request: Any, response: Any) -> None:
        if request.path == "/v1/patients":
            with seen:
                served.append(request.raw_query)
                seen.notify_all()

    cliniko_sandbox.app.observers.append(observe)
    stream = _patients_stream(cliniko_sandbox, page_size=5)
    rows = iter(stream.request_records(None))
    first = next(rows)
    with seen:
        assert seen.wait_for(lambda: len(served) >= 2, timeout=WAIT_S), "page 2 waited for page 1's rows"
    threading.Event().wait(0.3)
    assert len(served) == 2, "more than one page was fetched ahead"
    # page 2 continues after page 1's last row (keyset), though page 1's rows are still being emitted
    assert "id%3A%3E" in served[1] or "updated_at%3A%3E" in served[1], served[1]
    ids = [first["id"], *(r["id"] for r in rows)]
    expected = [p["id"] for p in cliniko_sandbox.admin("GET", "/_admin/records/patients")["patients"]]
    assert sorted(ids, key=int) == sorted(expected, key=int) and len(ids) == len(set(ids))


def test_a_failing_page_ahead_stops_the_run_after_the_rows_before_it(cliniko_sandbox: Any) -> None:
    """Page 3 answers 401 (the key revoked while page 2 was served): pages 1 and 2 arrive, then the error."""
    calls = {"n": 0}

    def revoke(request: Any, response: Any) -> None:
        if request.path == "/v1/patients":
            calls["n"] += 1
            if calls["n"] == 2:
                cliniko_sandbox.app.keys = KeyRing(["some-other-key"])

    cliniko_sandbox.app.observers.append(revoke)
    stream = _patients_stream(cliniko_sandbox, page_size=5)
    got: list[str] = []
    with pytest.raises(ClinikoError, match="rejected the API key"):
        for row in stream.request_records(None):
            got.append(row["id"])
    patients = cliniko_sandbox.admin("GET", "/_admin/records/patients")["patients"]
    ordered = [p["id"] for p in sorted(patients, key=lambda p: (p["updated_at"], int(p["id"])))]
    assert got == ordered[:9]  # page 2 starts at page 1's last row (keyset `>=`), which is not emitted twice


def test_a_looping_next_link_still_emits_the_page_then_stops(cliniko_sandbox: Any) -> None:
    """From the second request on, Cliniko answers with page one again: its rows arrive once, then one error."""
    cliniko_sandbox.admin("POST", "/_admin/responses", {"path": "/v1/patients", "after": 1, "times": None,
                                                        "replay": True})
    stream = _patients_stream(cliniko_sandbox, page_size=5)
    got: list[str] = []
    with pytest.raises(PagingError, match="loops"):
        for row in stream.request_records(None):
            got.append(row["id"])
    assert len(got) == 5 and len(set(got)) == 5


def _sync(sandbox: Any, **config: Any) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    with contextlib.redirect_stdout(out):  # the tap writes Singer lines to stdout's binary buffer
        TapCliniko(config=tap_config(sandbox, **config)).sync_all()
    out.flush()
    records, states, _ = parse_singer(raw.getvalue().decode("utf-8"))
    return records, states


def test_a_whole_run_with_pages_ahead_equals_one_without(cliniko_sandbox: Any, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Same records, same order, same bookmarks as one request at a time (the SDK's way)."""
    records, states = _sync(cliniko_sandbox, page_size=7)
    monkeypatch.setattr(ClinikoStream, "pages_ahead", 0)
    plain_records, plain_states = _sync(cliniko_sandbox, page_size=7)
    assert sum(map(len, records.values())) > 500
    assert records == plain_records
    assert states[-1] == plain_states[-1]
