"""A small threaded HTTP server with routing, fault injection and a request log.

The emulators need things a framework hides: dropping a connection without a reply,
answering with exact status codes and headers, and counting every request. The stdlib
server gives all of that with no dependency.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from sandbox.common.faults import Faults
from sandbox.common.hold import Hold


def content_disposition(filename: str) -> str:
    """An attachment header any name fits in: HTTP headers are Latin-1, so an ASCII fallback and the UTF-8
    name in `filename*` (RFC 6266), as real file servers send for a name with an en dash or an accent."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass
class Request:
    """One HTTP request as the emulators see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    host_url: str  # scheme://host:port the client used (from the Host header)
    params: dict[str, str] = field(default_factory=dict)  # path parameters
    raw_query: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)


@dataclass
class Response:
    """What a handler answers; `drop=True` closes the socket without any reply."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    stream: Iterable[bytes] | None = None  # sent after `body` when set; needs Content-Length header

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        hdrs = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status=status, body=body, headers=hdrs)

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8",
             headers: dict[str, str] | None = None) -> Response:
        return cls(status=status, body=text.encode("utf-8"),
                   headers={"Content-Type": content_type, **(headers or {})})

    @classmethod
    def dropped(cls) -> Response:
        return cls(status=0, drop=True)


Handler = Callable[[Request], Response]


class Router:
    """Maps `METHOD /path/{param}` patterns to handlers."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/") or "/")
        self._routes.append((method.upper(), re.compile(f"^{regex}/?$"), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.add(method, pattern, fn)
            return fn

        return deco

    def match(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        """Return (handler, params, path_exists); path_exists tells 405 from 404."""
        path_exists = False
        for m, regex, handler in self._routes:
            found = regex.match(path)
            if found:
                path_exists = True
                if m == method:
                    return handler, found.groupdict(), True
        return None, {}, path_exists


class App:
    """Base of an emulator: routing, admin endpoints, faults and a request log.

    Subclasses add their API routes to `self.router` and may override `authorize`,
    `rate_limit` and `operation`. Paths under `/_admin/` bypass auth, faults, limits and
    the hold so tests can always steer the emulator.
    """

    name = "sandbox"
    log_size = 5000

    def __init__(self, faults: Faults | None = None) -> None:
        self.router = Router()
        self.admin = Router()
        self.faults = faults or Faults()
        self.hold = Hold()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=self.log_size)
        # Called with (request, response) after every API request; tests hang
        # spec validators and mid-sync mutations here.
        self.observers: list[Callable[[Request, Response], None]] = []
        self.request_count = 0
        self._log_lock = threading.Lock()
        self.admin.add("GET", "/_admin/health", lambda r: Response.json({"ok": True, "app": self.name}))
        self.admin.add("GET", "/_admin/faults", lambda r: Response.json(self.faults.as_dict()))
        self.admin.add("POST", "/_admin/faults", self._set_faults)
        self.admin.add("GET", "/_admin/hold", lambda r: Response.json(self.hold.as_dict()))
        self.admin.add("POST", "/_admin/hold", self._arm_hold)
        self.admin.add("DELETE", "/_admin/hold", self._release_hold)
        self.admin.add("GET", "/_admin/requests", self._get_requests)
        self.admin.add("DELETE", "/_admin/requests", self._clear_requests)

    # -- hooks -----------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        """Return an error response when the request is not authorised."""
        return None

    def rate_limit(self, request: Request) -> Response | None:
        """Return a 429 response when the caller is over its limit."""
        return None

    def operation(self, request: Request) -> str:
        """The name a hold is armed with ("POST /v1/files" style for emulators that price operations)."""
        return f"{request.method} {request.path}"

    def decorate(self, request: Request, response: Response) -> None:
        """Add headers every API response carries (rate-limit headers, ...)."""

    def log_entry(self, request: Request, response: Response) -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.path,
            "query": request.raw_query,
            "status": response.status if not response.drop else None,
            "user_agent": request.header("User-Agent"),
            "has_authorization": request.header("Authorization") is not None,
        }

    # -- dispatch --------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/_admin/"):
            handler, params, exists = self.admin.match(request.method, request.path)
            if handler is None:
                return Response.json({"error": "no such admin route"}, 405 if exists else 404)
            request.params = params
            return handler(request)
        with self.hold.gate(self.operation(request)):
            response = self._dispatch_api(request)
        with self._log_lock:
            self.request_count += 1
            self.request_log.append(self.log_entry(request, response))
        for observer in list(self.observers):
            observer(request, response)
        return response

    def _dispatch_api(self, request: Request) -> Response:
        fault = self.faults.roll()
        if fault == "drop":
            return Response.dropped()
        if fault == "error":
            return Response.json({"error": "injected server error"}, 503)
        denied = self.authorize(request)
        if denied is not None:
            return denied
        limited = self.rate_limit(request)
        if limited is None and fault == "429":
            limited = self.forced_429(request)
        if limited is not None:
            return limited
        handler, params, exists = self.router.match(request.method, request.path)
        if handler is None:
            response = self.not_found(request, exists)
        else:
            request.params = params
            response = handler(request)
        self.decorate(request, response)
        return response

    def forced_429(self, request: Request) -> Response:
        return Response.json({"error": "Too Many Requests"}, 429, {"Retry-After": "1"})

    def not_found(self, request: Request, path_exists: bool) -> Response:
        if path_exists:
            return Response.json({"error": "Method not allowed"}, 405)
        return Response.json({"error": "Not found"}, 404)

    # -- admin -----------------------------------------------------------------
    def _set_faults(self, request: Request) -> Response:
        try:
            self.faults.update(request.json() or {})
        except (TypeError, ValueError) as exc:
            return Response.json({"error": str(exc)}, 400)
        return Response.json(self.faults.as_dict())

    def _arm_hold(self, request: Request) -> Response:
        body = request.json() or {}
        try:
            self.hold.arm(str(body.get("operation") or ""), int(body.get("after", 0)))
        except (TypeError, ValueError) as exc:
            return Response.json({"error": str(exc)}, 400)
        return Response.json(self.hold.as_dict())

    def _release_hold(self, request: Request) -> Response:
        if not self.hold.release():
            return Response.json({"error": "held requests were still being handled after 60 s"}, 500)
        return Response.json(self.hold.as_dict())

    def _get_requests(self, request: Request) -> Response:
        with self._log_lock:
            return Response.json({"count": self.request_count, "requests": list(self.request_log)})

    def _clear_requests(self, request: Request) -> Response:
        with self._log_lock:
            self.request_log.clear()
            self.request_count = 0
        return Response.json({"ok": True})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer

    def setup(self) -> None:
        """Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
        holds the body until the client's delayed ACK (~40 ms a response on Linux)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines can carry patient names in filters."""

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            # the client went away mid-body (killed, network cut): a real server never acts on half a
            # request, and acting on it as an empty body would create an object from defaults
            self.close_connection = True
            return
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        request = Request(
            method=self.command.upper(),
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            host_url=f"http://{host}",
            raw_query=split.query,
        )
        try:
            response = self.server.app.dispatch(request)
        except Exception as exc:  # an emulator bug must still answer like a server would
            response = Response.json({"error": f"sandbox internal error: {type(exc).__name__}: {exc}"}, 500)
        if response.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.stream is None:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.body:
            self.wfile.write(response.body)
        for chunk in response.stream or ():
            self.wfile.write(chunk)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, poll_interval: float = 0.5) -> SandboxServer:
        """Serve in a background thread (for in-process tests; a short poll makes `stop` quick)."""
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": poll_interval},
                                        name=f"{self.app.name}-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-request (a killed run, a test's dropped connection) is no error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)
