"""A stand-in for the S3 bucket behind `/patient_attachments/{id}/content`.

The content route answers 302 to a pre-signed URL on a *different host name* (localhost
for 127.0.0.1 and vice versa), as a real redirect to S3 would be. The bucket needs no
Basic auth, only a valid, unexpired signature; an `Authorization` header is refused the
way S3 refuses two auth mechanisms (400, XML) and counted, so tests can prove a client
never forwards its Cliniko key to the file host.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from sandbox.common.http import Request, Response

TTL_SECONDS = 600


def _xml_error(status: int, code: str, message: str) -> Response:
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>")
    return Response.text(body, status, content_type="application/xml")


def other_host(host_url: str, override: str | None = None) -> str:
    """scheme://host:port of the bucket: same port, another name for the loopback host."""
    parts = urlsplit(host_url)
    name = override or ("localhost" if parts.hostname == "127.0.0.1" else "127.0.0.1")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{name}{port}"


@dataclass
class Storage:
    """Signs bucket URLs and keeps the counters `GET /_admin/storage` reports."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    host_override: str | None = None
    auth_leaks: int = 0
    downloads: int = 0
    bad_signatures: int = 0
    leaks: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _sign(self, path: str, amz_date: str, expires: str) -> str:
        return hmac.new(self.secret, f"{path}\n{amz_date}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def signed_url(self, host_url: str, attachment_id: int, filename: str | None) -> str:
        path = f"/_storage/{attachment_id}/{quote(filename or 'file', safe='')}"
        amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        expires = str(TTL_SECONDS)
        query = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={amz_date}&X-Amz-Expires={expires}"
                 f"&X-Amz-SignedHeaders=host&X-Amz-Signature={self._sign(path, amz_date, expires)}")
        return f"{other_host(host_url, self.host_override)}{path}?{query}"

    def check(self, request: Request) -> Response | None:
        """The S3-style refusal for this request, or None when it may be served."""
        if request.header("Authorization") is not None:
            with self._lock:
                self.auth_leaks += 1
                self.leaks.append({"path": request.path, "at": int(time.time())})
            return _xml_error(400, "InvalidArgument",
                              "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                              "Signature query string parameter or the Authorization header should be specified")
        amz_date, expires = request.arg("X-Amz-Date") or "", request.arg("X-Amz-Expires") or ""
        signature = request.arg("X-Amz-Signature") or ""
        expected = self._sign(request.path, amz_date, expires)
        if not hmac.compare_digest(signature, expected):
            with self._lock:
                self.bad_signatures += 1
            return _xml_error(403, "SignatureDoesNotMatch",
                              "The request signature we calculated does not match the signature you provided.")
        issued = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        if time.time() > issued + int(expires):
            return _xml_error(403, "AccessDenied", "Request has expired")
        return None

    def counted_download(self) -> None:
        with self._lock:
            self.downloads += 1

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {"auth_leaks": self.auth_leaks, "downloads": self.downloads,
                    "bad_signatures": self.bad_signatures, "leaks": list(self.leaks)}

    def reset(self) -> None:
        with self._lock:
            self.auth_leaks = self.downloads = self.bad_signatures = 0
            self.leaks.clear()
