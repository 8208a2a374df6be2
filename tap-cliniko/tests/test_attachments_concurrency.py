"""Concurrent attachment downloads (attachments.attach_all) and the pacer shared by threads.

The downloads are the tap's own (`PatientAttachmentsStream._download`: paced, retried, the
storage fetch without credentials) against the Cliniko sandbox with latency switched on.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tap_cliniko.attachments import AttachmentStore, ordered_map
from tap_cliniko.pacing import RequestPacer
from tap_cliniko.tap import TapCliniko

SMALL_FILE = 5 * 1024 * 1024


def attachment_rows(sandbox: Any) -> list[dict[str, Any]]:
    """Attachments that have bytes (small ones: the 50 MB edge case only slows the test down)."""
    rows = sandbox.get("patient_attachments", per_page=100, sort="id").json()["patient_attachments"]
    rows = [r for r in rows if r.get("content") and (r.get("size") or 0) < SMALL_FILE]
    assert len(rows) >= 8, "the small clinic must hold enough attachments to overlap downloads"
    return rows


def tap_for(sandbox: Any, folder: Path, max_rpm: int = 0) -> TapCliniko:
    return TapCliniko(config={"api_key": sandbox.api_key, "user_agent": sandbox.user_agent,
                              "base_url": sandbox.base_url, "attachments_dir": str(folder),
                              "max_requests_per_minute": max_rpm, "max_retries": 3}, parse_env_config=False)


class InFlight:
    """Wraps a download function and remembers the most calls that ran at once."""

    def __init__(self, download: Any, fail_id: str | None = None) -> None:
        self.download = download
        self.fail_id = fail_id
        self.now = self.most = self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, url: str, path: Path) -> str:
        with self.lock:
            self.now += 1
            self.calls += 1
            self.most = max(self.most, self.now)
        try:
            if self.fail_id is not None and path.name.startswith(f"{self.fail_id}-"):
                raise RuntimeError("storage refused this attachment")
            return self.download(url, path)
        finally:
            with self.lock:
                self.now -= 1


def test_downloads_overlap_and_records_keep_their_order(tmp_path: Path, cliniko_sandbox: Any) -> None:
    rows = attachment_rows(cliniko_sandbox)
    cliniko_sandbox.admin("POST", "/_admin/faults", {"latency_ms": 80})
    tap = tap_for(cliniko_sandbox, tmp_path / "files", max_rpm=1000)
    stream = tap.streams["patient_attachments"]
    store = tap.attachment_store
    assert store is not None
    download = InFlight(stream._download)

    out = list(store.attach_all(iter(rows), download, workers=4))

    assert [r["id"] for r in out] == [r["id"] for r in rows]
    assert 1 < download.most <= 4
    for record in out:
        expected = cliniko_sandbox.admin("GET", f"/_admin/attachments/{record['id']}")["sha256"]
        assert record["sha256"] == expected
        assert hashlib.sha256(Path(record["local_path"]).read_bytes()).hexdigest() == expected
    assert store.downloaded == len(rows) and store.skipped == 0
    assert tap.pacer.requests == len(rows)  # every Cliniko request went through the one pacer
    assert cliniko_sandbox.admin("GET", "/_admin/storage")["auth_leaks"] == 0
    assert not list((tmp_path / "files").rglob(".part-*"))

    # a second pass finds every file up to date: nothing is fetched again
    again = tap_for(cliniko_sandbox, tmp_path / "files")
    again_store = again.attachment_store
    assert again_store is not None
    second = InFlight(again.streams["patient_attachments"]._download)
    assert [r["sha256"] for r in again_store.attach_all(rows, second, workers=4)] == [r["sha256"] for r in out]
    assert second.calls == 0 and again_store.skipped == len(rows)


def test_a_failed_download_surfaces_in_order_after_every_earlier_record(tmp_path: Path,
                                                                        cliniko_sandbox: Any) -> None:
    rows = attachment_rows(cliniko_sandbox)
    victim = rows[5]["id"]
    tap = tap_for(cliniko_sandbox, tmp_path / "files")
    store = tap.attachment_store
    assert store is not None
    emitted: list[str] = []
    with pytest.raises(RuntimeError, match="storage refused"):
        for record in store.attach_all(rows, InFlight(tap.streams["patient_attachments"]._download, victim),
                                       workers=3):
            emitted.append(record["id"])
    # the records before the failure were handed on, each with its file; nothing after it
    assert emitted == [r["id"] for r in rows[:5]]
    manifest = store.manifest
    assert victim not in manifest
    assert not list((tmp_path / "files").rglob(".part-*"))


def test_records_without_bytes_pass_through_untouched(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path / "files")
    rows = [{"id": "1", "patient_id": "7", "content": None}, {"id": "2", "patient_id": "7"}]

    def never(url: str, path: Path) -> str:
        raise AssertionError("nothing to download")

    out = list(store.attach_all(rows, never, workers=4))
    assert [(r["id"], r["local_path"], r["sha256"]) for r in out] == [("1", None, None), ("2", None, None)]


def test_ordered_map_keeps_order_bounds_lookahead_and_stops_early() -> None:
    pulled: list[int] = []

    def items() -> Any:
        for i in range(100):
            pulled.append(i)
            yield i

    def slow_for_evens(i: int) -> int:
        time.sleep(0.02 if i % 2 == 0 else 0.0)
        return i * i

    results = ordered_map(slow_for_evens, items(), workers=3)
    assert [next(results) for _ in range(5)] == [0, 1, 4, 9, 16]
    assert len(pulled) <= 5 + 2 * 3  # never more than 2 x workers ahead of what was handed on
    before = threading.active_count()
    results.close()  # the consumer stops: queued work is cancelled, the threads end
    deadline = time.monotonic() + 5
    while threading.active_count() >= before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() < before
    assert len(pulled) < 100


def test_ordered_map_with_one_worker_runs_in_the_callers_thread() -> None:
    caller = threading.get_ident()
    assert list(ordered_map(lambda i: (i, threading.get_ident() == caller), range(3), workers=1)) == [
        (0, True), (1, True), (2, True)]
    assert list(ordered_map(lambda i: i, [], workers=0)) == []


def test_pacer_shared_by_threads_never_grants_more_than_the_window_allows() -> None:
    limit, window = 4, 0.25
    pacer = RequestPacer(limit, window_s=window)
    started = time.monotonic()

    def client() -> None:
        for _ in range(4):
            pacer.acquire()

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    elapsed = time.monotonic() - started
    assert pacer.requests == 24
    # 24 requests at 4 per 0.25 s: the last batch cannot start before 5 full windows have passed
    assert elapsed >= (24 // limit - 1) * window
    assert elapsed < 10


def test_pacer_counts_every_request_from_many_threads_when_pacing_is_off() -> None:
    pacer = RequestPacer(0)

    def client() -> None:
        for _ in range(2000):
            pacer.acquire()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert pacer.requests == 16000


def test_a_429_pause_holds_other_threads_once_not_twice() -> None:
    pacer = RequestPacer(1000)
    reset = time.time() + 0.4
    granted: list[float] = []
    started = time.monotonic()
    pausers = [threading.Thread(target=pacer.pause_until, args=(reset,)) for _ in range(2)]
    for t in pausers:
        t.start()
    deadline = time.monotonic() + 5
    while not pacer._lock.locked() and time.monotonic() < deadline:  # a pauser is asleep holding the pacer
        time.sleep(0.001)
    pacer.acquire()  # waits behind the pause
    granted.append(time.monotonic() - started)
    for t in pausers:
        t.join(timeout=5)
    total = time.monotonic() - started
    assert granted[0] >= 0.35
    assert total < 0.75  # two threads seeing the same 429 wait for the same reset, not one after the other
