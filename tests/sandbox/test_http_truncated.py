"""A request cut off mid-body (the client killed between headers and body) is never acted on."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest


def _send_raw(url: str, raw: bytes) -> bytes:
    """Send bytes, half-close, and return whatever the server answers before it closes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _head(token: str, length: int) -> bytes:
    return (f"POST /api/v2/activities HTTP/1.1\r\nHost: x\r\nx-api-token: {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()


@pytest.mark.parametrize("sent", [0, 10], ids=["headers-only", "half-body"])
def test_a_body_cut_short_creates_nothing(pipedrive_sandbox, sent):
    body = json.dumps({"subject": "Cut off", "note": "[ref:cliniko:appointment:1]"}).encode()
    answer = _send_raw(pipedrive_sandbox.url, _head(pipedrive_sandbox.api_token, len(body)) + body[:sent])
    assert answer == b""
    assert pipedrive_sandbox.admin("GET", "/_admin/objects/activity")["data"] == []


def test_the_same_request_whole_is_acted_on(pipedrive_sandbox):
    """The control: the raw request above, sent whole, creates the activity (so the test above can fail)."""
    body = json.dumps({"subject": "Whole", "note": "[ref:cliniko:appointment:1]"}).encode()
    answer = _send_raw(pipedrive_sandbox.url, _head(pipedrive_sandbox.api_token, len(body)) + body)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert [a["subject"] for a in pipedrive_sandbox.admin("GET", "/_admin/objects/activity")["data"]] == ["Whole"]
