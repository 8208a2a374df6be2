"""Files the map produces (communication CSVs, workflow-reference.json): the map's only writes.

Written atomically (temp file + rename) so a crash never leaves a half file for the
target to upload, and only when the bytes changed, so an unchanged file keeps its mtime.
They hold patients' messages: files are owner-only (mkstemp's 0600) and so are the
folders this module creates.
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
    _private_folders(path.parent)
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


def _private_folders(folder: Path) -> None:
    """Create `folder` and its missing parents owner-only (0700); existing ones are left as they are."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(mode=0o700, exist_ok=True)
        os.chmod(created, 0o700)  # mkdir's mode is masked by the umask
