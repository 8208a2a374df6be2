"""Auth: x-api-token header (also the legacy api_token query and Bearer), the gateway 401 body."""

from __future__ import annotations

import requests

GATEWAY_401 = {"success": False, "error": "unauthorized access", "errorCode": 401,
               "error_info": "Please check developers.pipedrive.com"}


def test_missing_token_gets_documented_401(pipedrive_sandbox):
    for path in ("/api/v2/persons", "/api/v1/users/me", "/v1/notes", "/api/v2/no-such-thing"):
        resp = requests.get(pipedrive_sandbox.url + path, timeout=10)
        assert resp.status_code == 401, path
        assert resp.json() == GATEWAY_401


def test_wrong_token_gets_401_in_header_query_and_bearer(pipedrive_sandbox):
    url = pipedrive_sandbox.url + "/api/v2/persons"
    assert requests.get(url, headers={"x-api-token": "nope"}, timeout=10).status_code == 401
    assert requests.get(url, params={"api_token": "nope"}, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401


def test_valid_token_accepted_everywhere(pipedrive_sandbox):
    token = pipedrive_sandbox.api_token
    assert token == "sandbox-pipedrive-token"
    base = pipedrive_sandbox.url
    assert requests.get(base + "/api/v2/persons", headers={"x-api-token": token}, timeout=10).status_code == 200
    assert requests.get(base + "/api/v2/persons", params={"api_token": token}, timeout=10).status_code == 200
    assert requests.get(base + "/api/v2/persons", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 200
    for prefix in ("/api/v1", "/v1"):
        resp = requests.get(base + prefix + "/users/me", headers={"x-api-token": token}, timeout=10)
        assert resp.status_code == 200
        assert resp.json()["data"]["company_domain"] == "sandbox-clinic"


def test_v2_has_no_short_prefix_and_unknown_paths_are_404(pipedrive_sandbox):
    assert pipedrive_sandbox.request("GET", "/v2/persons").status_code == 404
    resp = pipedrive_sandbox.request("GET", "/api/v2/nothing-here")
    assert resp.status_code == 404 and resp.json()["success"] is False


def test_custom_token_and_deactivated_user(pipedrive_sandbox_factory):
    sb = pipedrive_sandbox_factory(api_token="clinic-token-123")
    assert sb.request("GET", "/api/v2/persons").status_code == 200
    headers = {"x-api-token": "sandbox-pipedrive-token"}
    assert requests.get(sb.url + "/api/v2/persons", headers=headers, timeout=10).status_code == 401
    sam = sb.admin("POST", "users", {"name": "Temp User", "email": "temp@x.example", "api_token": "temp-token"})
    temp = {"x-api-token": "temp-token"}
    me = requests.get(sb.url + "/api/v1/users/me", headers=temp, timeout=10).json()["data"]
    assert me["id"] == sam["id"] and me["is_you"] is True
    assert sb.request("PUT", f"/api/v1/users/{sam['id']}", json={"active_flag": False}).status_code == 200
    assert requests.get(sb.url + "/api/v2/persons", headers=temp, timeout=10).status_code == 401
