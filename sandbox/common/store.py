"""SQLite document store: one row per API object, its JSON body plus filterable extras.

`body` is exactly what the API serves; `meta` holds values the API filters on but does
not show as plain fields (e.g. `patient_id` behind a link object). Filters and sorts
run in SQL through json_extract, so a 200k-row clinic pages as fast as a small one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    id INTEGER NOT NULL,
    body TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS blobs (
    key TEXT PRIMARY KEY,
    content_type TEXT,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class DocStore:
    """Thread-safe store; one connection guarded by a lock keeps SQLite simple and fast."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self.lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def create_index(self, name: str, expr: str) -> None:
        with self.lock:
            self._conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON docs (kind, {expr})")

    # -- documents -------------------------------------------------------------
    def put(self, kind: str, doc_id: int, body: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
        with self.lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO docs (kind, id, body, meta) VALUES (?, ?, ?, ?)",
                (kind, int(doc_id), json.dumps(body, ensure_ascii=False), json.dumps(meta or {}, ensure_ascii=False)),
            )

    def put_many(self, rows: Iterable[tuple[str, int, dict[str, Any], dict[str, Any]]]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO docs (kind, id, body, meta) VALUES (?, ?, ?, ?)",
                ((k, int(i), json.dumps(b, ensure_ascii=False), json.dumps(m or {}, ensure_ascii=False))
                 for k, i, b, m in rows),
            )

    def get(self, kind: str, doc_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        rows = self.execute("SELECT body, meta FROM docs WHERE kind = ? AND id = ?", (kind, int(doc_id)))
        if not rows:
            return None
        return json.loads(rows[0][0]), json.loads(rows[0][1])

    def delete(self, kind: str, doc_id: int) -> bool:
        with self.lock:
            cur = self._conn.execute("DELETE FROM docs WHERE kind = ? AND id = ?", (kind, int(doc_id)))
            return cur.rowcount > 0

    def count(self, kind: str, where: str = "", params: Iterable[Any] = ()) -> int:
        sql = "SELECT COUNT(*) FROM docs WHERE kind = ?" + (f" AND ({where})" if where else "")
        return int(self.execute(sql, (kind, *params))[0][0])

    def query(self, kind: str, where: str = "", params: Iterable[Any] = (), order: str = "id",
              limit: int | None = None, offset: int = 0) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        sql = "SELECT body, meta FROM docs WHERE kind = ?" + (f" AND ({where})" if where else "")
        sql += f" ORDER BY {order}"
        args: list[Any] = [kind, *params]
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        return [(json.loads(b), json.loads(m)) for b, m in self.execute(sql, args)]

    def kinds(self) -> dict[str, int]:
        return {k: n for k, n in self.execute("SELECT kind, COUNT(*) FROM docs GROUP BY kind ORDER BY kind")}

    def copy_to(self, other: DocStore) -> None:
        """Replace `other`'s whole database with a copy of this one (SQLite online backup)."""
        with self.lock, other.lock:
            self._conn.backup(other._conn)

    def clear(self) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM docs")
            conn.execute("DELETE FROM blobs")
            conn.execute("DELETE FROM kv")

    # -- blobs and small values --------------------------------------------------
    def put_blob(self, key: str, data: bytes, content_type: str | None = None) -> None:
        with self.lock:
            self._conn.execute("INSERT OR REPLACE INTO blobs (key, content_type, data) VALUES (?, ?, ?)",
                               (key, content_type, data))

    def get_blob(self, key: str) -> tuple[bytes, str | None] | None:
        rows = self.execute("SELECT data, content_type FROM blobs WHERE key = ?", (key,))
        return (bytes(rows[0][0]), rows[0][1]) if rows else None

    def set_value(self, key: str, value: Any) -> None:
        with self.lock:
            self._conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_value(self, key: str, default: Any = None) -> Any:
        rows = self.execute("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def close(self) -> None:
        with self.lock:
            self._conn.close()
