"""Strict v2 validation: unknown keys, wrong JSON types and bad formats are all 400s.

v2 does not coerce (no "5" for 5, no 1/0 for booleans) and rejects keys its schema does
not list, including custom-field hashes sent at the top level instead of inside
`custom_fields` (`Parameter '<key>' is not allowed for this request`, research notes §3.3).
Every problem is collected so one response names them all, as Pipedrive's does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.common.http import Request
from sandbox.pipedrive.clock import normalize_time, parse_rfc3339, valid_date
from sandbox.pipedrive.responses import ApiError, ValidationFailed, v2_error

HEX40 = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Spec:
    """Expected shape of one value. `props` objects are closed unless `open_object`."""

    kind: str  # string integer number boolean date datetime time object array custom any
    nullable: bool = False
    choices: tuple[Any, ...] = ()
    props: dict[str, Spec] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    items: Spec | None = None
    max_len: int | None = None
    non_empty: bool = False
    open_object: bool = False


def S(kind: str, **kw: Any) -> Spec:  # short name: schemas below read like type declarations
    return Spec(kind, **kw)


def read_json(request: Request) -> Any:
    """The JSON body of a v2 request; form or multipart bodies are refused like v2 does."""
    ctype = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if ctype and ctype != "application/json":
        raise ApiError(v2_error(f"Unsupported content type '{ctype}'. Use application/json", 415,
                                "ERR_UNSUPPORTED_MEDIA_TYPE"))
    if not request.body.strip():
        return None
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationFailed(["body: Request body is not valid JSON"]) from None


def check_body(body: Any, schema: dict[str, Spec], required: tuple[str, ...] = ()) -> list[str]:
    """Messages for every problem in a top-level object body (empty list when fine)."""
    if not isinstance(body, dict):
        return ["body: Request body must be a JSON object"]
    return _check_object(body, schema, required, "", closed=True)


def _check_object(value: dict[str, Any], props: dict[str, Spec], required: tuple[str, ...], path: str,
                  closed: bool) -> list[str]:
    errors: list[str] = []
    for key in required:
        if key not in value:
            name = f"{path}{key}"
            errors.append(f"{name}: Parameter '{name}' is required")
    for key, item in value.items():
        name = f"{path}{key}"
        spec = props.get(key)
        if spec is None:
            if closed:
                errors.append(f"{name}: Parameter '{name}' is not allowed for this request")
            continue
        errors.extend(check_value(item, spec, name))
    return errors


def check_value(value: Any, spec: Spec, name: str) -> list[str]:
    if value is None:
        return [] if spec.nullable else [f"{name}: Parameter '{name}' must not be null"]
    kind = spec.kind
    problem: str | None = None
    if kind in ("any", "custom"):
        return []
    if kind == "string":
        if not isinstance(value, str):
            problem = "must be a string"
        elif spec.non_empty and not value.strip():
            problem = "must not be empty"
        elif spec.max_len is not None and len(value) > spec.max_len:
            problem = f"must be at most {spec.max_len} characters"
    elif kind == "integer":
        if not is_int(value):
            problem = "must be an integer"
    elif kind == "number":
        if not is_number(value):
            problem = "must be a number"
    elif kind == "boolean":
        if not isinstance(value, bool):
            problem = "must be a boolean"
    elif kind == "date":
        if not valid_date(value):
            problem = "must be a date in format YYYY-MM-DD"
    elif kind == "datetime":
        if not isinstance(value, str) or parse_rfc3339(value) is None:
            return [f"{name}: This value is not a valid datetime"]
    elif kind in ("time", "duration"):
        if normalize_time(value, 23 if kind == "time" else 99) is None:
            return [f"{name}: This value is not a valid datetime"]
    elif kind == "object":
        if not isinstance(value, dict):
            problem = "must be an object"
        else:
            return _check_object(value, spec.props, spec.required, f"{name}.", closed=not spec.open_object)
    elif kind == "array":
        if not isinstance(value, list):
            problem = "must be an array"
        elif spec.items is not None:
            errors: list[str] = []
            for i, item in enumerate(value):
                errors.extend(check_value(item, spec.items, f"{name}[{i}]"))
            return errors
    if problem is None and spec.choices and value not in spec.choices:
        problem = "must be one of " + ", ".join(str(c) for c in spec.choices)
    return [f"{name}: Parameter '{name}' {problem}"] if problem else []


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- query parameters ---------------------------------------------------------------
class Query:
    """Typed, strict reads of v2 query parameters; problems accumulate in `errors`."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.errors: list[str] = []

    def text(self, name: str) -> str | None:
        return self.request.arg(name)

    def integer(self, name: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
        raw = self.request.arg(name)
        if raw is None or raw == "":
            return None
        if not re.fullmatch(r"-?\d+", raw):
            self.errors.append(f"{name}: Parameter '{name}' must be an integer")
            return None
        value = int(raw)
        if minimum is not None and value < minimum:
            self.errors.append(f"{name}: Parameter '{name}' must be >= {minimum}")
        if maximum is not None and value > maximum:
            self.errors.append(f"{name}: Parameter '{name}' must be <= {maximum}")
        return value

    def boolean(self, name: str) -> bool | None:
        raw = self.request.arg(name)
        if raw is None or raw == "":
            return None
        if raw not in ("true", "false"):
            self.errors.append(f"{name}: Parameter '{name}' must be a boolean (true or false)")
            return None
        return raw == "true"

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
        raw = self.request.arg(name)
        if raw is None or raw == "":
            return default
        if raw not in choices:
            self.errors.append(f"{name}: Parameter '{name}' must be one of {', '.join(choices)}")
            return default
        return raw

    def csv(self, name: str, choices: tuple[str, ...] | None = None, max_items: int | None = None) -> list[str]:
        raw = self.request.arg(name)
        if not raw:
            return []
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if choices is not None:
            bad = [p for p in parts if p not in choices]
            if bad:
                self.errors.append(f"{name}: Parameter '{name}' contains unknown value(s): {', '.join(bad)}")
        if max_items is not None and len(parts) > max_items:
            self.errors.append(f"{name}: Parameter '{name}' allows at most {max_items} values")
        return parts

    def int_csv(self, name: str, max_items: int) -> list[int] | None:
        parts = self.csv(name, max_items=max_items)
        if not parts:
            return None
        if not all(re.fullmatch(r"\d+", p) for p in parts):
            self.errors.append(f"{name}: Parameter '{name}' must be a comma separated list of integers")
            return None
        return [int(p) for p in parts]

    def timestamp(self, name: str) -> str | None:
        """RFC 3339 without fractional seconds (Pipedrive rejects them), normalised to `...Z`."""
        raw = self.request.arg(name)
        if not raw:
            return None
        moment = parse_rfc3339(raw, allow_fraction=False)
        if moment is None:
            self.errors.append(f"{name}: Parameter '{name}' must be an RFC 3339 date-time without fractions")
            return None
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)
