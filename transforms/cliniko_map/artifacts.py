"""Files the map produces (communication CSVs, workflow-reference.json): the map's only writes.

Written atomically (temp file + rename) so a crash never leaves a half file for the
target to upload, and only when the bytes changed, so an unchanged file keeps its mtime.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def write_bytes(path: Path, data: bytes) -> str:
    """Write `data` to `path` (parents created) and return its sha256 hex digest."""
    digest = hashlib.sha256(data).hexdigest()
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
        return digest
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest
