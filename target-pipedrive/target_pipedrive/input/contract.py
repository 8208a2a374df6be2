"""The input contract: which streams exist and what their records look like (schemas/*.json).

Validation messages name the property path and the rule broken, never the value, so
they can go to logs and the audit table without leaking patient data.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# Streams in dependency order: definitions first, then parents, then children.
STREAMS = ("custom_fields", "activity_types", "persons", "products", "activities", "notes", "files")


@cache
def _common() -> dict[str, Any]:
    return json.loads(resources.files("target_pipedrive.schemas").joinpath("_common.json").read_text())


COMMON_REF = "_common.json#/$defs/"


def _inlined(node: Any) -> Any:
    """The schema with each `_common.json` reference replaced by its definition: the same rules, checked
    without a reference lookup per value (those lookups were a third of the target's validation time)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMMON_REF) and len(node) == 1:
            return _inlined(_common()["$defs"][ref.removeprefix(COMMON_REF)])
        return {key: _inlined(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(item) for item in node]
    return node


@cache
def schema(stream: str) -> dict[str, Any]:
    return json.loads(resources.files("target_pipedrive.schemas").joinpath(f"{stream}.json").read_text())


@cache
def _validator(stream: str) -> Draft202012Validator:
    return Draft202012Validator(_inlined(schema(stream)))


def _path(error: ValidationError) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "record"


def _describe(error: ValidationError) -> str:
    kind = error.validator
    if "propertyNames" in error.schema_path:
        return "custom field keys must be field labels, not 40-hex Pipedrive keys"
    if kind == "required":
        missing = [name for name in error.validator_value if name not in (error.instance or {})]
        return f"missing required property {', '.join(missing)}"
    if kind == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in (error.instance or {}) if k not in allowed)
        return f"unexpected property {', '.join(extra)} (not in the input contract)"
    if kind == "type":
        return f"must be of type {error.validator_value}"
    if kind in ("enum", "const"):
        return "is not one of the allowed values"
    if kind == "pattern":
        return "has the wrong format"
    if kind in ("minLength", "minItems"):
        return "must not be empty"
    if kind == "maxLength":
        return f"is longer than {error.validator_value} characters"
    if kind == "uniqueItems":
        return "has duplicate items"
    if kind == "anyOf":
        return "has the wrong type or format"
    return f"breaks the '{kind}' rule"


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return not value.isascii() and LONE_SURROGATE.search(value) is not None
    if isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            if not isinstance(item, int | float | bool | None) and _has_lone_surrogate(item):
                return True
    return False


def _invalid_text(value: Any, path: str) -> list[str]:
    """Paths of strings holding lone UTF-16 surrogates: not text, and no request body can encode them."""
    if isinstance(value, str):
        return [f"{path or 'record'}: contains invalid Unicode (a lone surrogate)"] if LONE_SURROGATE.search(value) \
            else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _invalid_text(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _invalid_text(v, f"{path}[{i}]")]
    return []


def validate(stream: str, record: dict[str, Any]) -> list[str]:
    """Value-free messages for every contract violation of `record` (empty when valid)."""
    errors = sorted(_validator(stream).iter_errors(record), key=lambda e: list(e.absolute_path))
    problems = [f"{_path(e)}: {_describe(e)}" for e in errors]
    if _has_lone_surrogate(record):  # the paths are worked out only for a record that has one
        problems += _invalid_text(record, "")
    return problems
