"""v2 activities and products: CRUD round trips, references, time formats, prices."""

from __future__ import annotations

import pytest


@pytest.fixture
def person(pipedrive_sandbox):
    return pipedrive_sandbox.request("POST", "/api/v2/persons", json={"name": "Pat Ient"}).json()["data"]


def test_activity_crud_round_trip(pipedrive_sandbox, person):
    sb = pipedrive_sandbox
    resp = sb.request("POST", "/api/v2/activities", json={
        "subject": "Initial consult", "type": "meeting", "owner_id": 2, "due_date": "2024-03-05",
        "due_time": "23:30", "duration": "01:15", "participants": [{"person_id": person["id"], "primary": True}],
        "done": True, "note": "<b>Room 2</b>", "public_description": "[src:appt-77]"})
    assert resp.status_code == 200, resp.text
    act = resp.json()["data"]
    assert act["due_time"] == "23:30:00" and act["duration"] == "01:15:00"
    assert act["person_id"] == person["id"] and act["busy"] is True
    assert act["marked_as_done_time"] is not None and act["creator_user_id"] == 1 and act["owner_id"] == 2
    assert "attendees" not in act
    assert sb.request("GET", f"/api/v2/activities/{act['id']}").json()["data"] == act
    patched = sb.request("PATCH", f"/api/v2/activities/{act['id']}", json={"done": False, "due_time": None}).json()
    assert patched["data"]["done"] is False and patched["data"]["marked_as_done_time"] is None
    assert patched["data"]["due_time"] is None
    listed = sb.request("GET", "/api/v2/activities", params={"person_id": person["id"]}).json()["data"]
    assert [a["id"] for a in listed] == [act["id"]]
    assert sb.request("GET", "/api/v2/activities", params={"done": "true"}).json()["data"] == []
    assert sb.request("DELETE", f"/api/v2/activities/{act['id']}").json()["data"] == {"id": act["id"]}
    assert sb.request("GET", "/api/v2/activities").json()["data"] == []


def test_activity_defaults_and_person_id(pipedrive_sandbox, person):
    sb = pipedrive_sandbox
    act = sb.request("POST", "/api/v2/activities", json={"person_id": person["id"], "due_date": "2024-01-01"}).json()
    assert act["data"]["type"] == "call" and act["data"]["subject"] == "Call"
    assert act["data"]["participants"] == [{"person_id": person["id"], "primary": True}]
    assert act["data"]["busy"] is False and act["data"]["owner_id"] == 1


@pytest.mark.parametrize("body, fragment", [
    ({"type": "appointment"}, "type: Activity type 'appointment' does not exist"),
    ({"due_time": "25:00"}, "due_time: This value is not a valid datetime"),
    ({"due_time": "9am"}, "due_time: This value is not a valid datetime"),
    ({"due_date": "2024-13-01"}, "due_date"),
    ({"done": 1}, "done: Parameter 'done' must be a boolean"),
    ({"participants": [{"person_id": 999}]}, "Person 999 does not exist"),
    ({"deal_id": 4}, "deal_id: Deal 4 does not exist"),
    ({"add_time": "2020-01-01T00:00:00Z"}, "add_time: Parameter 'add_time' is not allowed"),
    ({"user_id": 1}, "user_id: Parameter 'user_id' is not allowed"),
])
def test_activity_validation(pipedrive_sandbox, body, fragment):
    resp = pipedrive_sandbox.request("POST", "/api/v2/activities", json={"subject": "x", **body})
    assert resp.status_code == 400
    assert fragment in resp.json()["error"]


def test_product_crud_round_trip(pipedrive_sandbox):
    sb = pipedrive_sandbox
    resp = sb.request("POST", "/api/v2/products", json={
        "name": "Standard consult", "code": "CONS-30", "unit": "session", "tax": 10,
        "prices": [{"currency": "AUD", "price": 95.0, "cost": 0}, {"currency": "NZD", "price": 105}]})
    assert resp.status_code == 201, resp.text
    product = resp.json()["data"]
    assert [p["currency"] for p in product["prices"]] == ["AUD", "NZD"]
    assert all(p["product_id"] == product["id"] for p in product["prices"])
    assert sb.request("GET", f"/api/v2/products/{product['id']}").json()["data"] == product
    resp = sb.request("PATCH", f"/api/v2/products/{product['id']}", json={"prices": [{"currency": "AUD",
                                                                                      "price": 99}]})
    assert resp.status_code == 200
    assert [(p["currency"], p["price"]) for p in resp.json()["data"]["prices"]] == [("AUD", 99)]
    assert sb.request("DELETE", f"/api/v2/products/{product['id']}").status_code == 200
    assert sb.request("GET", "/api/v2/products").json()["data"] == []


def test_product_default_price_and_validation(pipedrive_sandbox):
    sb = pipedrive_sandbox
    product = sb.request("POST", "/api/v2/products", json={"name": "Gift card"}).json()["data"]
    assert product["prices"] == [{"product_id": product["id"], "price": 0, "currency": "AUD", "cost": 0,
                                  "direct_cost": None, "notes": ""}]
    for body, fragment in (({}, "name: Parameter 'name' is required"),
                           ({"name": " "}, "must not be empty"),
                           ({"name": "X", "prices": [{"currency": "AUD", "price": 1}, {"currency": "AUD",
                                                                                       "price": 2}]},
                            "Only one price per currency"),
                           ({"name": "X", "prices": [{"currency": "AUD", "price": "1"}]}, "must be a number"),
                           ({"name": "X", "tax": "10"}, "tax: Parameter 'tax' must be a number"),
                           ({"name": "X", "is_linkable": "true"}, "must be a boolean"),
                           ({"name": "X", "billing_frequency": "weekly"}, "billing_frequency_cycles"),
                           ({"name": "X", "selectable": True}, "selectable: Parameter 'selectable' is not allowed")):
        resp = sb.request("POST", "/api/v2/products", json=body)
        assert resp.status_code == 400, body
        assert fragment in resp.json()["error"], body
