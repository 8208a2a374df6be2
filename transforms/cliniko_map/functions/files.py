"""File names that are safe on every system Pipedrive users download to."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_BAD = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
MAX_NAME = 200


def safe_file_name(filename: Any, fallback: str = "attachment") -> str:
    """A Cliniko attachment's name as a plain file name.

    Keeps Unicode, spaces and the extension; strips any directory part ("../../etc/passwd"
    -> "passwd", "..\\x.txt" -> "x.txt"), control and reserved characters, leading dots
    (".htaccess" -> "htaccess"), Windows device names ("CON.txt" -> "_CON.txt"), and
    shortens very long names while keeping the extension.
    """
    name = unicodedata.normalize("NFC", str(filename or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = _BAD.sub("_", name).strip().lstrip(".").strip()
    if not name:
        return fallback
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.split(".")[0].upper() in _RESERVED:
        stem = f"_{stem}"
    ext = ext[:16]
    limit = MAX_NAME - (len(ext) + 1 if ext else 0)
    stem = stem[:limit].rstrip(" .") or fallback
    return f"{stem}.{ext}" if ext else stem
