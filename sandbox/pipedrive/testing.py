"""pytest plugin: in-process Pipedrive sandboxes and a validator of requests against the official spec.

Fixtures
  pipedrive_sandbox           fresh server per test: in-memory DB, limits off
  pipedrive_sandbox_factory   make(plan=None, burst_limit=None, daily_budget=None, db_path=None,
                                   search_burst_limit=None, seats=1, api_token=..., seed_value=None)
                              limits stay off unless plan or a limit is given
  pipedrive_spec_validator    a SpecValidator; every sandbox started in the same test is validated
                              automatically; call `.assert_clean()` ("no request violated the spec")
  pipedrive_specs             the loaded OpenAPI files (session scope; skips the test when absent)

Handle: `.url`, `.base_url` (what a client uses as `base_url`; it appends /api/v2/... and
/api/v1/...), `.api_token`, `.app`, `.admin(method, path, json=None)` -> parsed JSON,
`.request(method, path, **kwargs)` -> requests.Response with the token header set.
"""

from __future__ import annotations

import json as jsonlib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.common.http import SandboxServer
from sandbox.common.store import DocStore
from sandbox.pipedrive.app import PipedriveApp
from sandbox.pipedrive.config import DEFAULT_TOKEN, Config


@dataclass
class PipedriveSandbox:
    server: SandboxServer
    app: PipedriveApp
    api_token: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        return self.server.url

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        """Call an admin endpoint (`usage` or `/_admin/usage`) and return its parsed JSON."""
        path = path if path.startswith("/_admin/") else "/_admin/" + path.lstrip("/")
        data = jsonlib.dumps(json).encode() if json is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method.upper(),  # noqa: S310 - loopback
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback sandbox
                return jsonlib.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"admin {method} {path} -> {exc.code}: {exc.read()[:500]!r}") from None

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        headers = {"x-api-token": self.api_token, **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def close(self) -> None:
        self.server.stop()
        self.app.store.close()


Factory = Callable[..., PipedriveSandbox]


@pytest.fixture
def pipedrive_sandbox_factory(request: pytest.FixtureRequest) -> Iterator[Factory]:
    started: list[PipedriveSandbox] = []
    validator = request.getfixturevalue("pipedrive_spec_validator") \
        if "pipedrive_spec_validator" in request.fixturenames else None

    def make(plan: str | None = None, burst_limit: int | None = None, daily_budget: int | None = None,
             db_path: str | Path | None = None, search_burst_limit: int | None = None, seats: int = 1,
             api_token: str = DEFAULT_TOKEN, seed_value: str | None = None) -> PipedriveSandbox:
        config = Config.unlimited()
        if plan is not None:
            config = Config.for_plan(plan, seats)
        overrides = {"burst_limit": burst_limit, "daily_budget": daily_budget,
                     "search_burst_limit": search_burst_limit}
        config.update({k: v for k, v in overrides.items() if v is not None})
        app = PipedriveApp(DocStore(db_path or ":memory:"), config, api_token=api_token, seed_value=seed_value)
        server = SandboxServer(app, "127.0.0.1", 0).start(poll_interval=0.02)  # quick teardown per test
        handle = PipedriveSandbox(server, app, api_token)
        if validator is not None:
            validator.attach(handle)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.close()


@pytest.fixture
def pipedrive_sandbox(pipedrive_sandbox_factory: Factory) -> PipedriveSandbox:
    return pipedrive_sandbox_factory()


@pytest.fixture(scope="session")
def pipedrive_specs(request: pytest.FixtureRequest) -> Any:
    from sandbox.pipedrive.spec_check import SpecSet, find_specs_dir

    specs_dir = find_specs_dir(Path(str(request.config.rootpath)))
    if specs_dir is None:
        # a failure, not a skip: without the spec every request check would pass unseen
        pytest.fail("Pipedrive's OpenAPI files were not found beside the project (../shared/specs): set "
                    "PIPEDRIVE_SPECS_DIR to the folder that holds them", pytrace=False)
    return SpecSet(specs_dir)


@pytest.fixture
def pipedrive_spec_validator(pipedrive_specs: Any) -> Any:
    from sandbox.pipedrive.spec_check import SpecValidator

    return SpecValidator(pipedrive_specs)
