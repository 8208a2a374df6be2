"""Cliniko sandbox gatekeeping: Basic auth with the API key, User-Agent and Accept rules, CLI."""

from __future__ import annotations

import argparse
import base64

import pytest
import requests

from sandbox.cliniko import cli
from sandbox.cliniko.auth import DEFAULT_API_KEY, KeyRing, split_shard
from sandbox.common import launcher

UA = "Migration tests (tests@example.com)"


def _get(sandbox, path="/v1/user", headers=None, auth=None):
    base = {"User-Agent": UA, "Accept": "application/json"}
    base.update(headers or {})
    return requests.get(sandbox.url + path, headers={k: v for k, v in base.items() if v is not None},
                        auth=auth, timeout=10)


@pytest.mark.parametrize("key", [DEFAULT_API_KEY, DEFAULT_API_KEY.rsplit("-", 1)[0]])
def test_key_is_accepted_with_and_without_shard_suffix(cliniko_sandbox, key):
    response = _get(cliniko_sandbox, auth=(key, ""))
    assert response.status_code == 200
    assert response.json()["role"] == "administrator"


def _basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize("authorization", [
    None,                                   # no credentials at all
    _basic("not-the-key:"),                 # wrong key
    _basic(DEFAULT_API_KEY.replace("-au1", "-uk2") + ":"),  # right key, wrong shard
    _basic(DEFAULT_API_KEY + ":secret"),    # password must be empty
    _basic(":" + DEFAULT_API_KEY),          # key sent as the password
    _basic(DEFAULT_API_KEY),                # no colon separator
    "Basic !!!not-base64!!!",
    f"Bearer {DEFAULT_API_KEY}",
    "",
])
def test_bad_credentials_get_rails_plain_text_401(cliniko_sandbox, authorization):
    response = _get(cliniko_sandbox, "/v1/patients", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.strip() == "HTTP Basic: Access denied."


def test_unknown_route_needs_auth_first(cliniko_sandbox):
    assert _get(cliniko_sandbox, "/v1/no_such_thing").status_code == 401
    authed = _get(cliniko_sandbox, "/v1/no_such_thing", auth=(DEFAULT_API_KEY, ""))
    assert authed.status_code == 404


@pytest.mark.parametrize("agent", [None, "", "python-requests/2.32", "MyApp", "MyApp (no email here)",
                                   "MyApp <me@example.com>", "(me@example.com)", "MyApp (me@example)"])
def test_user_agent_without_app_and_contact_email_is_refused(cliniko_sandbox, agent):
    response = _get(cliniko_sandbox, headers={"User-Agent": agent}, auth=(DEFAULT_API_KEY, ""))
    assert response.status_code == 403
    assert "User-Agent" in response.json()["message"]
    assert "email" in response.json()["message"]


@pytest.mark.parametrize("agent", ["MyApp (me@example.com)", "Really helpful app (devs@helpfulapp.com) v2",
                                   "tap-cliniko/0.1 ( ops@clinic.example.co.nz )"])
def test_user_agent_with_contact_email_is_accepted(cliniko_sandbox, agent):
    assert _get(cliniko_sandbox, headers={"User-Agent": agent}, auth=(DEFAULT_API_KEY, "")).status_code == 200


def test_user_agent_check_can_be_switched_off(cliniko_sandbox, cliniko_sandbox_factory):
    cliniko_sandbox.admin("POST", "config", {"require_user_agent": False})
    assert _get(cliniko_sandbox, headers={"User-Agent": None}, auth=(DEFAULT_API_KEY, "")).status_code == 200
    relaxed = cliniko_sandbox_factory(size="none", require_user_agent=False)
    assert _get(relaxed, headers={"User-Agent": "curl/8"}, auth=(DEFAULT_API_KEY, "")).status_code == 200


@pytest.mark.parametrize(("accept", "status"), [
    ("application/json", 200), ("*/*", 200), ("application/*", 200), (None, 200),
    ("text/html, application/json;q=0.5", 200), ("text/html", 406), ("application/xml", 406),
    ("application/json;q=0", 406),
])
def test_accept_must_admit_json(cliniko_sandbox, accept, status):
    response = _get(cliniko_sandbox, "/v1/patients", headers={"Accept": accept}, auth=(DEFAULT_API_KEY, ""))
    assert response.status_code == status


def test_configured_keys_replace_the_default(cliniko_sandbox_factory):
    sandbox = cliniko_sandbox_factory(size="none", api_keys=["first-key-uk2", "second"])
    assert _get(sandbox, auth=("first-key-uk2", "")).status_code == 200
    assert _get(sandbox, auth=("first-key", "")).status_code == 200
    assert _get(sandbox, auth=("second", "")).status_code == 200
    assert _get(sandbox, auth=("first-key-au1", "")).status_code == 401
    assert _get(sandbox, auth=(DEFAULT_API_KEY, "")).status_code == 401


def test_shard_suffix_parsing():
    assert split_shard("abc-def-au1") == ("abc-def", "au1")
    assert split_shard("abc-def") == ("abc-def", None)
    assert split_shard("MxJrZXkiOiI1Njd1amJmZTQ1NyJ9-uk2") == ("MxJrZXkiOiI1Njd1amJmZTQ1NyJ9", "uk2")
    with pytest.raises(ValueError):
        KeyRing([])


def _parse(argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_builds_the_configured_app():
    app = cli.create_app(_parse(["--seed", "none", "--api-key", "k1", "--api-key", "k2-au3",
                                 "--rate-limit-per-minute", "7", "--no-require-user-agent"]))
    try:
        assert app.config_dict() == {"rate_limit_per_minute": 7, "require_user_agent": False}
        assert app.keys.identify("k2") == "k2" and app.keys.identify(DEFAULT_API_KEY) is None
        assert app.state.counts()["patients"]["total"] == 0
    finally:
        app.state.store.close()
    with pytest.raises(ValueError):
        cli.create_app(_parse(["--seed", "none", "--rate-limit-per-minute", "-1"]))
    with pytest.raises(SystemExit):
        _parse(["--seed", "huge"])


def test_cli_runs_as_a_process_and_keeps_data_in_a_db_file(tmp_path):
    db = str(tmp_path / "cliniko.sqlite")
    running = launcher.start("cliniko", "--seed", "small", "--db", db, "--rate-limit-per-minute", "0",
                             timeout=60)
    try:
        response = requests.get(running.url + "/v1/patients", auth=(DEFAULT_API_KEY, ""),
                                headers={"User-Agent": UA}, timeout=10)
        assert response.status_code == 200
        total = response.json()["total_entries"]
        requests.post(running.url + "/_admin/records/patients", json={"first_name": "Kept", "last_name": "Row"},
                      timeout=10).raise_for_status()
    finally:
        running.stop()
    again = launcher.start("cliniko", "--db", db, "--keep-data", timeout=60)
    try:
        response = requests.get(again.url + "/v1/patients", auth=(DEFAULT_API_KEY, ""),
                                headers={"User-Agent": UA}, timeout=10)
        assert response.json()["total_entries"] == total + 1
    finally:
        again.stop()
