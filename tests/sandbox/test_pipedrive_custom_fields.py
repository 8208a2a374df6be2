"""Custom fields: account-specific keys, create via v1 and v2, write by key and read back per type,
strict validation of values, option management, deletion, and read-only activity fields."""

from __future__ import annotations

import re

import pytest

HEX40 = re.compile(r"^[0-9a-f]{40}$")


def v1_field(sb, entity="person", **body):
    resp = sb.request("POST", f"/api/v1/{entity}Fields", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def v2_field(sb, entity="person", **body):
    resp = sb.request("POST", f"/api/v2/{entity}Fields", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_fresh_account_has_standard_fields_and_no_custom_ones(pipedrive_sandbox):
    sb = pipedrive_sandbox
    for entity in ("person", "product", "activity"):
        v1 = sb.request("GET", f"/api/v1/{entity}Fields").json()
        assert v1["success"] is True and v1["data"]
        assert not any(f["edit_flag"] for f in v1["data"])
        assert v1["additional_data"]["pagination"]["more_items_in_collection"] is False
        v2 = sb.request("GET", f"/api/v2/{entity}Fields", params={"limit": 500}).json()
        assert {f["field_code"] for f in v2["data"]} == {f["key"] for f in v1["data"]}
        assert not any(f["is_custom_field"] for f in v2["data"])
    persons = {f["key"]: f for f in sb.request("GET", "/api/v1/personFields").json()["data"]}
    assert {"name", "emails", "phones", "owner_id", "org_id"} <= set(persons)
    priority = next(f for f in sb.request("GET", "/api/v2/activityFields").json()["data"]
                    if f["field_code"] == "priority")
    assert [o["label"] for o in priority["options"]] == ["High", "Medium", "Low"]


def test_keys_are_random_per_account_and_repeatable_with_a_seed(pipedrive_sandbox_factory):
    keys = []
    for seed in ("one", "two", "one", None):
        sb = pipedrive_sandbox_factory(seed_value=seed)
        keys.append(v1_field(sb, name="Cliniko ID", field_type="varchar")["key"])
    assert all(HEX40.match(k) for k in keys)
    assert keys[0] == keys[2]
    assert len({keys[0], keys[1], keys[3]}) == 3


def test_v1_create_and_v2_read_agree(pipedrive_sandbox):
    sb = pipedrive_sandbox
    field = v1_field(sb, name="Insurance type", field_type="enum", options=[{"label": "Medicare"}, {"label": "DVA"}])
    assert field["edit_flag"] is True and field["active_flag"] is True and HEX40.match(field["key"])
    assert [o["label"] for o in field["options"]] == ["Medicare", "DVA"]
    assert all(isinstance(o["id"], int) for o in field["options"])
    v2 = sb.request("GET", f"/api/v2/personFields/{field['key']}").json()["data"]
    assert v2["field_name"] == "Insurance type" and v2["is_custom_field"] is True and v2["field_type"] == "enum"
    assert [o["id"] for o in v2["options"]] == [o["id"] for o in field["options"]]
    assert sb.request("GET", f"/api/v1/personFields/{field['id']}").json()["data"]["key"] == field["key"]


ALL_TYPES = ["varchar", "text", "double", "phone", "date", "daterange", "time", "timerange", "set", "enum",
             "varchar_auto", "address", "monetary", "org", "people", "user"]


@pytest.fixture
def typed_fields(pipedrive_sandbox):
    sb = pipedrive_sandbox
    made = {}
    for ftype in ALL_TYPES:
        body = {"field_name": f"F {ftype}", "field_type": ftype}
        if ftype in ("set", "enum"):
            body["options"] = [{"label": "Red"}, {"label": "Green"}, {"label": "Blue"}]
        made[ftype] = v2_field(sb, **body)
    return made


def test_write_each_type_by_key_and_read_back(pipedrive_sandbox, typed_fields):
    sb = pipedrive_sandbox
    f = typed_fields
    opt = {t: [o["id"] for o in f[t]["options"]] for t in ("set", "enum")}
    other = sb.request("POST", "/api/v2/persons", json={"name": "Other Person"}).json()["data"]
    values = {
        "varchar": "CLN-000123", "text": "long " * 100, "double": 12.5, "phone": "+61 2 9999 0000",
        "date": "1985-07-14", "daterange": {"value": "2024-01-01", "until": "2024-12-31"},
        "time": {"value": "09:30"}, "timerange": {"value": "09:00:00", "until": "10:15:00"},
        "set": [opt["set"][2], opt["set"][0]], "enum": opt["enum"][1], "varchar_auto": "auto",
        "address": {"value": "1 Main St, Sydney NSW 2000", "locality": "Sydney", "postal_code": "2000"},
        "monetary": {"value": 250.75, "currency": "AUD"}, "people": other["id"], "user": 2,
    }
    body = {"name": "Typed Person", "custom_fields": {f[t]["field_code"]: v for t, v in values.items()}}
    resp = sb.request("POST", "/api/v2/persons", json=body)
    assert resp.status_code == 200, resp.text
    person = sb.request("GET", f"/api/v2/persons/{resp.json()['data']['id']}").json()["data"]
    got = {t: person["custom_fields"][f[t]["field_code"]] for t in ALL_TYPES}
    assert got["varchar"] == "CLN-000123" and got["double"] == 12.5 and got["date"] == "1985-07-14"
    assert got["time"] == {"value": "09:30:00", "timezone_name": None, "timezone_id": None}
    assert got["timerange"]["until"] == "10:15:00"
    assert got["set"] == [opt["set"][2], opt["set"][0]] and got["enum"] == opt["enum"][1]
    assert got["address"]["value"] == "1 Main St, Sydney NSW 2000" and got["address"]["route"] is None
    assert got["address"]["postal_code"] == "2000"
    assert got["monetary"] == {"value": 250.75, "currency": "AUD"}
    assert got["people"] == other["id"] and got["user"] == 2 and got["org"] is None
    labelled = sb.request("GET", f"/api/v2/persons/{person['id']}",
                          params={"include_option_labels": "true"}).json()["data"]["custom_fields"]
    assert labelled[f["enum"]["field_code"]] == {"id": opt["enum"][1], "label": "Green"}
    assert labelled[f["set"]["field_code"]] == [{"id": opt["set"][2], "label": "Blue"},
                                               {"id": opt["set"][0], "label": "Red"}]
    only = sb.request("GET", f"/api/v2/persons/{person['id']}",
                      params={"custom_fields": f["varchar"]["field_code"]}).json()["data"]["custom_fields"]
    assert only == {f["varchar"]["field_code"]: "CLN-000123"}
    # monetary currency defaults to the company currency; null clears
    key = f["monetary"]["field_code"]
    patched = sb.request("PATCH", f"/api/v2/persons/{person['id']}",
                         json={"custom_fields": {key: {"value": 5}, f["set"]["field_code"]: None}}).json()["data"]
    assert patched["custom_fields"][key] == {"value": 5, "currency": "AUD"}
    assert patched["custom_fields"][f["set"]["field_code"]] is None
    assert patched["custom_fields"][f["varchar"]["field_code"]] == "CLN-000123"  # untouched keys survive


@pytest.mark.parametrize("ftype, value, fragment", [
    ("double", "12.5", "must be a number"),
    ("double", True, "must be a number"),
    ("varchar", 123, "must be a string"),
    ("varchar", "x" * 256, "at most 255"),
    ("enum", 999999, "option id 999999 does not exist"),
    ("enum", "Red", "must be an option id"),
    ("set", [], "non-empty array"),
    ("set", [999999], "do not exist"),
    ("date", "14/07/1985", "YYYY-MM-DD"),
    ("date", "2023-02-30", "YYYY-MM-DD"),
    ("monetary", 250, "must be an object"),
    ("monetary", {"value": 1, "currency": "AUD", "extra": 1}, "unknown property extra"),
    ("address", "1 Main St", "must be an object"),
    ("address", {"value": "x", "town": "y"}, "unknown property town"),
    ("user", 999, "user 999 does not exist"),
    ("people", 999, "person 999 does not exist"),
    ("time", "09:30", "must be an object"),
])
def test_bad_custom_values_are_400(pipedrive_sandbox, typed_fields, ftype, value, fragment):
    key = typed_fields[ftype]["field_code"]
    resp = pipedrive_sandbox.request("POST", "/api/v2/persons", json={"name": "X", "custom_fields": {key: value}})
    assert resp.status_code == 400, resp.text
    payload = resp.json()
    assert payload["code"] == "ERR_SCHEMA_VALIDATION_FAILED"
    assert f"custom_fields.{key}" in payload["error"] and fragment in payload["error"]


def test_unknown_and_top_level_keys_are_rejected(pipedrive_sandbox):
    sb = pipedrive_sandbox
    key = v1_field(sb, name="Cliniko ID", field_type="varchar")["key"]
    resp = sb.request("POST", "/api/v2/persons", json={"name": "X", key: "CLN-1"})
    assert resp.status_code == 400
    assert f"{key}: Parameter '{key}' is not allowed for this request" in resp.json()["error"]
    bogus = "0" * 40
    resp = sb.request("POST", "/api/v2/persons", json={"name": "X", "custom_fields": {bogus: "CLN-1"}})
    assert resp.status_code == 400 and "is not a known custom field" in resp.json()["error"]
    resp = sb.request("POST", "/api/v2/persons", json={"name": "X", "custom_fields": {"name": "Y"}})
    assert resp.status_code == 400
    resp = sb.request("POST", "/api/v2/persons", json={"name": "X", "custom_fields": [key, "CLN-1"]})
    assert resp.status_code == 400 and "must be an object" in resp.json()["error"]
    # a person field's key is unknown to products
    resp = sb.request("POST", "/api/v2/products", json={"name": "P", "custom_fields": {key: "v"}})
    assert resp.status_code == 400
    assert sb.admin("GET", "objects/persons")["count"] == 0


def test_deleted_field_disappears_and_rejects_writes(pipedrive_sandbox):
    sb = pipedrive_sandbox
    keep = v1_field(sb, name="Keep", field_type="varchar")
    drop = v1_field(sb, name="Drop", field_type="varchar")
    person = sb.request("POST", "/api/v2/persons",
                        json={"name": "X", "custom_fields": {keep["key"]: "a", drop["key"]: "b"}}).json()["data"]
    resp = sb.request("DELETE", f"/api/v1/personFields/{drop['id']}")
    assert resp.json() == {"success": True, "data": {"id": drop["id"]}}
    keys = [f["key"] for f in sb.request("GET", "/api/v1/personFields").json()["data"]]
    assert keep["key"] in keys and drop["key"] not in keys
    assert sb.request("GET", f"/api/v2/personFields/{drop['key']}").status_code == 404
    got = sb.request("GET", f"/api/v2/persons/{person['id']}").json()["data"]["custom_fields"]
    assert got == {keep["key"]: "a"}
    resp = sb.request("PATCH", f"/api/v2/persons/{person['id']}", json={"custom_fields": {drop["key"]: "c"}})
    assert resp.status_code == 400
    assert sb.request("DELETE", "/api/v1/personFields/1").status_code == 400  # system field


def test_v1_put_replaces_the_option_list(pipedrive_sandbox):
    sb = pipedrive_sandbox
    field = v1_field(sb, name="Referral", field_type="set", options=[{"label": "GP"}, {"label": "Web"}])
    gp, web = field["options"]
    resp = sb.request("PUT", f"/api/v1/personFields/{field['id']}",
                      json={"name": "Referral source", "options": [{"id": gp["id"], "label": "GP"},
                                                                    {"label": "Friend"}]})
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["name"] == "Referral source"
    assert [o["label"] for o in data["options"]] == ["GP", "Friend"] and data["options"][0]["id"] == gp["id"]
    assert web["id"] not in [o["id"] for o in data["options"]]
    bad = sb.request("PUT", f"/api/v1/personFields/{field['id']}", json={"options": [{"id": 1, "label": "x"}]})
    assert bad.status_code == 400 and bad.json()["success"] is False and "error_info" in bad.json()
    assert sb.request("PUT", f"/api/v1/personFields/{field['id']}",
                      json={"field_type": "varchar"}).status_code == 400


@pytest.mark.parametrize("body", [
    {"name": "", "field_type": "varchar"},
    {"name": "X", "field_type": "bogus"},
    {"name": "X", "field_type": "enum"},
    {"name": "X", "field_type": "enum", "options": []},
    {"field_type": "varchar"},
])
def test_v1_create_rejects_bad_definitions(pipedrive_sandbox, body):
    resp = pipedrive_sandbox.request("POST", "/api/v1/personFields", json=body)
    assert resp.status_code == 400 and resp.json()["success"] is False


def test_v2_field_and_option_endpoints(pipedrive_sandbox):
    sb = pipedrive_sandbox
    field = v2_field(sb, "product", field_name="Category", field_type="enum", options=[{"label": "Physio"}])
    code = field["field_code"]
    added = sb.request("POST", f"/api/v2/productFields/{code}/options", json=[{"label": "Massage"}]).json()["data"]
    assert [o["label"] for o in added] == ["Massage"]
    renamed = sb.request("PATCH", f"/api/v2/productFields/{code}/options",
                         json=[{"id": added[0]["id"], "label": "Remedial massage"}])
    assert renamed.json()["data"][0]["label"] == "Remedial massage"
    missing = sb.request("DELETE", f"/api/v2/productFields/{code}/options", json=[{"id": 1}, {"id": added[0]["id"]}])
    assert missing.status_code == 400
    current = sb.request("GET", f"/api/v2/productFields/{code}").json()["data"]["options"]
    assert [o["label"] for o in current] == ["Physio", "Remedial massage"]  # atomic: nothing removed
    sb.request("DELETE", f"/api/v2/productFields/{code}/options", json=[{"id": added[0]["id"]}])
    assert len(sb.request("GET", f"/api/v2/productFields/{code}").json()["data"]["options"]) == 1
    patched = sb.request("PATCH", f"/api/v2/productFields/{code}", json={"field_name": "Service"}).json()["data"]
    assert patched["field_name"] == "Service" and patched["field_code"] == code
    assert sb.request("PATCH", f"/api/v2/productFields/{code}", json={"field_type": "set"}).status_code == 400
    assert sb.request("PATCH", f"/api/v2/productFields/{code}", json={}).status_code == 400
    assert sb.request("DELETE", f"/api/v2/productFields/{code}").status_code == 200
    assert sb.request("GET", f"/api/v2/productFields/{code}").status_code == 404
    bad = sb.request("POST", "/api/v2/personFields", json={"field_name": "X", "field_type": "enum"})
    assert bad.status_code == 400 and "options" in bad.json()["error"]
    bad = sb.request("POST", "/api/v2/personFields", json={"name": "X", "field_type": "varchar"})
    assert bad.status_code == 400 and "name: Parameter 'name' is not allowed" in bad.json()["error"]


def test_activity_fields_are_read_only(pipedrive_sandbox):
    sb = pipedrive_sandbox
    for path in ("/api/v1/activityFields", "/v1/activityFields", "/api/v2/activityFields"):
        resp = sb.request("POST", path, json={"name": "Room", "field_name": "Room", "field_type": "varchar"})
        assert resp.status_code == 405, path
        assert resp.json()["success"] is False
    assert sb.request("PATCH", "/api/v2/activityFields/subject", json={"field_name": "x"}).status_code == 405
    assert not any(f["is_custom_field"] for f in sb.request("GET", "/api/v2/activityFields").json()["data"])
    resp = sb.request("POST", "/api/v2/activities", json={"subject": "x", "custom_fields": {"0" * 40: "y"}})
    assert resp.status_code == 400 and "custom_fields: Parameter 'custom_fields' is not allowed" in resp.json()["error"]


def test_product_custom_fields(pipedrive_sandbox):
    sb = pipedrive_sandbox
    key = v1_field(sb, "product", name="Cliniko item ID", field_type="varchar")["key"]
    product = sb.request("POST", "/api/v2/products", json={"name": "Consult", "custom_fields": {key: "BI-9"}})
    assert product.status_code == 201
    assert product.json()["data"]["custom_fields"] == {key: "BI-9"}
