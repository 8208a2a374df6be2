"""One HTTP exchange with Pipedrive, on one urllib3 pool shared by the writer threads (it is thread-safe).

urllib3 directly, not a requests Session: a Session merges settings, cookie jars and hooks and reads the
environment (proxies, ~/.netrc) again on every request, about 40% of the target's CPU per object with
limits off (bench, 2026-12-05: 220 objects/s on Sessions, see bench/results.md for the figure now). What
requests did that the API needs is here, on urllib3's public API: JSON, form and multipart bodies, query
strings, proxies and a CA bundle taken from the environment (once), no redirects, no cookies.

The client needs to know one thing the exceptions say but do not sort: did the request possibly reach
Pipedrive? A connect timeout means it was never sent (`ConnectTimedOut`, safe to send again); anything
else may have been acted on (`ConnectionLost`: a create is looked up before it is sent again). A
connection that could not be made at all - refused, a name that does not resolve, TLS - carries why, in
words, so the first request of a run can name the setting to fix instead of retrying for minutes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import certifi
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    SSLError,
)

POOL_SIZE = 16  # connections kept per host: at least one per writer thread


class ConnectTimedOut(Exception):
    """No connection was made in time: the request was never sent."""


class ConnectionLost(Exception):
    """The exchange failed after connecting (or the connection was refused): it may have been acted on.

    Its text is the name of the exception (messages and logs name only that).
    """

    def __init__(self, name: str, unreachable: str | None = None) -> None:
        super().__init__(name)
        self.unreachable = unreachable  # why no connection could be made at all (refused, DNS, TLS), in words


@dataclass(frozen=True)
class Reply:
    """What the client reads of a response."""

    status_code: int
    reason: str
    headers: Any  # urllib3's HTTPHeaderDict: case-insensitive `get`
    content: bytes

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.content)


def unreachable(exc: BaseException) -> str | None:
    """In words, why a connection could not be made at all; None when it was made (or only timed out)."""
    if isinstance(exc, SSLError):
        return "the TLS connection failed (a certificate or protocol problem)"
    if isinstance(exc, NameResolutionError) or "resolution" in str(exc) or "not known" in str(exc):
        return "its host name does not resolve"
    if isinstance(exc, NewConnectionError) and "refused" in str(exc).lower():
        return "the connection was refused"
    return None


def _pool(base_url: str) -> urllib3.PoolManager:
    """A pool for Pipedrive, through the proxy and with the CA bundle the environment names (as requests
    reads them: HTTPS_PROXY/HTTP_PROXY and NO_PROXY, REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, else certifi's)."""
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    options: dict[str, Any] = {"maxsize": POOL_SIZE, "block": False, "retries": False, "ca_certs": ca_bundle}
    parts = urlsplit(base_url)
    proxy = getproxies().get(parts.scheme)
    if proxy and not proxy_bypass(parts.hostname or ""):
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


class Http:
    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self._headers = headers
        self._pool = _pool(base_url)

    def send(self, method: str, url: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
             data: dict[str, Any] | None = None, files: dict[str, Any] | None = None,
             timeout_s: float) -> Reply:
        headers = dict(self._headers)
        body: bytes | None = None
        if files:
            fields = [*(data or {}).items(), *files.items()]
            body, headers["Content-Type"] = urllib3.encode_multipart_formdata(fields)
        elif data is not None:
            body = urlencode(data, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        if params:
            url = f"{url}?{urlencode(params, doseq=True)}"
        try:
            response = self._pool.request(method, url, body=body, headers=headers, redirect=False,
                                          timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s))
        except MaxRetryError as exc:  # not raised with retries off, but its cause is what happened
            raise _lost(exc.reason or exc) from None
        except HTTPError as exc:
            raise _lost(exc) from None
        return Reply(response.status, response.reason or "", response.headers, response.data)


def _lost(exc: BaseException) -> Exception:
    if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
        return ConnectTimedOut("ConnectTimeout")
    return ConnectionLost(type(exc).__name__, unreachable(exc))
