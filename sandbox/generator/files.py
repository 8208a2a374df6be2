"""Patient attachment files: odd names, content types, and deterministic bytes.

Bytes are a pure function of (seed, attachment id, size), generated chunk by chunk, so
a file of any size can be streamed without ever being held in memory or stored, and a
test can recompute the exact content to check a download.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

CHUNK = 1 << 20
STREAM_THRESHOLD = 50 * 1000 * 1000  # above this only metadata is stored; bytes are streamed
BIG_FILE_SIZE = 60 * 1024 * 1024 + 12345  # > 50 MB in both decimal and binary units

MAGIC = {
    "application/pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "video/mp4": b"\x00\x00\x00\x18ftypmp42",
    "application/zip": b"PK\x03\x04",
}

# (key, filename, content type, size or None for random) for the edge-case files.
ODD_FILES: tuple[tuple[str, str, str, int | None], ...] = (
    ("file_spaces", "scan 2023 (1) final FINAL.pdf", "application/pdf", None),
    ("file_unicode", "Überweisung Müller – Röntgen 日本語.pdf", "application/pdf", None),  # noqa: RUF001
    ("file_path_traversal", "../../etc/passwd", "text/plain", None),
    ("file_backslash_traversal", "..\\x.txt", "text/plain", None),
    ("file_no_extension", "README", "application/octet-stream", None),
    ("file_dotfile", ".htaccess", "text/plain", None),
    ("file_quotes_semicolons", 'report "draft"; v2,final.txt', "text/plain", None),
    ("file_percent", "100% progress%20photo.jpg", "image/jpeg", None),
    ("file_emoji", "progress photo 😀.png", "image/png", None),
    ("file_windows_reserved", "CON.txt", "text/plain", None),
    ("file_long_name", "very long name " + "x" * 220 + ".pdf", "application/pdf", None),
    ("file_empty", "empty.txt", "text/plain", 0),
    ("file_big_streamed", "Gait analysis 4K recording.mp4", "video/mp4", BIG_FILE_SIZE),
)

ORDINARY = (
    ("Referral letter.pdf", "application/pdf"), ("X-ray lumbar spine.jpg", "image/jpeg"),
    ("Intake form.pdf", "application/pdf"), ("Progress photo.png", "image/png"),
    ("Exercise plan.txt", "text/plain"), ("MRI report.pdf", "application/pdf"),
)


def random_size(rng: random.Random, content_type: str) -> int:
    if content_type == "text/plain":
        return rng.randint(40, 4000)
    return rng.randint(2000, 64000)


def _chunk(seed: int, attachment_id: int, index: int, length: int, content_type: str) -> bytes:
    rng = random.Random(f"{seed}:file:{attachment_id}:{index}")
    if content_type == "text/plain":
        line = f"Synthetic attachment {attachment_id} chunk {index}. ".encode()
        data = (line * (length // len(line) + 1))[:length]
    else:
        data = rng.randbytes(length)
    if index == 0:
        magic = MAGIC.get(content_type, b"")[:length]
        data = magic + data[len(magic):]
    return data


def iter_bytes(seed: int, attachment_id: int, size: int, content_type: str) -> Iterator[bytes]:
    """The file's content in chunks of at most 1 MiB."""
    for index, start in enumerate(range(0, size, CHUNK)):
        yield _chunk(seed, attachment_id, index, min(CHUNK, size - start), content_type)


def content(seed: int, attachment_id: int, size: int, content_type: str) -> bytes:
    """The whole file (only for files under the streaming threshold)."""
    return b"".join(iter_bytes(seed, attachment_id, size, content_type))


def sha256(seed: int, attachment_id: int, size: int, content_type: str) -> str:
    digest = hashlib.sha256()
    for chunk in iter_bytes(seed, attachment_id, size, content_type):
        digest.update(chunk)
    return digest.hexdigest()
