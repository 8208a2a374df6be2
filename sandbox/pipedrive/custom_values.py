"""v2 `custom_fields` values: the accepted shape per field type, and how reads render them.

Shapes follow the v2 migration guide (research notes §5.4): text types are strings,
`double` a number, `monetary` `{value, currency}`, `enum` an option id, `set` a non-empty
list of option ids (`[]` is rejected, `null` clears), `date` `YYYY-MM-DD`, ranges
`{value, until}`, `time` `{value, timezone_name?, timezone_id?}`, `address` an object whose
only required part is `value`, and `user`/`org`/`people` plain ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.pipedrive.clock import normalize_time, valid_date
from sandbox.pipedrive.fields import ADDRESS_PARTS
from sandbox.pipedrive.validation import HEX40, is_int, is_number

TEXT_LIMITS = {"varchar": 255, "varchar_auto": 255, "phone": 255, "text": 65_535}

Exists = Callable[[str, int], bool]  # (kind, id) -> does it exist


def validate_custom_fields(value: Any, fields: dict[str, dict[str, Any]], exists: Exists,
                           default_currency: str) -> tuple[dict[str, Any], list[str]]:
    """Normalised values by key, and error messages (unknown keys, bad shapes, bad option ids)."""
    if not isinstance(value, dict):
        return {}, ["custom_fields: Parameter 'custom_fields' must be an object"]
    clean: dict[str, Any] = {}
    errors: list[str] = []
    for key, raw in value.items():
        name = f"custom_fields.{key}"
        field = fields.get(key)
        if field is None:
            reason = "is not a known custom field" if HEX40.match(str(key)) else "is not allowed for this request"
            errors.append(f"{name}: Parameter '{key}' {reason}")
            continue
        if raw is None:
            clean[key] = None
            continue
        normalized, problem = _one(field, raw, exists, default_currency)
        if problem:
            errors.append(f"{name}: {problem}")
        else:
            clean[key] = normalized
    return clean, errors


def _option_ids(field: dict[str, Any]) -> set[int]:
    return {o["id"] for o in field["options"] or []}


def _closed(raw: dict[str, Any], allowed: tuple[str, ...]) -> str | None:
    extra = sorted(set(raw) - set(allowed))
    return f"unknown propert{'ies' if len(extra) > 1 else 'y'} {', '.join(extra)}" if extra else None


def _one(field: dict[str, Any], raw: Any, exists: Exists, currency: str) -> tuple[Any, str | None]:
    ftype = field["field_type"]
    if ftype in TEXT_LIMITS:
        if not isinstance(raw, str):
            return None, "must be a string"
        if len(raw) > TEXT_LIMITS[ftype]:
            return None, f"must be at most {TEXT_LIMITS[ftype]} characters"
        return raw, None
    if ftype == "double":
        return (raw, None) if is_number(raw) else (None, "must be a number")
    if ftype == "monetary":
        if not isinstance(raw, dict) or "value" not in raw:
            return None, "must be an object with 'value' and optional 'currency'"
        problem = _closed(raw, ("value", "currency"))
        if problem or not is_number(raw["value"]):
            return None, problem or "value must be a number"
        cur = raw.get("currency", currency)
        if not (isinstance(cur, str) and len(cur) == 3 and cur.isalpha()):
            return None, "currency must be a 3-letter currency code"
        return {"value": raw["value"], "currency": cur.upper()}, None
    if ftype == "enum":
        if not is_int(raw):
            return None, "must be an option id (integer)"
        return (raw, None) if raw in _option_ids(field) else (None, f"option id {raw} does not exist")
    if ftype == "set":
        if not isinstance(raw, list) or not raw:
            return None, "must be a non-empty array of option ids (use null to clear)"
        if not all(is_int(i) for i in raw):
            return None, "must be an array of option ids (integers)"
        missing = [i for i in raw if i not in _option_ids(field)]
        if missing:
            return None, f"option id(s) {', '.join(map(str, missing))} do not exist"
        return sorted(set(raw), key=raw.index), None
    if ftype == "date":
        return (raw, None) if valid_date(raw) else (None, "must be a date in format YYYY-MM-DD")
    if ftype == "daterange":
        if not isinstance(raw, dict) or _closed(raw, ("value", "until")) or not valid_date(raw.get("value")) \
                or not valid_date(raw.get("until")):
            return None, "must be an object {value: YYYY-MM-DD, until: YYYY-MM-DD}"
        return {"value": raw["value"], "until": raw["until"]}, None
    if ftype in ("time", "timerange"):
        return _time(ftype, raw)
    if ftype == "address":
        if not isinstance(raw, dict) or not isinstance(raw.get("value"), str):
            return None, "must be an object with a string 'value'"
        problem = _closed(raw, ("value", *ADDRESS_PARTS))
        if problem or any(raw.get(p) is not None and not isinstance(raw[p], str) for p in ADDRESS_PARTS):
            return None, problem or "address parts must be strings"
        return {"value": raw["value"], **{p: raw.get(p) for p in ADDRESS_PARTS}}, None
    if ftype in ("user", "org", "people"):
        if not is_int(raw):
            return None, "must be an id (integer)"
        kind = {"user": "user", "org": "organization", "people": "person"}[ftype]
        return (raw, None) if exists(kind, raw) else (None, f"{kind} {raw} does not exist")
    return raw, None  # visible_to and other system-only types


def _time(ftype: str, raw: Any) -> tuple[Any, str | None]:
    keys = ("value", "timezone_name", "timezone_id") + (("until",) if ftype == "timerange" else ())
    if not isinstance(raw, dict) or _closed(raw, keys):
        return None, f"must be an object with {', '.join(keys)}"
    start = normalize_time(raw.get("value"))
    end = normalize_time(raw.get("until")) if ftype == "timerange" else None
    if start is None or (ftype == "timerange" and end is None):
        return None, "times must be HH:MM:SS"
    out = {"value": start, "timezone_name": raw.get("timezone_name"), "timezone_id": raw.get("timezone_id")}
    if ftype == "timerange":
        out["until"] = end
    return out, None


def render_custom_fields(stored: dict[str, Any], fields: dict[str, dict[str, Any]], only: list[str],
                         option_labels: bool) -> dict[str, Any]:
    """Every active custom field (null when unset), optionally only `only`, ids or {id, label}."""
    out: dict[str, Any] = {}
    for key, field in fields.items():
        if only and key not in only:
            continue
        value = stored.get(key)
        if option_labels and value is not None and field["field_type"] in ("enum", "set"):
            labels = {o["id"]: o["label"] for o in field["options"] or []}
            if field["field_type"] == "enum":
                value = {"id": value, "label": labels.get(value)}
            else:
                value = [{"id": i, "label": labels.get(i)} for i in value]
        out[key] = value
    return out
