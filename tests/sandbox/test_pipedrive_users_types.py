"""v1 users (list, find by email, me) and activity types (CRUD, key_string, deactivation)."""

from __future__ import annotations


def test_seeded_users_and_find_by_email(pipedrive_sandbox):
    sb = pipedrive_sandbox
    users = sb.request("GET", "/api/v1/users").json()["data"]
    assert len(users) == 4 and sum(u["is_you"] for u in users) == 1 and users[0]["is_you"]
    assert all(u["email"] and u["active_flag"] for u in users)
    found = sb.request("GET", "/api/v1/users/find", params={"term": "SAM.TAYLOR@sandbox-clinic.example",
                                                            "search_by_email": 1}).json()["data"]
    assert [u["name"] for u in found] == ["Sam Taylor"]
    assert sb.request("GET", "/api/v1/users/find", params={"term": "nobody@nowhere.example",
                                                           "search_by_email": 1}).json()["data"] is None
    # without search_by_email only names match
    assert sb.request("GET", "/api/v1/users/find", params={"term": "sam.taylor@"}).json()["data"] is None
    assert sb.request("GET", "/api/v1/users/find", params={"term": "jordan"}).json()["data"][0]["id"] == 3
    assert sb.request("GET", "/api/v1/users/find").status_code == 400
    me = sb.request("GET", "/api/v1/users/me").json()["data"]
    assert me["id"] == 1 and me["company_id"] and me["company_domain"] == "sandbox-clinic"
    assert sb.request("GET", "/api/v1/users/99").status_code == 404


def test_admin_added_user_is_findable(pipedrive_sandbox):
    sb = pipedrive_sandbox
    user = sb.admin("POST", "users", {"name": "Dr Who", "email": "who@clinic.example"})
    found = sb.request("GET", "/api/v1/users/find", params={"term": "who@clinic.example", "search_by_email": 1})
    assert found.json()["data"][0]["id"] == user["id"]
    added = sb.request("POST", "/api/v1/users", json={"email": "new.person@clinic.example"}).json()["data"]
    assert added["name"] == "New Person" and added["active_flag"] is True
    assert sb.request("POST", "/api/v1/users", json={"email": "who@clinic.example"}).status_code == 400


def test_activity_types_crud(pipedrive_sandbox):
    sb = pipedrive_sandbox
    types = sb.request("GET", "/api/v1/activityTypes").json()["data"]
    assert [t["key_string"] for t in types] == ["call", "meeting", "task", "deadline", "email", "lunch"]
    resp = sb.request("POST", "/api/v1/activityTypes", json={"name": "Initial Consult (60 min)", "icon_key": "meeting",
                                                             "color": "FFAA00"})
    assert resp.status_code == 200, resp.text
    new = resp.json()["data"]
    assert new["key_string"] == "initial_consult_60_min" and new["is_custom_flag"] is True
    again = sb.request("POST", "/api/v1/activityTypes", json={"name": "Initial consult 60 min",
                                                              "icon_key": "call"}).json()["data"]
    assert again["key_string"] == "initial_consult_60_min_2"
    person = sb.request("POST", "/api/v2/persons", json={"name": "P Q"}).json()["data"]
    act = sb.request("POST", "/api/v2/activities", json={"type": new["key_string"], "person_id": person["id"]})
    assert act.status_code == 200 and act.json()["data"]["subject"] == "Initial Consult (60 min)"
    renamed = sb.request("PUT", f"/api/v1/activityTypes/{new['id']}", json={"name": "First consult"}).json()["data"]
    assert renamed["name"] == "First consult" and renamed["key_string"] == new["key_string"]
    deleted = sb.request("DELETE", f"/api/v1/activityTypes/{new['id']}").json()["data"]
    assert deleted["active_flag"] is False
    listed = {t["id"]: t for t in sb.request("GET", "/api/v1/activityTypes").json()["data"]}
    assert listed[new["id"]]["active_flag"] is False  # still listed, inactive
    assert sb.request("POST", "/api/v2/activities", json={"type": new["key_string"]}).status_code == 400
    assert sb.request("PUT", f"/api/v1/activityTypes/{new['id']}", json={"name": "x"}).status_code == 404


def test_activity_type_validation(pipedrive_sandbox):
    sb = pipedrive_sandbox
    for body in ({"name": "X"}, {"icon_key": "call"}, {"name": "X", "icon_key": "stethoscope"},
                 {"name": "X", "icon_key": "call", "color": "red"}):
        resp = sb.request("POST", "/api/v1/activityTypes", json=body)
        assert resp.status_code == 400 and resp.json()["success"] is False, body
    sb.admin("POST", "users", {"name": "Staff", "email": "staff@x.example", "api_token": "staff-token"})
    resp = sb.request("POST", "/api/v1/activityTypes", json={"name": "X", "icon_key": "call"},
                      headers={"x-api-token": "staff-token"})
    assert resp.status_code == 403
