"""Serve what Cliniko should never serve: the bad-input corpus of the reliability tests.

Two switches, both off unless a test sets them (normal behaviour is untouched):

- raw fields (`POST /_admin/raw {resource, id, set, drop}`): values served verbatim on top of
  a row, unvalidated - wrong types, nulls, malformed dates, unknown fields, lone surrogates,
  another row's id. Filters and sorting still use the stored row, as a server whose
  serialiser is broken but whose database is fine would.
- response rewrites (`POST /_admin/responses {path, after, times, body|body_base64|empty|replay}`):
  from the `after`-th successful request to `path` on, `times` times (null: for ever), the
  answer is replaced: raw bytes (invalid JSON, invalid UTF-8), the same envelope with no
  records (an empty page that still says `next`), or a replay of the first answer to that
  path (a server that keeps sending page one: a `next` link that loops).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox.cliniko.errors import ApiError
from sandbox.common.http import Request, Response

RAW_KEY = "raw"


def raw_values(data: Any) -> str:
    """Validate the body of `POST /_admin/raw` ({resource, id, set: {...}, drop: [...]}); the
    stored form is ASCII JSON, so lone surrogates survive the database."""
    if not isinstance(data, dict) or "resource" not in data or "id" not in data:
        raise ApiError(400, "give resource, id and set: {field: value} and/or drop: [field]")
    values, drop = data.get("set") or {}, data.get("drop") or []
    if not isinstance(values, dict) or not isinstance(drop, list) or not all(isinstance(f, str) for f in drop):
        raise ApiError(400, "set must be an object and drop a list of field names")
    return json.dumps({"set": values, "drop": drop}, ensure_ascii=True)


def overlay(out: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The rendered row with its raw fields applied (a no-op for normal rows)."""
    if not meta.get(RAW_KEY):
        return out
    raw = json.loads(meta[RAW_KEY])
    for name in raw.get("drop", []):
        out.pop(name, None)
    out.update(raw.get("set", {}))
    return out


def json_response(payload: Any) -> Response:
    """Response.json, except that a lone surrogate is sent as a `\\udXXX` escape (as Ruby's JSON does)."""
    try:
        return Response.json(payload)
    except UnicodeEncodeError:
        body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})


@dataclass
class Rewrite:
    path: str
    after: int
    times: int | None
    body: bytes | None = None
    empty: bool = False
    replay: bool = False
    seen: int = 0
    served: int = 0
    first: bytes | None = field(default=None, repr=False)

    def listing(self) -> dict[str, Any]:
        return {"path": self.path, "after": self.after, "times": self.times, "seen": self.seen,
                "served": self.served, "mode": "replay" if self.replay else "empty" if self.empty else "body"}


class Rewrites:
    def __init__(self) -> None:
        self._items: list[Rewrite] = []
        self._lock = threading.Lock()

    @staticmethod
    def parse(data: Any) -> Rewrite:
        if not isinstance(data, dict) or not isinstance(data.get("path"), str) or not data["path"].startswith("/"):
            raise ApiError(400, "give path (e.g. /v1/patients), after, times and one of body, body_base64, "
                                "empty: true, replay: true")
        after, times = data.get("after", 1), data.get("times", 1)
        if not isinstance(after, int) or isinstance(after, bool) or after < 1:
            raise ApiError(400, "after must be a positive integer (the Nth successful request to path)")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise ApiError(400, "times must be a positive integer, or null for every later request")
        modes = [m for m in ("body", "body_base64", "empty", "replay") if data.get(m) not in (None, False)]
        if len(modes) != 1:
            raise ApiError(400, "give exactly one of body, body_base64, empty: true, replay: true")
        body: bytes | None = None
        if "body" in modes:
            body = str(data["body"]).encode("utf-8", "surrogatepass")
        elif "body_base64" in modes:
            try:
                body = base64.b64decode(str(data["body_base64"]), validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(400, "body_base64 is not valid base64") from None
        return Rewrite(data["path"].rstrip("/"), after, times, body, "empty" in modes, "replay" in modes)

    def add(self, rewrite: Rewrite) -> None:
        with self._lock:
            self._items.append(rewrite)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.listing() for r in self._items]

    def apply(self, request: Request, response: Response) -> Response:
        """The response to send: the original unless a rewrite is due for this request."""
        if not self._items or not 200 <= response.status < 300 or response.stream is not None:
            return response
        with self._lock:
            due: Rewrite | None = None
            for item in self._items:  # every rewrite of this path counts every request, due or not
                if request.path.rstrip("/") != item.path:
                    continue
                item.seen += 1
                if item.first is None:
                    item.first = response.body
                if due is None and item.seen >= item.after and (item.times is None or item.served < item.times):
                    due = item
            if due is None:
                return response
            due.served += 1
            return Response(200, self._body(due, response), dict(response.headers))

    @staticmethod
    def _body(item: Rewrite, response: Response) -> bytes:
        if item.body is not None:
            return item.body
        if item.replay:
            return item.first or response.body
        envelope = json.loads(response.body)
        if isinstance(envelope, dict):
            for key, value in envelope.items():
                if isinstance(value, list):
                    envelope[key] = []
        return json.dumps(envelope, separators=(",", ":")).encode("utf-8")
