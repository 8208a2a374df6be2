"""Against the official OpenAPI files: the token-cost table, the request validator fixture (it must
catch malformed requests and pass good ones), and the sandbox's own responses."""

from __future__ import annotations

import pytest

from sandbox.pipedrive.costs import V1_COSTS, V2_COSTS
from sandbox.pipedrive.spec_check import SpecValidator


def test_token_costs_match_the_spec(pipedrive_specs):
    spec = pipedrive_specs.token_costs()
    for version, table in (("v2", V2_COSTS), ("v1", V1_COSTS)):
        for (method, path), cost in table.items():
            assert (version, method, path) in spec, f"{method} /{version}{path} is not in the spec"
            assert spec[(version, method, path)] == cost, f"{method} /{version}{path}"


def test_every_route_is_priced(pipedrive_sandbox):
    # registration refuses unpriced routes; prove the guard works
    with pytest.raises(AssertionError, match="no token cost"):
        pipedrive_sandbox.app.v2("POST", "/deals", lambda r: None)


def test_validator_catches_malformed_requests(pipedrive_sandbox, pipedrive_spec_validator):
    sb = pipedrive_sandbox
    sb.request("GET", "/api/v2/persons", params={"limit": "many"})
    sb.request("POST", "/api/v2/persons", json={"name": 5})
    sb.request("GET", "/api/v2/persons/search", params={"exact_match": "true"})  # term is required
    sb.request("POST", "/api/v1/notes", json={"person_id": 1})  # content is required
    sb.request("POST", "/api/v1/activityTypes", json={"name": "X", "icon_key": "stethoscope"})
    failures = pipedrive_spec_validator.failures
    paths = [(f.method, f.path) for f in failures]
    assert ("GET", "/api/v2/persons") in paths
    assert ("POST", "/api/v2/persons") in paths
    assert ("GET", "/api/v2/persons/search") in paths
    assert ("POST", "/api/v1/notes") in paths
    assert ("POST", "/api/v1/activityTypes") in paths
    assert len(failures) == 5, "\n".join(map(str, failures))
    with pytest.raises(AssertionError, match="violate the Pipedrive spec"):
        pipedrive_spec_validator.assert_clean()


def test_validator_requires_the_documented_auth_header(pipedrive_sandbox, pipedrive_spec_validator):
    import requests

    resp = requests.get(pipedrive_sandbox.url + "/api/v2/persons", params={"api_token": pipedrive_sandbox.api_token},
                        timeout=10)
    assert resp.status_code == 200  # the sandbox accepts the legacy query token ...
    assert pipedrive_spec_validator.failures  # ... but the spec only documents the x-api-token header


def exercise(sb):
    """A realistic migration-shaped session touching every resource."""
    ext = sb.request("POST", "/api/v1/personFields", json={"name": "Cliniko ID", "field_type": "varchar"})
    ext_key = ext.json()["data"]["key"]
    enum = sb.request("POST", "/api/v2/personFields", json={"field_name": "Insurance", "field_type": "enum",
                                                            "options": [{"label": "Medicare"}]}).json()["data"]
    sb.request("POST", f"/api/v2/personFields/{enum['field_code']}/options", json=[{"label": "DVA"}])
    sb.request("GET", "/api/v2/personFields", params={"limit": 500})
    for entity in ("person", "product", "activity"):
        sb.request("GET", f"/api/v1/{entity}Fields")
        sb.request("GET", f"/api/v2/{entity}Fields", params={"include_fields": "ui_visibility"})
    person = sb.request("POST", "/api/v2/persons", json={
        "name": "Jane Doe", "emails": [{"value": "jane@example.com", "primary": True, "label": "home"}],
        "phones": [{"value": "0400000000"}], "add_time": "2020-01-01T00:00:00Z",
        "custom_fields": {ext_key: "CLN-1", enum["field_code"]: enum["options"][0]["id"]}}).json()["data"]
    sb.request("PATCH", f"/api/v2/persons/{person['id']}", json={"name": "Jane Q Doe"})
    sb.request("GET", f"/api/v2/persons/{person['id']}")
    sb.request("GET", "/api/v2/persons", params={"limit": 100, "custom_fields": ext_key})
    sb.request("GET", "/api/v2/persons/search", params={"term": "CLN-1", "fields": "custom_fields",
                                                        "exact_match": "true"})
    sb.request("GET", "/api/v2/persons/search", params={"term": "jane@example.com", "fields": "email,name"})
    types = sb.request("POST", "/api/v1/activityTypes", json={"name": "Consult", "icon_key": "meeting"}).json()
    sb.request("PUT", f"/api/v1/activityTypes/{types['data']['id']}", json={"color": "00FF00"})
    sb.request("GET", "/api/v1/activityTypes")
    act = sb.request("POST", "/api/v2/activities", json={
        "subject": "Consult", "type": types["data"]["key_string"], "due_date": "2024-01-02", "due_time": "10:00",
        "duration": "00:30", "participants": [{"person_id": person["id"], "primary": True}], "done": True,
        "owner_id": 2}).json()["data"]
    sb.request("GET", "/api/v2/activities", params={"person_id": person["id"]})
    sb.request("PATCH", f"/api/v2/activities/{act['id']}", json={"note": "x"})
    prod = sb.request("POST", "/api/v2/products", json={"name": "Consult", "code": "C1",
                                                        "prices": [{"currency": "AUD", "price": 90}]}).json()["data"]
    sb.request("GET", "/api/v2/products/search", params={"term": "C1", "fields": "code", "exact_match": "true"})
    sb.request("PATCH", f"/api/v2/products/{prod['id']}", json={"tax": 10})
    note = sb.request("POST", "/api/v1/notes", json={"content": "<p>n</p>", "person_id": person["id"],
                                                     "add_time": "2019-01-01 10:00:00"}).json()["data"]
    sb.request("PUT", f"/api/v1/notes/{note['id']}", json={"content": "m"})
    sb.request("GET", "/api/v1/notes", params={"person_id": person["id"], "limit": 500})
    up = sb.request("POST", "/api/v1/files", files={"file": ("a.pdf", b"%PDF", "application/pdf")},
                    data={"person_id": str(person["id"])}).json()["data"]
    sb.request("GET", f"/api/v1/files/{up['id']}")
    sb.request("GET", f"/api/v1/files/{up['id']}/download")
    sb.request("GET", f"/api/v1/persons/{person['id']}/files")
    sb.request("GET", "/api/v1/users")
    sb.request("GET", "/api/v1/users/find", params={"term": "sam@", "search_by_email": 1})
    sb.request("GET", "/api/v1/users/me")
    sb.request("DELETE", f"/api/v1/files/{up['id']}")
    sb.request("DELETE", f"/api/v1/notes/{note['id']}")
    sb.request("DELETE", f"/api/v2/activities/{act['id']}")
    sb.request("DELETE", f"/api/v2/products/{prod['id']}")
    sb.request("DELETE", f"/api/v2/persons/{person['id']}")
    sb.request("DELETE", f"/api/v2/personFields/{enum['field_code']}")


def test_well_formed_session_passes_and_responses_match_the_spec(pipedrive_sandbox, pipedrive_specs):
    validator = SpecValidator(pipedrive_specs, check_responses=True).attach(pipedrive_sandbox)
    exercise(pipedrive_sandbox)
    validator.assert_clean()
    assert validator.checked >= 37



def exercise_reads(sb):
    """What a reporting client (a Singer tap, a BI connector) reads, including kinds the sandbox does not hold;
    every answer must be a 200 (a missing route would pass the spec check as an unchecked 404)."""
    def read(path, **params):
        response = sb.request("GET", path, params=params)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        return response.json()

    person = sb.request("POST", "/api/v2/persons", json={"name": "Ann Lee", "phones": [{"value": "0400"}]}).json()
    person = person["data"]
    sb.request("POST", "/api/v1/notes", json={"content": "<p>seen</p>", "person_id": person["id"]})
    sb.request("POST", "/api/v2/activities", json={"subject": "Call", "type": "call", "due_date": "2024-01-02",
                                                   "due_time": "10:00", "duration": "00:30",
                                                   "participants": [{"person_id": person["id"], "primary": True}]})
    sb.request("POST", "/api/v2/products", json={"name": "Consult", "code": "C1",
                                                 "prices": [{"currency": "AUD", "price": 90}]})
    sb.request("POST", "/api/v1/files", files={"file": ("a.pdf", b"%PDF", "application/pdf")},
               data={"person_id": str(person["id"])})
    read("/v1/noteFields")
    read("/api/v1/noteFields", start=0, limit=100)
    for entity in ("deal", "organization"):
        listed = read(f"/api/v1/{entity}Fields", start=0, limit=5)
        read(f"/api/v1/{entity}Fields", start=listed["additional_data"]["pagination"]["next_start"])
        read(f"/api/v1/{entity}Fields/{listed['data'][1]['id']}")
        page = read(f"/api/v2/{entity}Fields", limit=3, include_fields="ui_visibility")
        read(f"/api/v2/{entity}Fields", cursor=page["additional_data"]["next_cursor"])
        read(f"/api/v2/{entity}Fields/{page['data'][0]['field_code']}")
    read("/api/v1/currencies")
    read("/api/v1/currencies", term="dollar")
    read("/api/v1/filters", type="people")
    read("/api/v2/deals", status="open", updated_since="2020-01-01T00:00:00Z", sort_by="update_time",
         sort_direction="desc", include_fields="notes_count", limit=100)
    read("/api/v2/deals", person_id=person["id"])
    read("/api/v2/organizations", include_fields="people_count", owner_id=1)
    read("/api/v2/pipelines", sort_by="update_time", limit=50)
    read("/api/v2/stages", pipeline_id=1, sort_by="order_nr")
    read("/api/v1/recents", since_timestamp="2000-01-01 00:00:00")
    for item in ("person", "activity", "product", "note", "file", "user", "activityType", "deal"):
        read("/api/v1/recents", since_timestamp="2000-01-01 00:00:00", items=item, start=0, limit=10)


def test_reporting_reads_match_the_spec(pipedrive_sandbox, pipedrive_specs):
    validator = SpecValidator(pipedrive_specs, check_responses=True).attach(pipedrive_sandbox)
    exercise_reads(pipedrive_sandbox)
    validator.assert_clean()
    assert validator.checked == 36


def test_the_targets_token_costs_match_the_spec_for_every_id_it_sends(pipedrive_specs):
    """Every operation the target prices is priced as the official specs' `x-token-cost` says, whether the id
    is a real one or a plan's stand-in for an object it would create (negative)."""
    from target_pipedrive.pipedrive.client import DEFAULT_COST, TOKEN_COSTS, token_cost

    spec = pipedrive_specs.token_costs()
    for (method, version, path), cost in TOKEN_COSTS.items():
        assert spec.get((version, method, path)) == cost, f"{method} /{version}{path}"
        for an_id in ("123", "-5", "0"):
            sent = path.replace("{id}", an_id)
            assert token_cost(method, version, sent) == cost, f"{method} /{version}{sent}"
    assert token_cost("PATCH", "v2", "/persons/-5") == 5  # the rollup update a plan counts
    assert token_cost("PATCH", "v2", "/persons/abc") == DEFAULT_COST  # not an id: the expensive end
    assert token_cost("POST", "v2", "/deals") == DEFAULT_COST  # an operation the target does not price
