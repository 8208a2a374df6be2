"""A small exact multipart/form-data parser (the stdlib `cgi` module is gone/deprecated).

Bytes of file parts are returned untouched, which the download round-trip tests rely on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


class MultipartError(ValueError):
    pass


def _param(header: str, key: str) -> str | None:
    match = re.search(rf'(?:^|;)\s*{key}\*?=(?:"((?:[^"\\]|\\.)*)"|([^;]*))', header, flags=re.I)
    if not match:
        return None
    value = match.group(1) if match.group(1) is not None else match.group(2).strip()
    if value.lower().startswith("utf-8''"):
        from urllib.parse import unquote

        value = unquote(value[7:])
    return value.replace('\\"', '"')


def parse(content_type: str, body: bytes) -> list[Part]:
    boundary = _param(content_type, "boundary")
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        raise MultipartError("expected multipart/form-data with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise MultipartError("no parts found")
    parts: list[Part] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("malformed part")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _param(disposition, "name")
        if name is None:
            raise MultipartError("part without a name")
        parts.append(Part(name, _param(disposition, "filename"), headers.get("content-type"), data))
    return parts
