"""Every record the Cliniko sandbox serves validates against the official OpenAPI schemas.

The spec (OpenAPI 3.0) is turned into JSON Schema (draft 4 semantics): `nullable` becomes a
null type, `$ref`s point into `definitions`, and objects are closed
(`additionalProperties: false`) so the sandbox cannot invent fields. Two readings of the
spec are deliberate: formats are checked strictly (UTC `Z` timestamps with whole seconds,
int64 ids as digit strings, decimals as strings), and the email patterns, written
upper-case only for Ruby's case-insensitive matching, are applied case-insensitively.
The spec's Ruby-style `\\h` is replaced by `[0-9a-fA-F]` in memory.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sandbox.cliniko import resources

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "cliniko-openapi.yaml"
DROP = {"nullable", "example", "examples", "deprecated", "x-tags", "externalDocs", "description", "title",
        "readOnly", "writeOnly", "discriminator", "xml"}
SOFT = {"archived_at:*", "cancelled_at:*", "deleted_at:*"}


def _convert(node: Any, url_prefix: str) -> Any:
    if isinstance(node, list):
        return [_convert(x, url_prefix) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROP:
            continue
        if key == "$ref":
            out["$ref"] = "#/definitions/" + value.rsplit("/", 1)[1]
        elif key == "properties":
            out["properties"] = {name: _convert(schema, url_prefix) for name, schema in value.items()}
        elif key == "pattern":
            pattern = value.replace("\\h", "[0-9a-fA-F]")
            out["pattern"] = ("(?i)" + pattern) if "@" in pattern else pattern
        else:
            out[key] = _convert(value, url_prefix)
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    if "properties" in out and out.get("type") in ("object", ["object", "null"]):
        out.setdefault("additionalProperties", False)
    return out


def _checker(url_prefix: str) -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())

    def text(fn):
        return lambda value: not isinstance(value, str) or fn(value)

    checker.checks("date-time")(text(lambda v: re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", v) is not None))
    checker.checks("date", raises=ValueError)(text(lambda v: date.fromisoformat(v) is not None and len(v) == 10))
    checker.checks("int64", raises=ValueError)(text(lambda v: re.fullmatch(r"\d{1,19}", v) and int(v) < 2**63))
    checker.checks("decimal")(text(lambda v: re.fullmatch(r"-?\d+(\.\d+)?", v) is not None))
    checker.checks("uuid", raises=ValueError)(text(lambda v: uuid.UUID(v) is not None))
    checker.checks("ipv4", raises=ValueError)(text(lambda v: ipaddress.IPv4Address(v) is not None))
    checker.checks("uri")(text(lambda v: re.match(r"https?://[^\s/]+(/\S*)?$", v) is not None))
    return checker


class SpecValidator:
    def __init__(self, spec: dict[str, Any], url_prefix: str) -> None:
        self.spec = spec
        self.definitions = _convert(spec["components"]["schemas"], url_prefix)
        self.checker = _checker(url_prefix)

    def _validator(self, schema: dict[str, Any]) -> jsonschema.Draft4Validator:
        return jsonschema.Draft4Validator({**schema, "definitions": self.definitions}, format_checker=self.checker)

    def errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in self._validator(schema).iter_errors(instance)]

    def component(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/definitions/{name}"}

    def response(self, path: str) -> dict[str, Any]:
        raw = self.spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        return _convert(raw, "")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.fail(f"the Cliniko OpenAPI file is expected at {SPEC}")
    with SPEC.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


@pytest.fixture
def validator(spec, cliniko_sandbox) -> SpecValidator:
    return SpecValidator(spec, cliniko_sandbox.base_url + "/")


def _filters_for(name: str) -> list[str]:
    return [q for q in SOFT if q.split(":")[0] in resources.get(name).filters]


def _links(node: Any) -> list[str]:
    """Every `links.self` URL inside a JSON value."""
    if isinstance(node, list):
        return [u for item in node for u in _links(item)]
    if not isinstance(node, dict):
        return []
    found = [node["links"]["self"]] if isinstance(node.get("links"), dict) and "self" in node["links"] else []
    return found + [u for key, value in node.items() if key != "links" for u in _links(value)]


LIST_PATHS = [*resources.RESOURCES, "practitioners/inactive"]


@pytest.mark.parametrize("path", LIST_PATHS)
def test_every_page_of_every_list_validates(cliniko_sandbox, validator, path):
    resource = path.split("/")[0]
    schema = validator.response(f"/{path}")
    response = cliniko_sandbox.get(path, per_page=100, q=_filters_for(resource))
    seen = 0
    while True:
        assert response.status_code == 200
        body = response.json()
        problems = validator.errors(schema, body)
        assert not problems, problems[:10]
        assert all(link.startswith(cliniko_sandbox.base_url + "/") for link in _links(body[resource]))
        seen += len(body[resource])
        if "next" not in body["links"]:
            break
        response = cliniko_sandbox._session.get(body["links"]["next"], timeout=30)
    assert seen == body["total_entries"] > 0


@pytest.mark.parametrize("resource", list(resources.RESOURCES))
def test_single_records_and_admin_created_ones_validate(cliniko_sandbox, validator, resource):
    first = cliniko_sandbox.get(resource, per_page=1).json()[resource][0]
    one = cliniko_sandbox.get(f"{resource}/{first['id']}")
    assert one.status_code == 200 and one.json() == first
    schema = validator.response(f"/{resource}/{{id}}")
    assert not validator.errors(schema, one.json())
    created = cliniko_sandbox.admin("POST", f"records/{resource}", {})
    assert not validator.errors(schema, created), validator.errors(schema, created)[:5]


def test_settings_and_current_user_validate(cliniko_sandbox, validator):
    settings = cliniko_sandbox.get("settings").json()
    assert not validator.errors(validator.component("Settings"), settings)
    sections = settings["patient_custom_fields_definition"]["sections"]
    insurance = next(s for s in sections if s["name"] == "Insurance coverage")
    kinds = {f["name"]: f["type"] for f in insurance["fields"]}
    assert kinds == {"Provider": "radiobuttons", "Policy number": "text", "Group": "text",
                     "Coverage details": "paragraph", "Insurance type": "radiobuttons"}
    assert {f["type"] for s in sections for f in s["fields"]} == {"text", "paragraph", "date", "checkboxes",
                                                                   "radiobuttons"}
    user = cliniko_sandbox.get("user").json()
    assert not validator.errors(validator.component("User"), user)


@pytest.mark.parametrize(("field", "value"), [
    ("id", 123), ("created_at", "2024-01-01T00:00:00+00:00"), ("created_at", "2024-01-01T00:00:00.123Z"),
    ("favourite_colour", "blue"), ("date_of_birth", "01/02/2000"), ("email", "not an email"),
    ("patient_phone_numbers", [{"number": "1", "phone_type": "Pager"}]), ("reminder_type", "Carrier pigeon"),
    ("links", {"self": "patients/1"}), ("first_name", None),
])
def test_the_validator_catches_bad_records(cliniko_sandbox, validator, field, value):
    record = cliniko_sandbox.get("patients", per_page=1).json()["patients"][0]
    assert not validator.errors(validator.component("Patient"), record)
    record[field] = value
    assert validator.errors(validator.component("Patient"), record), field


def test_the_validator_catches_bad_money_and_enums(cliniko_sandbox, validator):
    invoice = cliniko_sandbox.get("invoices", per_page=1).json()["invoices"][0]
    for field, value in (("total_amount", 12.5), ("status", 50), ("issue_date", "2024-02-30")):
        broken = {**invoice, field: value}
        assert validator.errors(validator.component("Invoice"), broken), field
