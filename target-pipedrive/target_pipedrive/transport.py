"""One HTTP exchange on a shared urllib3 pool, with requests' encodings and error classes.

`requests.Session` spent about 0.8 ms of CPU per request on machinery the API never needs
(cookie jars, hooks, settings merged per call, redirect checks): more than the rest of the
target's work for a record. Bodies are encoded by requests' own helpers (JSON with its
json module, forms and multipart uploads), so the bytes on the wire are what requests sent;
transport failures are sorted the way requests sorted them: a connect timeout means
nothing was sent (`ConnectTimedOut`), anything else may have reached the server
(`ConnectionLost`). Redirects are not followed and cookies are not kept (the API uses
neither). Proxies and a CA bundle come from the environment once, as requests read them.

Response headers are read by `read_headers` instead of http.client's parser, which runs
the email package's feed parser over every header block: a quarter of the exchange's CPU.
"""

from __future__ import annotations

import http.client
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from requests.adapters import HTTPAdapter
from requests.certs import where as default_ca_bundle
from requests.compat import json as complexjson
from requests.models import RequestEncodingMixin
from requests.utils import default_headers, get_environ_proxies, select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

POOL_SIZE = 16  # connections kept per host, at least (one per writer thread is needed)
MAX_HEADER_LINE = 65536  # http.client's limits
MAX_HEADERS = 100


class ConnectTimedOut(Exception):
    """No connection was made in time: the request was never sent."""


class ConnectionLost(Exception):
    """The exchange failed after connecting (or the connection was refused): it may have been acted on.

    Its text is the name of the exception requests raised for it (messages and logs name those).
    """

    def __init__(self, name: str, unreachable: str | None = None) -> None:
        super().__init__(name)
        self.unreachable = unreachable  # why no connection could be made at all (refused, DNS, TLS), in words


def _unreachable(reason: BaseException | None) -> str | None:
    """In words, why a connection could not be made at all; None when it was made (or only timed out)."""
    if isinstance(reason, SSLError):
        return "the TLS connection failed (a certificate or protocol problem)"
    if isinstance(reason, NewConnectionError):
        text = str(reason)
        if isinstance(reason, NameResolutionError) or "resolution" in text or "not known" in text:
            return "its host name does not resolve"
        if "refused" in text.lower():
            return "the connection was refused"
    return None


def _requests_name(exc: BaseException | None) -> str:
    if isinstance(exc, ReadTimeoutError):
        return "ReadTimeout"
    if isinstance(exc, SSLError):
        return "SSLError"
    if isinstance(exc, ProxyError):
        return "ProxyError"
    return "ConnectionError"


def read_headers(fp: Any) -> http.client.HTTPMessage:
    """A response's header block as http.client's `parse_headers` returns it for a well-formed one.

    Values keep what follows "name:" less leading blanks; a folded line continues the value before
    it; repeated names stay repeated. A line that is not a header is ignored.
    """
    msg = http.client.HTTPMessage()
    name: str | None = None
    value = ""
    for _ in range(MAX_HEADERS + 1):
        line = fp.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            break
        text = line.decode("iso-8859-1")
        if text[0] in " \t":
            value += text
            continue
        if name is not None:
            msg.set_raw(name, value.rstrip("\r\n"))
        name, colon, value = text.partition(":")
        if colon:
            value = value.lstrip(" \t")
        else:
            name = None
    else:
        raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
    if name is not None:
        msg.set_raw(name, value.rstrip("\r\n"))
    return msg


class _Response(http.client.HTTPResponse):
    def begin(self) -> None:
        """http.client's `begin`, with the headers read by `read_headers`."""
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()  # type: ignore[attr-defined]
            if status != http.client.CONTINUE:
                break
            read_headers(self.fp)  # an interim 100 response's headers
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = read_headers(self.fp)
        encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(encoding and encoding.lower() == "chunked")
        self.chunk_left = None
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            if self.length is not None and self.length < 0:
                self.length = None
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200 \
                or self._method == "HEAD":  # type: ignore[attr-defined]
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


class _HTTPConnection(HTTPConnection):
    response_class = _Response


class _HTTPSConnection(HTTPSConnection):
    response_class = _Response


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


@dataclass
class Response:
    status_code: int
    headers: Any  # case-insensitive (urllib3's HTTPHeaderDict)
    content: bytes
    reason: str

    def json(self) -> Any:
        """Raises ValueError when the body is not JSON (as requests' Response.json)."""
        return complexjson.loads(self.content)


class Transport:
    def __init__(self, base_url: str, headers: dict[str, str], threads: int = 1) -> None:
        self.base_url = base_url
        size = max(POOL_SIZE, threads + 2)  # a full pool would drop (and log) the connection a thread returns
        self._headers = {**default_headers(), **headers}
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or default_ca_bundle()
        tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED"}
        tls["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle
        self._proxy = select_proxy(base_url, get_environ_proxies(base_url))
        if self._proxy:
            self._manager: Any = HTTPAdapter(pool_maxsize=size).proxy_manager_for(self._proxy, **tls)
            self._pool: Any = None
        else:
            self._manager = urllib3.PoolManager(num_pools=4, maxsize=size, **tls)
        if type(self._manager) in (urllib3.PoolManager, urllib3.ProxyManager):  # not SOCKS: its own pools
            self._manager.pool_classes_by_scheme = POOLS
        if not self._proxy:
            self._pool = self._manager.connection_from_url(base_url)
        # as requests' adapter: no retries of its own, but a pooled connection the server closed is replaced
        self._retries = urllib3.Retry(0, read=False)

    def close(self) -> None:
        self._manager.clear()

    def send(self, method: str, url: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
             data: dict[str, Any] | None = None, files: dict[str, Any] | None = None,
             timeout_s: float) -> Response:
        headers = dict(self._headers)
        body: bytes | None = None
        if files:
            body, headers["Content-Type"] = RequestEncodingMixin._encode_files(files, data or {})
        elif data:
            body = RequestEncodingMixin._encode_params(data).encode("utf-8")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = complexjson.dumps(json_body, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if body is not None:
            headers["Content-Length"] = str(len(body))
        elif method not in ("GET", "HEAD"):
            headers["Content-Length"] = "0"
        if params:
            url += ("&" if "?" in url else "?") + RequestEncodingMixin._encode_params(params)
        timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        try:
            if self._pool is not None:
                parts = urlsplit(url)
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                raw = self._pool.urlopen(method, target, body=body, headers=headers, retries=self._retries,
                                         redirect=False, assert_same_host=False, timeout=timeout,
                                         preload_content=True, decode_content=True)
            else:
                raw = self._manager.urlopen(method, url, body=body, headers=headers, retries=self._retries,
                                            redirect=False, assert_same_host=False, timeout=timeout,
                                            preload_content=True, decode_content=True)
        except MaxRetryError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
                raise ConnectTimedOut("ConnectTimeout") from None
            raise ConnectionLost(_requests_name(reason), _unreachable(reason)) from None
        except (HTTPError, OSError) as exc:
            raise ConnectionLost(_requests_name(exc), _unreachable(exc)) from None
        return Response(raw.status, raw.headers, raw.data or b"", raw.reason or "")
