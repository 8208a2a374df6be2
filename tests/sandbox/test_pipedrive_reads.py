"""The read endpoints a reporting client lists: note/deal/organization fields, currencies, filters, recents,
and the empty lists of deals, organizations, pipelines and stages - good requests and bad ones."""

from __future__ import annotations

import pytest


def test_note_deal_and_organization_fields_are_served_read_only(pipedrive_sandbox):
    sb = pipedrive_sandbox
    notes = sb.request("GET", "/v1/noteFields").json()
    assert notes["success"] and {"content", "person_id", "user_id", "add_time", "update_time"} <= {
        f["key"] for f in notes["data"]}
    assert notes["additional_data"]["pagination"]["more_items_in_collection"] is False
    deals = sb.request("GET", "/api/v1/dealFields", params={"start": 0, "limit": 10}).json()
    page = deals["additional_data"]["pagination"]
    assert len(deals["data"]) == 10 and page["more_items_in_collection"] and page["next_start"] == 10
    rest = sb.request("GET", "/api/v1/dealFields", params={"start": 10, "limit": 500}).json()["data"]
    everything = deals["data"] + rest
    assert len({f["id"] for f in everything}) == len(everything) and not any(f["edit_flag"] for f in everything)
    status = next(f for f in everything if f["key"] == "status")
    assert [o["label"] for o in status["options"]] == ["Open", "Won", "Lost", "Deleted"]
    assert sb.request("GET", f"/api/v1/dealFields/{status['id']}").json()["data"]["key"] == "status"
    assert sb.request("GET", "/api/v1/dealFields/99999").status_code == 404
    assert sb.request("GET", f"/api/v1/organizationFields/{status['id']}").status_code == 404  # a deal field's id
    org = sb.request("GET", "/api/v2/organizationFields", params={"include_fields": "ui_visibility"}).json()
    assert org["additional_data"]["next_cursor"] is None
    assert {"name", "address", "owner_id"} <= {f["field_code"] for f in org["data"]}
    assert all(f["ui_visibility"] and not f["is_custom_field"] for f in org["data"])
    assert sb.request("GET", "/api/v2/dealFields/title").json()["data"]["field_name"] == "Title"
    assert sb.request("GET", "/api/v2/dealFields/nope").status_code == 404
    # read-only: no writes on kinds the sandbox does not hold, and no routes the specs lack
    assert sb.request("POST", "/api/v1/dealFields", json={"name": "X", "field_type": "varchar"}).status_code == 405
    assert sb.request("PUT", f"/api/v1/dealFields/{status['id']}", json={"name": "X"}).status_code == 405
    assert sb.request("PATCH", "/api/v2/organizationFields/name", json={"field_name": "X"}).status_code == 405
    assert sb.request("POST", "/api/v1/noteFields", json={"name": "X"}).status_code == 405
    assert sb.request("GET", "/api/v2/noteFields").status_code == 404  # v2 has no note fields
    assert sb.request("GET", "/api/v1/noteFields/1").status_code == 404


def test_fixed_fields_are_not_stored(pipedrive_sandbox):
    """Custom field keys derive from the stored field sequence, and old databases are never re-seeded: the
    note, deal and organization definitions must live outside the store."""
    sb = pipedrive_sandbox
    before = sb.admin("GET", "/_admin/objects/field")["data"]
    for path in ("/v1/noteFields", "/v1/dealFields", "/v1/organizationFields", "/api/v2/dealFields"):
        sb.request("GET", path)
    after = sb.admin("GET", "/_admin/objects/field")["data"]
    assert after == before and {f["entity"] for f in after} == {"person", "product", "activity"}


@pytest.mark.parametrize(("path", "params"), [
    ("/api/v2/deals", {}),
    ("/api/v2/deals", {"status": "open,won,lost,deleted", "updated_since": "2000-01-01T00:00:00Z",
                       "sort_by": "update_time", "include_fields": "notes_count,products_count", "limit": 500}),
    ("/api/v2/organizations", {"ids": "1,2", "sort_direction": "desc", "include_fields": "people_count"}),
    ("/api/v2/pipelines", {"sort_by": "add_time"}),
    ("/api/v2/stages", {"pipeline_id": 3, "sort_by": "order_nr"}),
])
def test_absent_kinds_list_as_empty_pages(pipedrive_sandbox, path, params):
    resp = pipedrive_sandbox.request("GET", path, params=params)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"success": True, "data": [], "additional_data": {"next_cursor": None}}


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/api/v2/deals", {"limit": 0}, "limit"),
    ("/api/v2/deals", {"limit": 501}, "limit"),
    ("/api/v2/deals", {"status": "closed"}, "status"),
    ("/api/v2/deals", {"sort_by": "title"}, "sort_by"),
    ("/api/v2/deals", {"include_fields": "people_count"}, "include_fields"),  # an organization's, not a deal's
    ("/api/v2/deals", {"updated_since": "yesterday"}, "updated_since"),
    ("/api/v2/deals", {"person_id": "x"}, "person_id"),
    ("/api/v2/deals", {"cursor": "not-a-cursor"}, "cursor"),
    ("/api/v2/organizations", {"ids": "a,b"}, "ids"),
    ("/api/v2/organizations", {"include_fields": "first_won_time"}, "include_fields"),
    ("/api/v2/pipelines", {"sort_by": "order_nr"}, "sort_by"),
    ("/api/v2/stages", {"pipeline_id": "main"}, "pipeline_id"),
    ("/api/v2/deals/abc", {}, "id"),
])
def test_absent_kinds_refuse_bad_parameters(pipedrive_sandbox, path, params, named):
    resp = pipedrive_sandbox.request("GET", path, params=params)
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["code"] == "ERR_SCHEMA_VALIDATION_FAILED" and f"{named}:" in body["error"]


def test_absent_objects_are_not_found(pipedrive_sandbox):
    for path in ("/api/v2/deals/1", "/api/v2/organizations/1", "/api/v2/pipelines/1", "/api/v2/stages/1"):
        resp = pipedrive_sandbox.request("GET", path)
        assert resp.status_code == 404 and resp.json()["error"] == "Entity was not found", path
    assert pipedrive_sandbox.request("GET", "/api/v2/deals/1/products").status_code == 404
    flow = pipedrive_sandbox.request("GET", "/v1/deals/1/flow")
    assert flow.status_code == 404 and flow.json()["error"] == "Deal not found"  # not "Unknown method"
    assert pipedrive_sandbox.request("POST", "/api/v2/deals", json={"title": "x"}).status_code == 405


def test_currencies_and_filters(pipedrive_sandbox):
    sb = pipedrive_sandbox
    currencies = sb.request("GET", "/v1/currencies").json()["data"]
    assert currencies[0]["code"] == "AUD" and all(c["active_flag"] for c in currencies)
    assert [c["code"] for c in sb.request("GET", "/v1/currencies", params={"term": "aud"}).json()["data"]] == ["AUD"]
    assert {c["code"] for c in sb.request("GET", "/v1/currencies", params={"term": "DOLLAR"}).json()["data"]} >= {
        "AUD", "USD", "NZD"}
    assert sb.request("GET", "/v1/currencies", params={"term": "zzz"}).json() == {"success": True, "data": None}
    assert sb.request("GET", "/v1/filters", params={"type": "people"}).json() == {"success": True, "data": None}
    bad = sb.request("GET", "/v1/filters", params={"type": "patients"})
    assert bad.status_code == 400 and "type must be one of" in bad.json()["error"]


def _backdate(sb, kind, item_id, stamp, when):
    sb.admin("PATCH", f"/_admin/objects/{kind}/{item_id}", {stamp: when})


def test_recents_is_a_change_feed_of_the_kinds_the_sandbox_holds(pipedrive_sandbox):
    sb = pipedrive_sandbox
    old = sb.request("POST", "/api/v2/persons", json={"name": "Old Person"}).json()["data"]
    new = sb.request("POST", "/api/v2/persons", json={"name": "New Person", "custom_fields": {}}).json()["data"]
    note = sb.request("POST", "/api/v1/notes", json={"content": "hi", "person_id": new["id"]}).json()["data"]
    gone = sb.request("POST", "/api/v2/products", json={"name": "Gone", "code": "G"}).json()["data"]
    sb.request("DELETE", f"/api/v2/products/{gone['id']}")
    _backdate(sb, "person", old["id"], "update_time", "2021-05-01T00:00:00Z")
    for kind, stamp, in (("user", "modified"), ("activity_type", "update_time")):
        for item in sb.admin("GET", f"/_admin/objects/{kind}")["data"]:
            _backdate(sb, kind, item["id"], stamp, "2021-01-01 00:00:00")
    feed = sb.request("GET", "/v1/recents", params={"since_timestamp": "2021-02-01 00:00:00"}).json()
    items = [(r["item"], r["id"]) for r in feed["data"]]
    assert items[0] == ("person", old["id"])  # oldest change first
    assert set(items) == {("person", old["id"]), ("person", new["id"]), ("note", note["id"]),
                          ("product", gone["id"])}
    rows = {(r["item"], r["id"]): r["data"] for r in feed["data"]}
    assert rows[("product", gone["id"])]["active_flag"] is False  # deletions are in the feed
    assert rows[("person", old["id"])]["update_time"] == "2021-05-01 00:00:00"  # v1 timestamps
    assert rows[("note", note["id"])]["person"] == {"name": "New Person"}
    assert feed["additional_data"]["since_timestamp"] == "2021-02-01 00:00:00"
    assert feed["additional_data"]["pagination"]["more_items_in_collection"] is False
    persons = sb.request("GET", "/v1/recents", params={"since_timestamp": "2021-02-01 00:00:00",
                                                       "items": "person", "limit": 1}).json()
    assert [r["id"] for r in persons["data"]] == [old["id"]]
    assert persons["additional_data"]["pagination"]["next_start"] == 1
    assert persons["additional_data"]["last_timestamp_on_page"] == "2021-05-01 00:00:00"
    users = sb.request("GET", "/v1/recents", params={"since_timestamp": "2000-01-01 00:00:00", "items": "user"})
    assert [r["item"] for r in users.json()["data"]] == ["user"] * 4
    assert sb.request("GET", "/v1/recents", params={"since_timestamp": "2000-01-01 00:00:00", "items": "deal"}
                      ).json()["data"] is None


@pytest.mark.parametrize(("params", "message"), [
    ({}, "since_timestamp is required"),
    ({"since_timestamp": "2021-02-01T00:00:00Z"}, "format YYYY-MM-DD HH:MM:SS"),
    ({"since_timestamp": "2021-02-01 00:00:00", "items": "patient"}, "items must be one of"),
])
def test_recents_refuses_bad_parameters(pipedrive_sandbox, params, message):
    resp = pipedrive_sandbox.request("GET", "/v1/recents", params=params)
    assert resp.status_code == 400 and message in resp.json()["error"]
