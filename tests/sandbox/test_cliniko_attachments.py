"""Cliniko sandbox attachment downloads: redirect to another host, signed bucket, leak detection."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from sandbox.generator import files


def _location(sandbox, key, base=None):
    attachment = sandbox.edge(key)
    url = f"{base or sandbox.base_url}/patient_attachments/{attachment}/content"
    response = sandbox.session().get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return attachment, response.headers["Location"]


def test_record_links_to_its_content_route(cliniko_sandbox):
    attachment = cliniko_sandbox.edge("file_spaces")
    record = cliniko_sandbox.get(f"patient_attachments/{attachment}").json()
    assert record["content"]["links"]["self"] == f"{cliniko_sandbox.base_url}/patient_attachments/{attachment}/content"
    processing = cliniko_sandbox.get(f"patient_attachments/{cliniko_sandbox.edge('file_processing')}").json()
    assert processing["content"] is None and processing["processing_completed"] is False
    assert processing["filename"] is None and processing["size"] is None


@pytest.mark.parametrize(("client_host", "bucket_host"), [("127.0.0.1", "localhost"), ("localhost", "127.0.0.1")])
def test_content_redirects_to_a_different_host_name(cliniko_sandbox, client_host, bucket_host):
    port = urlsplit(cliniko_sandbox.url).port
    _, location = _location(cliniko_sandbox, "file_spaces", base=f"http://{client_host}:{port}/v1")
    parts = urlsplit(location)
    assert (parts.hostname, parts.port) == (bucket_host, port)
    assert parts.path.startswith("/_storage/")
    assert "X-Amz-Signature" in parse_qs(parts.query)


def test_bucket_serves_the_exact_bytes_without_basic_auth(cliniko_sandbox):
    attachment, location = _location(cliniko_sandbox, "file_unicode")
    response = requests.get(location, timeout=10)
    assert response.status_code == 200
    record = cliniko_sandbox.get(f"patient_attachments/{attachment}").json()
    expected = files.content(42, int(attachment), record["size"], record["content_type"])
    assert response.content == expected and response.content.startswith(b"%PDF")
    assert response.headers["Content-Type"] == "application/pdf"
    assert int(response.headers["Content-Length"]) == record["size"]
    info = cliniko_sandbox.admin("GET", f"attachments/{attachment}")
    assert info["sha256"] == hashlib.sha256(expected).hexdigest()
    assert cliniko_sandbox.admin("GET", "storage")["downloads"] == 1


def test_requests_following_the_redirect_does_not_leak_the_key(cliniko_sandbox):
    attachment = cliniko_sandbox.edge("file_emoji")
    response = cliniko_sandbox.session().get(f"{cliniko_sandbox.base_url}/patient_attachments/{attachment}/content",
                                             timeout=10)
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert cliniko_sandbox.admin("GET", "storage")["auth_leaks"] == 0


def test_authorization_header_at_the_bucket_is_refused_and_counted(cliniko_sandbox):
    _, location = _location(cliniko_sandbox, "file_spaces")
    leaked = requests.get(location, auth=(cliniko_sandbox.api_key, ""), timeout=10)
    assert leaked.status_code == 400
    assert leaked.headers["Content-Type"].startswith("application/xml")
    assert "<Code>InvalidArgument</Code>" in leaked.text
    report = cliniko_sandbox.admin("GET", "storage")
    assert report["auth_leaks"] == 1 and report["downloads"] == 0
    assert report["leaks"][0]["path"].startswith("/_storage/")
    assert cliniko_sandbox.api_key not in str(report)


def test_bucket_rejects_bad_missing_and_expired_signatures(cliniko_sandbox):
    attachment, location = _location(cliniko_sandbox, "file_spaces")
    tampered = location[:-4] + ("0000" if not location.endswith("0000") else "1111")
    assert requests.get(tampered, timeout=10).status_code == 403
    other = cliniko_sandbox.edge("file_dotfile")
    moved = location.replace(f"/_storage/{attachment}/", f"/_storage/{other}/")
    assert "SignatureDoesNotMatch" in requests.get(moved, timeout=10).text
    assert requests.get(location.split("?")[0], timeout=10).status_code == 403
    old = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
    path = urlsplit(location).path
    signature = cliniko_sandbox.app.storage._sign(path, old, "600")
    expired = f"{location.split('?')[0]}?X-Amz-Date={old}&X-Amz-Expires=600&X-Amz-Signature={signature}"
    answer = requests.get(expired, timeout=10)
    assert answer.status_code == 403 and "expired" in answer.text
    assert cliniko_sandbox.admin("GET", "storage")["bad_signatures"] == 3


def test_content_route_needs_cliniko_auth_and_a_processed_file(cliniko_sandbox):
    attachment = cliniko_sandbox.edge("file_spaces")
    url = f"{cliniko_sandbox.base_url}/patient_attachments/{attachment}/content"
    assert requests.get(url, allow_redirects=False, timeout=10).status_code == 401
    processing = cliniko_sandbox.edge("file_processing")
    assert cliniko_sandbox.get(f"patient_attachments/{processing}/content", allow_redirects=False).status_code == 404
    assert cliniko_sandbox.get("patient_attachments/123/content", allow_redirects=False).status_code == 404


def test_big_file_is_streamed_with_its_length_and_never_stored(cliniko_sandbox):
    attachment, location = _location(cliniko_sandbox, "file_big_streamed")
    record = cliniko_sandbox.get(f"patient_attachments/{attachment}").json()
    assert record["size"] > 50 * 1024 * 1024
    assert cliniko_sandbox.app.state.store.get_blob(attachment) is None
    largest = cliniko_sandbox.app.state.store.execute("SELECT MAX(LENGTH(data)) FROM blobs")[0][0]
    assert largest < 1_000_000
    head = requests.head(location, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == record["size"]
    digest, received = hashlib.sha256(), 0
    with requests.get(location, stream=True, timeout=60) as response:
        assert int(response.headers["Content-Length"]) == record["size"]
        for chunk in response.iter_content(1 << 20):
            digest.update(chunk)
            received += len(chunk)
    assert received == record["size"]
    assert digest.hexdigest() == cliniko_sandbox.admin("GET", f"attachments/{attachment}")["sha256"]


def test_odd_file_names_are_safe_in_urls_and_headers(cliniko_sandbox):
    for key in ("file_path_traversal", "file_backslash_traversal", "file_quotes_semicolons", "file_unicode"):
        attachment, location = _location(cliniko_sandbox, key)
        path = urlsplit(location).path
        assert path.count("/") == 3 and "/../" not in path  # /_storage/<id>/<one encoded segment>
        response = requests.get(location, timeout=10)
        assert response.status_code == 200
        disposition = response.headers["Content-Disposition"]
        record = cliniko_sandbox.get(f"patient_attachments/{attachment}").json()
        assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == record["filename"]
        ascii_part = disposition.split('filename="', 1)[1].split('";', 1)[0]
        assert '"' not in ascii_part and "\\" not in ascii_part and "\n" not in disposition


def test_empty_file_downloads_as_zero_bytes(cliniko_sandbox):
    _, location = _location(cliniko_sandbox, "file_empty")
    response = requests.get(location, timeout=10)
    assert response.status_code == 200 and response.content == b""
    assert response.headers["Content-Length"] == "0"
