"""v1 notes and files on persons: CRUD, settable add_time, sanitising, multipart upload and
byte-exact download, listing, limits, and the v1 error bodies."""

from __future__ import annotations

import hashlib
import os

import pytest


@pytest.fixture
def person(pipedrive_sandbox):
    return pipedrive_sandbox.request("POST", "/api/v2/persons", json={"name": "Pat Ient"}).json()["data"]


def test_note_crud_round_trip(pipedrive_sandbox, person):
    sb = pipedrive_sandbox
    resp = sb.request("POST", "/api/v1/notes", json={
        "content": "<p>Treatment note</p><script>alert(1)</script><a href=\"javascript:x()\" onclick=\"y()\">z</a>",
        "person_id": person["id"], "add_time": "2019-03-04 05:06:07", "user_id": 2, "pinned_to_person_flag": 1})
    assert resp.status_code == 200, resp.text
    note = resp.json()["data"]
    assert note["content"] == '<p>Treatment note</p><a href="#">z</a>'
    assert note["add_time"] == "2019-03-04 05:06:07" and note["user_id"] == 2
    assert note["person"] == {"name": "Pat Ient"} and note["pinned_to_person_flag"] is True
    assert note["user"]["email"] == "sam.taylor@sandbox-clinic.example" and note["user"]["is_you"] is False
    assert sb.request("GET", f"/api/v1/notes/{note['id']}").json()["data"] == note
    updated = sb.request("PUT", f"/v1/notes/{note['id']}", json={"content": "Edited"}).json()["data"]
    assert updated["content"] == "Edited" and updated["add_time"] == "2019-03-04 05:06:07"
    listed = sb.request("GET", "/api/v1/notes", params={"person_id": person["id"]}).json()
    assert [n["id"] for n in listed["data"]] == [note["id"]]
    assert listed["additional_data"]["pagination"] == {"start": 0, "limit": 100, "more_items_in_collection": False}
    assert sb.request("DELETE", f"/api/v1/notes/{note['id']}").json() == {"success": True, "data": True}
    assert sb.request("GET", f"/api/v1/notes/{note['id']}").status_code == 404
    empty = sb.request("GET", "/api/v1/notes", params={"person_id": person["id"]}).json()
    assert empty["data"] is None  # v1 answers null, not [], for an empty collection
    stored = sb.admin("GET", f"objects/notes/{note['id']}")
    assert stored["active_flag"] is False


def test_note_form_encoded_and_paging(pipedrive_sandbox, person):
    sb = pipedrive_sandbox
    for i in range(5):
        resp = sb.request("POST", "/v1/notes", data={"content": f"n{i}", "person_id": str(person["id"])})
        assert resp.status_code == 200
    page = sb.request("GET", "/api/v1/notes", params={"start": 2, "limit": 2, "sort": "id DESC"}).json()
    assert [n["content"] for n in page["data"]] == ["n2", "n1"]
    assert page["additional_data"]["pagination"]["next_start"] == 4


@pytest.mark.parametrize("body, status, message", [
    ({"content": "x"}, 400, "One of deal_id"),
    ({"content": "", "person_id": 1}, 400, "content is required"),
    ({"content": "<script>x</script>", "person_id": 1}, 400, "content is required"),
    ({"content": "x", "person_id": 999}, 404, "Person not found"),
    ({"content": "x", "deal_id": 3}, 404, "Deal not found"),
    ({"content": "x", "person_id": 1, "add_time": "2019-03-04T05:06:07Z"}, 400, "add_time"),
    ({"content": "x", "person_id": 1, "user_id": 99}, 404, "User not found"),
    ({"content": "x", "person_id": "abc"}, 400, "person_id must be an integer"),
])
def test_note_errors(pipedrive_sandbox, person, body, status, message):
    resp = pipedrive_sandbox.request("POST", "/api/v1/notes", json=body)
    assert resp.status_code == status
    payload = resp.json()
    assert payload["success"] is False and message in payload["error"]
    assert payload["error_info"].startswith("Please check developers.pipedrive.com")
    assert payload["data"] is None and payload["additional_data"] is None


def test_only_admins_change_the_author(pipedrive_sandbox_factory):
    sb = pipedrive_sandbox_factory()
    sb.admin("POST", "users", {"name": "Not Admin", "email": "na@x.example", "api_token": "na-token"})
    person = sb.request("POST", "/api/v2/persons", json={"name": "P Q"}).json()["data"]
    resp = sb.request("POST", "/api/v1/notes", json={"content": "x", "person_id": person["id"], "user_id": 1},
                      headers={"x-api-token": "na-token"})
    assert resp.status_code == 403


def test_file_upload_and_byte_exact_download(pipedrive_sandbox, person):
    sb = pipedrive_sandbox
    payload = os.urandom(200_000) + b"\r\n--boundary-lookalike\r\n"
    resp = sb.request("POST", "/api/v1/files", files={"file": ("scan 01.PDF", payload, "application/pdf")},
                      data={"person_id": str(person["id"])})
    assert resp.status_code == 200, resp.text
    meta = resp.json()["data"]
    assert meta["name"] == "scan 01.PDF" and meta["file_name"] != meta["name"]
    assert meta["file_size"] == len(payload) and meta["file_type"] == "pdf" and meta["person_id"] == person["id"]
    assert meta["url"].endswith(f"/v1/files/{meta['id']}/download")
    down = sb.request("GET", f"/api/v1/files/{meta['id']}/download")
    assert down.status_code == 200 and down.content == payload
    assert hashlib.sha256(down.content).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert down.headers["Content-Type"] == "application/octet-stream"
    assert down.headers["Content-Disposition"] == "attachment; filename=\"scan 01.PDF\"; filename*=UTF-8''scan%2001.PDF"
    assert sb.request("GET", f"/v1/files/{meta['id']}").json()["data"] == meta
    assert [f["id"] for f in sb.request("GET", f"/api/v1/persons/{person['id']}/files").json()["data"]] == [meta["id"]]
    renamed = sb.request("PUT", f"/api/v1/files/{meta['id']}", json={"name": "Referral.pdf", "description": "GP"})
    assert renamed.json()["data"]["name"] == "Referral.pdf"
    assert sb.request("DELETE", f"/api/v1/files/{meta['id']}").json() == {"success": True, "data": {"id": meta["id"]}}
    assert sb.request("GET", f"/api/v1/files/{meta['id']}/download").status_code == 404
    assert sb.request("GET", "/api/v1/files").json()["data"] is None
    snap = sb.admin("GET", "snapshot")
    assert snap["blobs"][f"file:{meta['id']}"]["sha256"] == hashlib.sha256(payload).hexdigest()


def test_a_file_named_beyond_latin_1_downloads_with_its_name(pipedrive_sandbox, person):
    """Headers are Latin-1: the name goes in `filename*` (UTF-8), an ASCII stand-in in `filename`."""
    sb = pipedrive_sandbox
    name = "Referral \u2013 Dr M\u00fcller.pdf"
    meta = sb.request("POST", "/api/v1/files", files={"file": (name, b"%PDF-1.4", "application/pdf")},
                      data={"person_id": str(person["id"])}).json()["data"]
    assert meta["name"] == name
    down = sb.request("GET", f"/api/v1/files/{meta['id']}/download")
    assert down.status_code == 200 and down.content == b"%PDF-1.4"
    assert down.headers["Content-Disposition"] == (
        "attachment; filename=\"Referral _ Dr M_ller.pdf\"; "
        "filename*=UTF-8''Referral%20%E2%80%93%20Dr%20M%C3%BCller.pdf")


def test_file_upload_errors(pipedrive_sandbox, person):
    sb = pipedrive_sandbox
    no_link = sb.request("POST", "/api/v1/files", files={"file": ("a.txt", b"hi")})
    assert no_link.status_code == 400
    no_file = sb.request("POST", "/api/v1/files", files={"other": ("a.txt", b"hi")}, data={"person_id": "1"})
    assert no_file.status_code == 400
    json_body = sb.request("POST", "/api/v1/files", json={"person_id": person["id"]})
    assert json_body.status_code == 400
    missing = sb.request("POST", "/api/v1/files", files={"file": ("a.txt", b"hi")}, data={"person_id": "999"})
    assert missing.status_code == 404
    sb.admin("POST", "config", {"max_upload_bytes": 1000})
    big = sb.request("POST", "/api/v1/files", files={"file": ("big.bin", b"x" * 1001)},
                     data={"person_id": str(person["id"])})
    assert big.status_code == 413 and "too large" in big.json()["error"]
    assert sb.admin("GET", "objects/files")["count"] == 0


def test_file_listing_pages_at_most_100(pipedrive_sandbox, person):
    sb = pipedrive_sandbox
    for i in range(3):
        sb.request("POST", "/api/v1/files", files={"file": (f"f{i}.txt", b"x")}, data={"person_id": str(person["id"])})
    page = sb.request("GET", "/api/v1/files", params={"limit": 1000}).json()
    assert page["additional_data"]["pagination"]["limit"] == 100 and len(page["data"]) == 3
