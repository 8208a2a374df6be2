"""Download patient attachments into `attachments_dir`, safely and once.

- The Cliniko content URL answers with a redirect to object storage on another host;
  the storage request is made without the Cliniko Authorization header (a signed URL
  needs none, and the key must never leave Cliniko).
- Whatever the file name says (`../../etc/passwd`, `C:\\x`, control characters), the
  file lands inside `attachments_dir/<patient_id>/`.
- A manifest remembers the sha256 and `updated_at` of each download; an attachment whose
  file still hashes to the recorded value is not downloaded again.
- Bytes stream to a temporary file and are renamed into place, so a crash never leaves
  a half file under the final name.
- `attach_all` downloads on a few threads (every Cliniko request still goes through the
  tap's one pacer) and hands records back in their input order, so the stream's records,
  and the bookmark that follows them, never pass an attachment that is not on disk yet.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlparse

import requests

CHUNK = 1 << 20
MANIFEST = ".manifest.json"
UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
# Downloads in flight: enough to hide a round trip behind the pacer's 0.3 s between requests.
DOWNLOAD_WORKERS = 4

T = TypeVar("T")
R = TypeVar("R")
Download = Callable[[str, Path], str]  # (content URL, target path) -> sha256 of what was written


def safe_file_name(attachment_id: str, file_name: str | None) -> str:
    """`<id>-<cleaned name>`: no separators, no dot-only names, at most ~150 bytes."""
    name = unicodedata.normalize("NFC", file_name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = UNSAFE.sub("_", name).strip(" .")
    if not name:
        name = "attachment"
    while len(name.encode("utf-8")) > 150:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:-1] + dot + ext) if dot and len(ext) < 10 and stem else name[:-1]
    return f"{attachment_id}-{name}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class AttachmentStore:
    """The download folder and its manifest."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)  # patient files: owner-only
        self._manifest_path = self.root / MANIFEST
        self._lock = threading.Lock()
        try:
            self.manifest: dict[str, dict[str, Any]] = json.loads(self._manifest_path.read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            self.manifest = {}
        self.downloaded = 0
        self.skipped = 0

    def target_path(self, record: dict[str, Any]) -> Path:
        patient = str(record.get("patient_id") or "unknown")
        folder = self.root / (patient if patient.isdigit() else "unknown")
        path = (folder / safe_file_name(str(record["id"]), record.get("filename"))).resolve()
        if not path.is_relative_to(self.root):  # defence in depth; safe_file_name already prevents it
            raise ValueError("attachment path escapes attachments_dir")
        return path

    def up_to_date(self, record: dict[str, Any], path: Path) -> str | None:
        """The known sha256 when the file on disk is this version of the attachment."""
        entry = self.manifest.get(str(record["id"]))
        if not entry or entry.get("updated_at") != record.get("updated_at") or not path.exists():
            return None
        digest = sha256_of(path)
        return digest if digest == entry.get("sha256") else None

    def attach(self, record: dict[str, Any], download: Download) -> dict[str, Any]:
        """The record with `local_path` and `sha256`: downloaded unless the file on disk is this version."""
        record.setdefault("local_path", None)
        record.setdefault("sha256", None)
        content_url = ((record.get("content") or {}).get("links") or {}).get("self")
        if not content_url:
            return record
        path = self.target_path(record)
        digest = self.up_to_date(record, path)
        fetched = digest is None
        if digest is None:
            digest = download(content_url, path)
        with self._lock:
            if fetched:
                self.downloaded += 1
            else:
                self.skipped += 1
        self.remember(record, path, digest)
        record["local_path"] = str(path)
        record["sha256"] = digest
        return record

    def attach_all(self, records: Iterable[dict[str, Any]], download: Download,
                   workers: int = DOWNLOAD_WORKERS) -> Iterator[dict[str, Any]]:
        """`attach` over a stream of records on `workers` threads, records back in input order."""
        return ordered_map(lambda record: self.attach(record, download), records, workers)

    def remember(self, record: dict[str, Any], path: Path, digest: str) -> None:
        with self._lock:
            self.manifest[str(record["id"])] = {
                "sha256": digest,
                "updated_at": record.get("updated_at"),
                "path": str(path.relative_to(self.root)),
            }
            tmp = self._manifest_path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w", encoding="utf-8") as out:
                out.write(json.dumps(self.manifest, ensure_ascii=False, indent=0))
            os.replace(tmp, self._manifest_path)


def fetch_to(path: Path, first: requests.Response, timeout: float, user_agent: str) -> str:
    """Follow a storage redirect (without credentials) and stream the bytes to `path`."""
    response = first
    if response.is_redirect:
        location = urljoin(first.url, response.headers["Location"])
        if urlparse(location).scheme not in {"http", "https"}:
            raise ValueError("attachment redirect to a non-HTTP location")
        with requests.Session() as storage:  # fresh session: no Cliniko auth, no cookies
            storage.trust_env = False
            response = storage.get(location, stream=True, timeout=timeout, allow_redirects=True,
                                   headers={"User-Agent": user_agent})
            return _write(path, response)
    return _write(path, response)


def _write(path: Path, response: requests.Response) -> str:
    response.raise_for_status()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    expected = response.headers.get("Content-Length")
    written = 0
    fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
        if expected is not None and int(expected) != written:
            raise requests.exceptions.ChunkedEncodingError(
                f"attachment download cut short ({written} of {expected} bytes)")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    finally:
        response.close()
    return digest.hexdigest()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """`fn` over `items` on up to `workers` threads; results in input order, at most 2 x workers ahead.

    `items` is consumed in the caller's thread (a stream's pages are fetched there, one at a
    time, as the SDK expects). A failure is raised at its item's place, after every earlier
    result; the items behind it are cancelled or, if already running, finish before the
    error leaves this generator. With `workers` <= 1 everything runs in the caller's thread.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    ahead = 2 * workers
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="attachments") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
