"""The loopback TLS relay the third-party test relies on: it serves the one host it stands for, from the
sandbox behind it, with a certificate only its own CA vouches for, and turns every other request away."""

from __future__ import annotations

import pytest
import requests
from tls_relay import TlsRelay


def _upstream(sandbox) -> tuple[str, int]:
    host, port = sandbox.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def test_relay_serves_its_host_from_the_sandbox(tmp_path, pipedrive_sandbox):
    with TlsRelay("api.pipedrive.com", _upstream(pipedrive_sandbox), tmp_path) as relay:
        env = relay.env()
        proxies = {"https": env["HTTPS_PROXY"]}
        resp = requests.get("https://api.pipedrive.com/v1/users/me", proxies=proxies, verify=env["REQUESTS_CA_BUNDLE"],
                            headers={"x-api-token": pipedrive_sandbox.api_token}, timeout=30)
        assert resp.status_code == 200 and resp.json()["data"]["company_domain"] == "sandbox-clinic"
        # the certificate is the test CA's: a client that trusts only the usual roots refuses it
        with pytest.raises(requests.exceptions.SSLError):
            requests.get("https://api.pipedrive.com/v1/users/me", proxies=proxies, timeout=30)
        assert relay.refused == []


def test_relay_refuses_other_hosts_and_plain_requests(tmp_path, pipedrive_sandbox):
    with TlsRelay("api.pipedrive.com", _upstream(pipedrive_sandbox), tmp_path) as relay:
        env = relay.env()
        with pytest.raises(requests.exceptions.ProxyError):
            requests.get("https://example.com/", proxies={"https": env["HTTPS_PROXY"]}, timeout=30)
        with pytest.raises(requests.exceptions.ProxyError):
            requests.get("https://api.pipedrive.com:8443/", proxies={"https": env["HTTPS_PROXY"]}, timeout=30)
        plain = requests.get(env["HTTPS_PROXY"] + "/v1/users/me", timeout=30)
        assert plain.status_code == 403
        assert relay.refused == ["CONNECT example.com:443", "CONNECT api.pipedrive.com:8443", "GET /v1/users/me"]
