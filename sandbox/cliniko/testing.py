"""pytest plugin: in-process Cliniko sandboxes for tests.

Fixtures
    cliniko_sandbox          function scope; fresh server with the small clinic (seed 42), in-memory DB,
                             rate limit off.
    cliniko_sandbox_factory  call with size=, seed=, rate_limit_per_minute=, db_path=, api_keys=,
                             require_user_agent= to get more handles; all are stopped at teardown.

A handle has `.url` (http://127.0.0.1:PORT), `.base_url` (url + "/v1"), `.api_key`, `.user_agent` (a valid
one), `.app`, `.admin(method, path, json=None)` -> parsed JSON (raises on HTTP errors), `.session()` ->
a requests.Session already carrying the key, User-Agent and Accept headers, `.get(path, **params)` (path
relative to /v1), `.list_all(resource, q=[...], **params)` (follows `links.next`, returns every record) and
`.edge(key)` -> id of a generated edge case (see GET /_admin/edge_cases).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from sandbox.cliniko.app import ClinikoApp, Config
from sandbox.cliniko.auth import DEFAULT_API_KEY
from sandbox.common.http import SandboxServer

USER_AGENT = "tap-cliniko tests (tests@example.com)"


@dataclass
class ClinikoSandbox:
    app: ClinikoApp
    server: SandboxServer
    api_key: str
    user_agent: str = USER_AGENT

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def session(self) -> requests.Session:
        s = requests.Session()
        s.auth = (self.api_key, "")
        s.headers.update({"User-Agent": self.user_agent, "Accept": "application/json"})
        return s

    def get(self, path: str, *, allow_redirects: bool = True, **params: Any) -> requests.Response:
        """GET `/v1/<path>` with valid credentials; `q` may be a list of filters."""
        if "q" in params:
            params["q[]"] = params.pop("q")
        if not hasattr(self, "_session"):
            self._session = self.session()
        return self._session.get(f"{self.base_url}/{path.lstrip('/')}", params=params, timeout=60,
                                 allow_redirects=allow_redirects)

    def list_all(self, resource: str, **params: Any) -> list[dict[str, Any]]:
        """Every record of a list endpoint, following `links.next` to the end."""
        response = self.get(resource, **params)
        key = resource.split("/")[0]
        records: list[dict[str, Any]] = []
        while True:
            response.raise_for_status()
            data = response.json()
            records.extend(data[key])
            if "next" not in data["links"]:
                return records
            response = self._session.get(data["links"]["next"], timeout=60)

    def edge(self, key: str) -> str:
        """The id of the generated edge case `key` (e.g. "patient_merged")."""
        return str(self.admin("GET", "edge_cases")[key]["id"])

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        """Call an `/_admin/...` route (path with or without the prefix) and return its JSON."""
        if not path.startswith("/_admin/"):
            path = "/_admin/" + path.lstrip("/")
        response = requests.request(method, self.url + path, json=json, timeout=120)
        if response.status_code >= 400:
            raise AssertionError(f"admin {method} {path} -> {response.status_code}: {response.text}")
        return response.json()

    def stop(self) -> None:
        if hasattr(self, "_session"):
            self._session.close()
        self.server.stop()
        self.app.state.store.close()


def start(size: str = "small", seed: int = 42, rate_limit_per_minute: int = 0, db_path: str | None = None,
          api_keys: list[str] | None = None, require_user_agent: bool = True) -> ClinikoSandbox:
    """Start a sandbox server on a free loopback port (also usable outside pytest)."""
    keys = api_keys or [DEFAULT_API_KEY]
    config = Config(api_keys=keys, require_user_agent=require_user_agent, rate_limit_per_minute=rate_limit_per_minute,
                    db_path=db_path or ":memory:", size=size, seed=seed)
    app = ClinikoApp(config)
    server = SandboxServer(app, "127.0.0.1", 0).start(poll_interval=0.02)  # quick teardown per test
    return ClinikoSandbox(app=app, server=server, api_key=keys[0])


@pytest.fixture
def cliniko_sandbox_factory() -> Iterator[Callable[..., ClinikoSandbox]]:
    started: list[ClinikoSandbox] = []

    def factory(**kwargs: Any) -> ClinikoSandbox:
        handle = start(**kwargs)
        started.append(handle)
        return handle

    yield factory
    for handle in started:
        handle.stop()


@pytest.fixture
def cliniko_sandbox(cliniko_sandbox_factory: Callable[..., ClinikoSandbox]) -> ClinikoSandbox:
    return cliniko_sandbox_factory()
