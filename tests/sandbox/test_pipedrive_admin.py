"""Admin endpoints: canonical snapshots for before/after diffs, stored objects including soft-deleted
ones, out-of-band edits, config, users, reset, and SQLite persistence across restarts."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from sandbox.common.store import DocStore
from sandbox.pipedrive.app import PipedriveApp


def raw_snapshot(sb, query=""):
    resp = requests.get(sb.url + "/_admin/snapshot" + query, timeout=10)
    assert resp.status_code == 200
    return resp.content


def test_snapshot_is_canonical_and_stable(pipedrive_sandbox_factory):
    one = pipedrive_sandbox_factory(seed_value="fixed")
    two = pipedrive_sandbox_factory(seed_value="fixed")
    first = raw_snapshot(one)
    assert first == raw_snapshot(one)
    assert first == raw_snapshot(two)  # two fresh accounts with the same seed are identical
    assert first == json.dumps(json.loads(first), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
    snap = json.loads(first)
    assert set(snap["objects"]) == {"person", "activity", "product", "note", "file", "user", "activity_type",
                                    "field"}
    assert len(snap["objects"]["user"]) == 4 and len(snap["objects"]["activity_type"]) == 6
    assert not any(f["is_custom"] for f in snap["objects"]["field"])
    assert snap["objects"]["person"] == [] and snap["blobs"] == {}


def test_snapshot_diff_after_migration_and_rollback(pipedrive_sandbox):
    sb = pipedrive_sandbox
    before = sb.admin("GET", "snapshot?deleted=0&omit=update_time")
    person = sb.request("POST", "/api/v2/persons", json={"name": "Temp"}).json()["data"]
    note = sb.request("POST", "/api/v1/notes", json={"content": "x", "person_id": person["id"]}).json()["data"]
    upload = sb.request("POST", "/api/v1/files", files={"file": ("a.txt", b"abc")},
                        data={"person_id": str(person["id"])}).json()["data"]
    during = sb.admin("GET", "snapshot?deleted=0&omit=update_time")
    assert len(during["objects"]["person"]) == 1 and len(during["objects"]["note"]) == 1
    assert list(during["blobs"]) == [f"file:{upload['id']}"]
    sb.request("DELETE", f"/api/v1/files/{upload['id']}")
    sb.request("DELETE", f"/api/v1/notes/{note['id']}")
    sb.request("DELETE", f"/api/v2/persons/{person['id']}")
    assert sb.admin("GET", "snapshot?deleted=0&omit=update_time") == before
    full = sb.admin("GET", "snapshot")
    assert full != before and full["objects"]["person"][0]["is_deleted"] is True


def test_objects_include_soft_deleted_and_patch_behind_the_back(pipedrive_sandbox):
    sb = pipedrive_sandbox
    key = sb.request("POST", "/api/v1/personFields", json={"name": "Cliniko ID", "field_type": "varchar"})
    key = key.json()["data"]["key"]
    person = sb.request("POST", "/api/v2/persons", json={"name": "A B", "custom_fields": {key: "CLN-1"}}).json()
    pid = person["data"]["id"]
    other = sb.request("POST", "/api/v2/persons", json={"name": "C D"}).json()["data"]
    sb.request("DELETE", f"/api/v2/persons/{other['id']}")
    stored = sb.admin("GET", "objects/persons")
    assert stored["kind"] == "person" and stored["count"] == 2
    assert [p["is_deleted"] for p in stored["data"]] == [False, True]
    changed = sb.admin("PATCH", f"objects/persons/{pid}", {"name": "Changed Elsewhere", "custom_fields": {key: "X"}})
    assert changed["name"] == "Changed Elsewhere" and changed["update_time"] >= person["data"]["update_time"]
    got = sb.request("GET", f"/api/v2/persons/{pid}").json()["data"]
    assert got["name"] == "Changed Elsewhere" and got["custom_fields"][key] == "X"
    kept = sb.admin("PATCH", f"objects/persons/{pid}", {"update_time": "2000-01-01T00:00:00Z"})
    assert kept["update_time"] == "2000-01-01T00:00:00Z"
    assert sb.admin("GET", "objects/activity_types")["count"] == 6
    for bad in ("objects/nothing", f"objects/persons/{pid + 100}"):
        with pytest.raises(AssertionError, match="404"):
            sb.admin("GET", bad)
    with pytest.raises(AssertionError, match="400"):
        sb.admin("PATCH", f"objects/persons/{pid}", {"id": 77})


def test_config_and_reset(pipedrive_sandbox):
    sb = pipedrive_sandbox
    config = sb.admin("POST", "config", {"plan": "lite"})
    assert config["burst_limit"] == 20 and config["daily_budget"] == 30_000
    config = sb.admin("POST", "config", {"burst_limit": 7, "daily_budget": 100})
    assert sb.request("GET", "/api/v1/users/me").headers["x-ratelimit-limit"] == "7"
    for bad in ({"plan": "enterprise-plus"}, {"burst_limit": -1}, {"bogus": 1}, {"burst_limit": "many"},
                {"plan": "ultimate", "deleted_get_status": 500}):
        with pytest.raises(AssertionError, match="400"):
            sb.admin("POST", "config", bad)
    assert sb.admin("GET", "config")["plan"] == "lite"  # a refused change changes nothing
    sb.request("POST", "/api/v2/persons", json={"name": "Gone Soon"})
    account = sb.admin("GET", "account")["account"]
    result = sb.admin("POST", "reset")
    assert result["ok"] is True and result["account"]["seed_value"] == account["seed_value"]
    assert sb.admin("GET", "objects/persons")["count"] == 0
    assert sb.admin("GET", "usage")["tokens_today"] == 0 and sb.admin("GET", "requests")["count"] == 0
    assert sb.request("POST", "/api/v2/persons", json={"name": "New"}).json()["data"]["id"] == 1


def test_sqlite_persistence_across_restarts(tmp_path, pipedrive_sandbox_factory):
    db = tmp_path / "pipedrive.db"
    first = pipedrive_sandbox_factory(db_path=db, seed_value="persist")
    key = first.request("POST", "/api/v1/personFields", json={"name": "Cliniko ID", "field_type": "varchar"})
    key = key.json()["data"]["key"]
    first.request("POST", "/api/v2/persons", json={"name": "Stays", "custom_fields": {key: "CLN-9"}})
    first.request("POST", "/api/v1/files", files={"file": ("a.txt", b"abc")}, data={"person_id": "1"})
    first.close()
    second = pipedrive_sandbox_factory(db_path=db)
    person = second.request("GET", "/api/v2/persons/1").json()["data"]
    assert person["name"] == "Stays" and person["custom_fields"] == {key: "CLN-9"}
    assert second.request("GET", "/api/v1/files/1/download").content == b"abc"
    assert second.request("POST", "/api/v2/persons", json={"name": "Next"}).json()["data"]["id"] == 2
    second.close()
    with pytest.raises(ValueError, match="seed"):
        PipedriveApp(DocStore(db), seed_value="other")


def wait_until(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_hold_freezes_the_api_at_an_exact_request_until_released(pipedrive_sandbox):
    sb = pipedrive_sandbox
    sb.admin("POST", "hold", {"operation": "POST /v2/persons", "after": 1})
    answers: list[int] = []

    def create(name: str) -> None:
        answers.append(sb.request("POST", "/api/v2/persons", json={"name": name}).status_code)

    create("passes")  # the one request let through
    assert answers == [200]
    writers = [threading.Thread(target=create, args=(name,)) for name in ("held", "after")]
    reader = threading.Thread(target=lambda: answers.append(sb.request("GET", "/api/v2/persons").status_code))
    try:
        writers[0].start()
        wait_until(lambda: sb.admin("GET", "hold")["held"] == 1)
        writers[1].start()
        reader.start()  # once holding, every API request waits, whatever its operation
        wait_until(lambda: sb.admin("GET", "hold")["held"] == 3)
        assert sb.admin("GET", "hold")["held_by_operation"] == {"POST /v2/persons": 2, "GET /v2/persons": 1}
        assert answers == [200] and sb.admin("GET", "objects/person")["count"] == 1  # admin stays open
    finally:
        released = sb.admin("DELETE", "hold")
    # the release answers once the held requests are handled: their writes are in the store already
    assert released == {"operation": None, "left": 0, "holding": False, "held": 0, "held_by_operation": {}}
    assert sb.admin("GET", "objects/person")["count"] == 3
    for thread in (*writers, reader):
        thread.join(timeout=30)
    assert sorted(answers) == [200, 200, 200, 200]
    assert sb.request("POST", "/api/v2/persons", json={"name": "free"}).status_code == 200  # disarmed


@pytest.mark.parametrize("body", [{"after": 1}, {"operation": "POST /v2/persons", "after": -1},
                                  {"operation": "POST /v2/persons", "after": "many"}])
def test_hold_refuses_a_malformed_arming(pipedrive_sandbox, body):
    response = requests.post(pipedrive_sandbox.url + "/_admin/hold", json=body, timeout=10)
    assert response.status_code == 400 and response.json()["error"]
    assert pipedrive_sandbox.admin("GET", "hold")["operation"] is None
