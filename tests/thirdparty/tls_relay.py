"""An HTTPS proxy on loopback that answers for one host name with the Pipedrive sandbox behind it.

Why: the published tap-pipedrive builds every URL from a constant `https://api.pipedrive.com` and has no
setting for another base URL. It calls the API with `requests`, which honours the standard proxy and CA
environment variables (`HTTPS_PROXY`, `REQUESTS_CA_BUNDLE`), so the tap runs unmodified: it asks this
proxy to CONNECT to the host, the proxy terminates TLS with a certificate from a throw-away test CA
(trustme) and relays the plain bytes to the sandbox. Any other CONNECT target is refused: nothing
leaves the machine.
"""

from __future__ import annotations

import select
import socket
import socketserver
import ssl
import threading
from pathlib import Path

import trustme

MAX_HEAD = 16 * 1024
IDLE_S = 120.0


class TlsRelay:
    """`with TlsRelay("api.pipedrive.com", ("127.0.0.1", port), tmp_path) as relay:` then use `relay.env()`."""

    def __init__(self, host: str, upstream: tuple[str, int], workdir: Path) -> None:
        self.host = host
        self.upstream = upstream
        self.ca_file = workdir / "relay-ca.pem"
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(host).configure_cert(self.context)
        self.refused: list[str] = []  # requests turned away (first two words), for the test to check
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.relay = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """What a `requests` client needs in its environment to reach `host` through this relay."""
        return {"HTTPS_PROXY": self.proxy_url, "https_proxy": self.proxy_url, "REQUESTS_CA_BUNDLE": str(self.ca_file),
                "NO_PROXY": "", "no_proxy": ""}

    def __enter__(self) -> TlsRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    relay: TlsRelay


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        relay = self.server.relay
        client: socket.socket = self.request
        client.settimeout(IDLE_S)
        head = _read_head(client)
        words = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        wanted = f"{relay.host}:443"
        if len(words) != 3 or words[0] != "CONNECT" or words[1] != wanted:
            relay.refused.append(" ".join(words[:2]))
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            tls = relay.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls, socket.create_connection(relay.upstream, timeout=IDLE_S) as upstream:
            _pump(tls, upstream)


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _pump(tls: ssl.SSLSocket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes or stays idle for IDLE_S."""
    peers = {tls: upstream, upstream: tls}
    while True:
        ready = [tls] if tls.pending() else select.select(list(peers), [], [], IDLE_S)[0]
        if not ready:
            return
        for sock in ready:
            try:
                data = sock.recv(65536)
            except (ssl.SSLError, OSError):
                return
            if not data:
                return
            try:
                peers[sock].sendall(data)
            except OSError:
                return
