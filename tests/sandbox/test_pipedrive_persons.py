"""v2 persons: CRUD round trip, contact arrays, soft delete, cursor pagination, list filters."""

from __future__ import annotations

import pytest


def create(sb, **body):
    resp = sb.request("POST", "/api/v2/persons", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_crud_round_trip(pipedrive_sandbox):
    sb = pipedrive_sandbox
    person = create(sb, name="Jane Citizen", emails=[{"value": "jane@example.com", "label": "home"},
                                                     {"value": "j.c@work.example", "primary": True}],
                    phones=[{"value": "+61 400 000 000"}], add_time="2019-05-01T10:00:00Z", visible_to=7,
                    birthday="1980-02-29", postal_address={"value": "1 Main St, Sydney", "locality": "Sydney"})
    assert person["first_name"] == "Jane" and person["last_name"] == "Citizen"
    assert person["emails"] == [{"value": "jane@example.com", "primary": False, "label": "home"},
                                {"value": "j.c@work.example", "primary": True, "label": "work"}]
    assert person["phones"] == [{"value": "+61 400 000 000", "primary": True, "label": "work"}]
    assert person["add_time"] == "2019-05-01T10:00:00Z"
    assert person["owner_id"] == 1 and person["is_deleted"] is False
    assert person["postal_address"]["locality"] == "Sydney" and person["postal_address"]["country"] is None

    got = sb.request("GET", f"/api/v2/persons/{person['id']}").json()["data"]
    assert got == person

    resp = sb.request("PATCH", f"/api/v2/persons/{person['id']}",
                      json={"name": "Jane Q Citizen", "emails": [{"value": "new@example.com"}], "owner_id": 2})
    assert resp.status_code == 200, resp.text
    updated = resp.json()["data"]
    assert updated["emails"] == [{"value": "new@example.com", "primary": True, "label": "work"}]  # replaced whole
    assert updated["first_name"] == "Jane" and updated["last_name"] == "Q Citizen"
    assert updated["owner_id"] == 2 and updated["add_time"] == "2019-05-01T10:00:00Z"
    assert sb.request("GET", f"/api/v2/persons/{person['id']}").json()["data"] == updated

    resp = sb.request("DELETE", f"/api/v2/persons/{person['id']}")
    assert resp.status_code == 200 and resp.json() == {"success": True, "data": {"id": person["id"]}}


def test_first_and_last_name_instead_of_name(pipedrive_sandbox):
    person = create(pipedrive_sandbox, first_name="Ann", last_name="Lee")
    assert person["name"] == "Ann Lee"


@pytest.mark.parametrize("body, fragment", [
    ({}, "name: Parameter 'name' is required"),
    ({"name": ""}, "name: Parameter 'name' must not be empty"),
    ({"name": "X", "emails": [{"value": "a@b.c", "primary": True}, {"value": "d@e.f", "primary": True}]},
     "emails: Only one item can be primary"),
    ({"name": "X", "emails": ["a@b.c"]}, "emails[0]: Parameter 'emails[0]' must be an object"),
    ({"name": "X", "emails": [{"label": "work"}]}, "emails[0].value: Parameter 'emails[0].value' is required"),
    ({"name": "X", "owner_id": 999}, "owner_id: User 999 does not exist"),
    ({"name": "X", "org_id": 5}, "org_id: Organization 5 does not exist"),
    ({"name": "X", "visible_to": 2}, "visible_to: Parameter 'visible_to' must be one of 1, 3, 5, 7"),
    ({"name": "X", "add_time": "2019-05-01 10:00:00"}, "add_time: This value is not a valid datetime"),
    ({"name": "X", "birthday": "31/12/2000"}, "birthday: Parameter 'birthday' must be a date"),
    ({"name": "X", "picture_id": 3}, "picture_id: Parameter 'picture_id' is not allowed for this request"),
    ({"name": 5}, "name: Parameter 'name' must be a string"),
])
def test_create_rejects_bad_bodies(pipedrive_sandbox, body, fragment):
    resp = pipedrive_sandbox.request("POST", "/api/v2/persons", json=body)
    assert resp.status_code == 400
    payload = resp.json()
    assert payload["success"] is False and payload["code"] == "ERR_SCHEMA_VALIDATION_FAILED"
    assert payload["error"].startswith("Validation failed: ")
    assert fragment in payload["error"]
    assert pipedrive_sandbox.admin("GET", "objects/persons")["count"] == 0


def test_patch_rejects_add_time_and_bad_json(pipedrive_sandbox):
    sb = pipedrive_sandbox
    person = create(sb, name="A B")
    resp = sb.request("PATCH", f"/api/v2/persons/{person['id']}", json={"add_time": "2020-01-01T00:00:00Z"})
    assert resp.status_code == 400 and "add_time" in resp.json()["error"]
    resp = sb.request("PATCH", f"/api/v2/persons/{person['id']}", data="{not json",
                      headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["code"] == "ERR_SCHEMA_VALIDATION_FAILED"
    resp = sb.request("POST", "/api/v2/persons", data={"name": "Form Post"})
    assert resp.status_code == 415
    assert sb.request("GET", "/api/v2/persons/abc").status_code == 400
    assert sb.request("GET", "/api/v2/persons/999").json() == {
        "success": False, "error": "Entity was not found", "error_info": "Object was not found.", "data": None,
        "additional_data": None}


def test_soft_delete_hides_from_lists_but_keeps_the_record(pipedrive_sandbox):
    sb = pipedrive_sandbox
    keep, gone = create(sb, name="Keep Me"), create(sb, name="Delete Me")
    assert sb.request("DELETE", f"/api/v2/persons/{gone['id']}").status_code == 200
    listed = sb.request("GET", "/api/v2/persons").json()["data"]
    assert [p["id"] for p in listed] == [keep["id"]]
    got = sb.request("GET", f"/api/v2/persons/{gone['id']}").json()["data"]
    assert got["is_deleted"] is True
    assert sb.request("PATCH", f"/api/v2/persons/{gone['id']}", json={"name": "Back"}).status_code == 404
    assert sb.request("DELETE", f"/api/v2/persons/{gone['id']}").status_code == 404
    stored = sb.admin("GET", "objects/persons")["data"]
    assert [p["is_deleted"] for p in stored] == [False, True]
    sb.admin("POST", "config", {"deleted_get_status": 404})
    assert sb.request("GET", f"/api/v2/persons/{gone['id']}").status_code == 404


def test_cursor_pagination_reaches_the_end(pipedrive_sandbox):
    sb = pipedrive_sandbox
    ids = [create(sb, name=f"Patient {i:03d}")["id"] for i in range(23)]
    sb.request("DELETE", f"/api/v2/persons/{ids[5]}")
    expected = [i for i in ids if i != ids[5]]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        body = sb.request("GET", "/api/v2/persons", params=params).json()
        seen += [p["id"] for p in body["data"]]
        cursor = body["additional_data"]["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert seen == expected and pages == 5
    desc = sb.request("GET", "/api/v2/persons", params={"sort_direction": "desc", "limit": 500}).json()
    assert [p["id"] for p in desc["data"]] == expected[::-1]
    assert desc["additional_data"]["next_cursor"] is None


def test_cursor_pagination_by_update_time_is_stable(pipedrive_sandbox):
    sb = pipedrive_sandbox
    for i in range(7):
        create(sb, name=f"P {i}")
    seen, cursor = [], None
    while True:
        params = {"limit": 3, "sort_by": "update_time", **({"cursor": cursor} if cursor else {})}
        body = sb.request("GET", "/api/v2/persons", params=params).json()
        seen += [p["id"] for p in body["data"]]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == list(range(1, 8)) and len(seen) == 7


@pytest.mark.parametrize("params, fragment", [
    ({"limit": 501}, "limit: Parameter 'limit' must be <= 500"),
    ({"limit": "ten"}, "limit: Parameter 'limit' must be an integer"),
    ({"cursor": "%%%"}, "cursor"),
    ({"sort_by": "name"}, "sort_by"),
    ({"updated_since": "2024-01-01T00:00:00.123Z"}, "updated_since"),
    ({"ids": "1,x"}, "ids"),
    ({"include_option_labels": "1"}, "include_option_labels"),
])
def test_list_rejects_bad_parameters(pipedrive_sandbox, params, fragment):
    resp = pipedrive_sandbox.request("GET", "/api/v2/persons", params=params)
    assert resp.status_code == 400
    assert fragment in resp.json()["error"]


def test_list_filters(pipedrive_sandbox):
    sb = pipedrive_sandbox
    a = create(sb, name="A A")
    b = create(sb, name="B B", owner_id=3)
    assert [p["id"] for p in sb.request("GET", "/api/v2/persons", params={"owner_id": 3}).json()["data"]] == [b["id"]]
    assert [p["id"] for p in sb.request("GET", "/api/v2/persons",
                                        params={"ids": f"{a['id']},999"}).json()["data"]] == [a["id"]]
    since = sb.request("GET", "/api/v2/persons", params={"updated_since": "2100-01-01T00:00:00Z"}).json()
    assert since["data"] == []
    assert len(sb.request("GET", "/api/v2/persons", params={"updated_since": a["update_time"]}).json()["data"]) == 2
