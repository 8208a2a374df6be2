"""v2 search: persons by custom field (external id) and by email, exact vs partial, products by code,
itemSearch/field case sensitivity, and what never matches (deleted items, unsearchable types)."""

from __future__ import annotations

import pytest


@pytest.fixture
def setup(pipedrive_sandbox):
    sb = pipedrive_sandbox
    ext = sb.request("POST", "/api/v1/personFields", json={"name": "Cliniko ID", "field_type": "varchar"})
    kind = sb.request("POST", "/api/v1/personFields", json={"name": "Kind", "field_type": "enum",
                                                             "options": [{"label": "CLN-1"}]})
    ext_key = ext.json()["data"]["key"]
    kind_key, kind_option = kind.json()["data"]["key"], kind.json()["data"]["options"][0]["id"]
    people = {}
    for name, email, cid in (("Jane Doe", "Jane.Doe@Example.com", "CLN-1"), ("John Doe", "john@example.com", "CLN-11"),
                             ("Old Record", "old@example.com", "CLN-2")):
        body = {"name": name, "emails": [{"value": email}], "custom_fields": {ext_key: cid, kind_key: kind_option}}
        people[name] = sb.request("POST", "/api/v2/persons", json=body).json()["data"]
    sb.request("DELETE", f"/api/v2/persons/{people['Old Record']['id']}")
    return sb, ext_key, people


def ids(resp):
    assert resp.status_code == 200, resp.text
    return [i["item"]["id"] for i in resp.json()["data"]["items"]]


def test_exact_match_by_custom_field(setup):
    sb, _, people = setup
    found = sb.request("GET", "/api/v2/persons/search",
                       params={"term": "CLN-1", "fields": "custom_fields", "exact_match": "true"})
    assert ids(found) == [people["Jane Doe"]["id"]]
    item = found.json()["data"]["items"][0]["item"]
    assert item["emails"] == ["Jane.Doe@Example.com"] and item["custom_fields"] == ["CLN-1"]
    assert item["type"] == "person" and item["owner"] == {"id": 1}
    partial = sb.request("GET", "/api/v2/persons/search", params={"term": "CLN-1", "fields": "custom_fields"})
    assert sorted(ids(partial)) == [people["Jane Doe"]["id"], people["John Doe"]["id"]]
    gone = sb.request("GET", "/api/v2/persons/search",
                      params={"term": "CLN-2", "fields": "custom_fields", "exact_match": "true"})
    assert ids(gone) == []  # soft-deleted persons never match


def test_exact_match_by_email_is_case_insensitive(setup):
    sb, _, people = setup
    found = sb.request("GET", "/api/v2/persons/search",
                       params={"term": "jane.doe@example.com", "fields": "email", "exact_match": "true"})
    assert ids(found) == [people["Jane Doe"]["id"]]
    assert ids(sb.request("GET", "/api/v2/persons/search",
                          params={"term": "example.com", "fields": "email", "exact_match": "true"})) == []
    assert len(ids(sb.request("GET", "/api/v2/persons/search", params={"term": "example.com",
                                                                       "fields": "email"}))) == 2
    by_name = sb.request("GET", "/api/v2/persons/search", params={"term": "doe", "fields": "name,email"})
    assert len(ids(by_name)) == 2


def test_search_validation_and_paging(setup):
    sb, _, _ = setup
    for params in ({}, {"term": "a"}, {"term": "ab", "fields": "address"}, {"term": "ab", "exact_match": "yes"},
                   {"term": "ab", "limit": 501}):
        resp = sb.request("GET", "/api/v2/persons/search", params=params)
        assert resp.status_code == 400, params
    assert sb.request("GET", "/api/v2/persons/search", params={"term": "J", "exact_match": "true"}).status_code == 200
    first = sb.request("GET", "/api/v2/persons/search", params={"term": "doe", "limit": 1}).json()
    assert len(first["data"]["items"]) == 1 and first["additional_data"]["next_cursor"]
    second = sb.request("GET", "/api/v2/persons/search",
                        params={"term": "doe", "limit": 1, "cursor": first["additional_data"]["next_cursor"]}).json()
    assert second["additional_data"]["next_cursor"] is None
    assert second["data"]["items"][0]["item"]["id"] != first["data"]["items"][0]["item"]["id"]


def test_enum_fields_are_not_searchable(setup):
    sb, _, _ = setup
    # "CLN-1" is also the label of an enum option: enum fields are not searched
    hits = sb.request("GET", "/api/v2/persons/search", params={"term": "CLN-1", "exact_match": "true"})
    assert len(ids(hits)) == 1


def test_product_search_by_code_and_item_field_search(setup):
    sb, ext_key, people = setup
    sb.request("POST", "/api/v2/products", json={"name": "Consult", "code": "CONS-30"})
    found = sb.request("GET", "/api/v2/products/search", params={"term": "cons-30", "fields": "code",
                                                                 "exact_match": "true"})
    assert len(ids(found)) == 1 and found.json()["data"]["items"][0]["item"]["code"] == "CONS-30"
    exact = sb.request("GET", "/api/v2/itemSearch/field",
                       params={"entity_type": "person", "field": ext_key, "term": "CLN-1", "match": "exact"})
    assert exact.json()["data"] == [{"id": people["Jane Doe"]["id"], "name": "Jane Doe"}]
    lower = sb.request("GET", "/api/v2/itemSearch/field",
                       params={"entity_type": "person", "field": ext_key, "term": "cln-1"})
    assert lower.json()["data"] == []  # field search is case-sensitive
    begin = sb.request("GET", "/api/v2/itemSearch/field",
                       params={"entity_type": "person", "field": ext_key, "term": "CLN", "match": "beginning"})
    assert len(begin.json()["data"]) == 2
