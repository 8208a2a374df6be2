"""Test-time check of requests (and optionally responses) against Pipedrive's official OpenAPI files.

Never imported by the emulator itself: only the pytest plugin uses it, and only when the
spec files exist (default `<project>/../shared/specs`, or `$PIPEDRIVE_SPECS_DIR`).
Loading both files takes a few seconds, so the plugin does it once per session.

Requests are mapped onto the spec's servers: `/api/v2/x` → v2 `/api/v2/x`; `/api/v1/x` and
`/v1/x` → v1 `/v1/x`. A few known spec defects are tolerated (see `_spec_gap`): comma-separated
lists in parameters the spec types as a single enum value (`fields=email,custom_fields`).
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.common.http import Request, Response

SPEC_FILES = {"v2": "pipedrive-openapi-v2.yaml", "v1": "pipedrive-openapi-v1.yaml"}
HOST = "https://api.pipedrive.com"


def find_specs_dir(start: Path) -> Path | None:
    env = os.environ.get("PIPEDRIVE_SPECS_DIR")
    candidates = [Path(env)] if env else []
    for parent in [start, *start.parents]:
        candidates += [parent / "shared" / "specs", parent.parent / "shared" / "specs"]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in SPEC_FILES.values()):
            return candidate
    return None


class SpecSet:
    """Both Pipedrive OpenAPI documents, loaded once (spec self-validation skipped: it is slow)."""

    def __init__(self, specs_dir: Path) -> None:
        import yaml
        from openapi_core import OpenAPI
        from openapi_core.configurations import Config

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        self.raw: dict[str, dict[str, Any]] = {}
        self.apis: dict[str, Any] = {}
        for version, name in SPEC_FILES.items():
            with open(specs_dir / name, encoding="utf-8") as handle:
                self.raw[version] = yaml.load(handle, Loader=loader)  # noqa: S506 - CSafeLoader/SafeLoader
            self.apis[version] = OpenAPI.from_dict(self.raw[version], config=Config(spec_validator_cls=None))

    def token_costs(self) -> dict[tuple[str, str, str], int]:
        """(version, METHOD, path) -> x-token-cost, for cross-checking the emulator's table."""
        out = {}
        for version, doc in self.raw.items():
            for path, ops in doc["paths"].items():
                for method, op in ops.items():
                    if isinstance(op, dict) and "x-token-cost" in op:
                        out[(version, method.upper(), path)] = int(op["x-token-cost"])
        return out


@dataclass
class _Req:
    """The request protocol openapi-core reads."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: Any
    full_url_pattern: str = ""


def to_openapi_request(request: Request) -> tuple[str, Any] | None:
    from openapi_core.datatypes import RequestParameters
    from werkzeug.datastructures import Headers, ImmutableMultiDict

    path = request.path
    if path.startswith("/api/v2/"):
        version, spec_path = "v2", path
    elif path.startswith("/api/v1/"):
        version, spec_path = "v1", path[len("/api"):]
    elif path.startswith("/v1/"):
        version, spec_path = "v1", path
    else:
        return None
    query = [(k, v) for k, values in request.query.items() for v in values]
    headers = Headers([(k, v) for k, v in request.headers.items()])
    params = RequestParameters(query=ImmutableMultiDict(query), header=headers, cookie=ImmutableMultiDict(),
                               path={})
    ctype = (request.header("Content-Type") or "").lower() or "application/json"
    req = _Req(HOST, spec_path, request.method.lower(), request.body or None, ctype, params,
               HOST + spec_path)
    return version, req


def _leaf_messages(error: Exception) -> list[str]:
    cause = getattr(error, "__cause__", None)
    schema_errors = getattr(cause, "schema_errors", None) or getattr(error, "schema_errors", None)
    return [getattr(e, "message", str(e)) for e in schema_errors] if schema_errors else [str(cause or error)]


def _spec_gap(error: Exception, request: Request) -> bool:
    """Known defects of the spec files (or of openapi-core) that a correct client still trips over."""
    name = getattr(error, "name", None)
    if name in ("fields", "include_fields") and "," in (request.arg(name) or ""):
        return True  # documented as comma-separated lists, typed as one enum value
    ctype = (request.header("Content-Type") or "").lower()
    if ctype.startswith("multipart/form-data"):
        # multipart fields are always text; openapi-core does not coerce "12" to the integer the spec names
        return all(re.fullmatch(r"'\d+' is not of type 'integer'", m) for m in _leaf_messages(error))
    return False


def _response_gap(request: Request, error: Exception) -> bool:
    """The v2 product search spec types `item.code` as integer (its example: 123); codes are strings."""
    return request.path.endswith("/products/search") and all(
        re.fullmatch(r"'.*' is not of type 'integer'", m) for m in _leaf_messages(error))


_V1_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$")


def _relax(value: Any) -> Any:
    """Undo two documented spec defects before validating a response: the spec marks almost nothing
    nullable although Pipedrive sends `null` for every empty value, and it types v1 timestamps as
    RFC 3339 `date-time` although v1 sends (and the spec's own examples show) `YYYY-MM-DD HH:MM:SS`."""
    if isinstance(value, dict):
        return {k: _relax(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_relax(v) for v in value]
    if isinstance(value, str):
        match = _V1_TIME.match(value)
        if match:
            return f"{match.group(1)}T{match.group(2)}Z"
    return value


@dataclass
class SpecFailure:
    method: str
    path: str
    query: str
    kind: str  # request | response
    error: str

    def __str__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"{self.kind}: {self.method} {self.path}{query}: {self.error}"


@dataclass
class SpecValidator:
    """Validates every request an attached sandbox receives; failures collect in `.failures`."""

    specs: SpecSet
    check_responses: bool = False
    failures: list[SpecFailure] = field(default_factory=list)
    checked: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, target: Any) -> SpecValidator:
        """Hook into a sandbox handle or an App (anything with `.app.observers` or `.observers`)."""
        app = getattr(target, "app", target)
        app.observers.append(self.observe)
        return self

    def observe(self, request: Request, response: Response) -> None:
        """Observer hook; never raises (a validator bug must not turn into a sandbox 500)."""
        try:
            with warnings.catch_warnings():
                # openapi-core warns that it cannot check the oauth2 scheme; auth is checked here instead
                warnings.simplefilter("ignore", UserWarning)
                errors = self.request_errors(request)
                if self.check_responses and not errors and not response.drop:
                    errors += self.response_errors(request, response)
        except Exception as exc:
            errors = [SpecFailure(request.method, request.path, request.raw_query, "validator",
                                  f"{type(exc).__name__}: {exc}")]
        with self._lock:
            self.checked += 1
            self.failures.extend(errors)

    def request_errors(self, request: Request) -> list[SpecFailure]:
        mapped = to_openapi_request(request)
        if mapped is None:
            return [SpecFailure(request.method, request.path, request.raw_query, "request", "path outside the API")]
        version, req = mapped
        found = []
        bearer = (request.header("Authorization") or "").lower().startswith("bearer ")
        if not request.header("x-api-token") and not bearer:
            found.append(SpecFailure(request.method, request.path, request.raw_query, "request",
                                     "no x-api-token header (or OAuth bearer): the only documented credentials"))
        for error in self.specs.apis[version].iter_request_errors(req):
            if not _spec_gap(error, request):
                cause = getattr(error, "__cause__", None)
                found.append(SpecFailure(request.method, request.path, request.raw_query, "request",
                                         f"{type(error).__name__}: {error}" + (f" ({cause})" if cause else "")))
        return found

    def response_errors(self, request: Request, response: Response) -> list[SpecFailure]:
        from openapi_core.testing import MockResponse

        mapped = to_openapi_request(request)
        ctype = response.headers.get("Content-Type", "application/json").split(";")[0]
        if mapped is None or response.status >= 400 or ctype != "application/json":
            return []  # binary downloads: openapi-core cannot check `format: byte` against raw bytes
        version, req = mapped
        body = json.dumps(_relax(json.loads(response.body))).encode()
        mock = MockResponse(body, response.status, dict(response.headers), ctype)
        return [SpecFailure(request.method, request.path, request.raw_query, "response",
                            f"{type(e).__name__}: {'; '.join(_leaf_messages(e))}")
                for e in self.specs.apis[version].iter_response_errors(req, mock)
                if not _response_gap(request, e)]

    def assert_clean(self) -> None:
        assert not self.failures, "requests that violate the Pipedrive spec:\n" + "\n".join(map(str, self.failures))

    def clear(self) -> None:
        with self._lock:
            self.failures.clear()
            self.checked = 0
