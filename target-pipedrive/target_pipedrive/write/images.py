"""Before/after images: which fields a write changes, what they held, and how to put them back.

Pipedrive answers with more than we send (defaults, derived sub-values, `primary` flags),
so comparisons are one-sided: a written value matches the stored one when every part we
wrote is there. The same comparison serves three purposes: skip writes that would change
nothing, detect whether a PATCH landed before a crash, and refuse to roll back a record
someone changed in Pipedrive after the migration.
"""

from __future__ import annotations

from typing import Any

CREATE_ONLY = {"add_time"}  # Pipedrive sets these at creation; never part of an update
_CONTACT_LISTS = {"emails", "phones", "im"}


def _num(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _time(value: Any) -> Any:
    if isinstance(value, str) and len(value) in (5, 8) and value[2:3] == ":":
        return value[:5]
    return value


def _contacts(items: Any) -> list[tuple[str, str, bool]] | Any:
    if not isinstance(items, list):
        return items
    rows = []
    any_primary = any(isinstance(i, dict) and i.get("primary") for i in items)
    for n, item in enumerate(items):
        if isinstance(item, str):
            item = {"value": item}
        primary = bool(item.get("primary")) if any_primary else n == 0
        rows.append((str(item.get("value", "")).strip(), str(item.get("label") or "work"), primary))
    return rows


def _participants(items: Any) -> Any:
    if not isinstance(items, list):
        return items
    return sorted((int(i.get("person_id")), bool(i.get("primary"))) for i in items if isinstance(i, dict))


def _prices(items: Any) -> Any:
    if not isinstance(items, list):
        return items
    return sorted((str(p.get("currency")), float(p.get("price") or 0), float(p.get("cost") or 0),
                   float(p.get("direct_cost") or 0)) for p in items if isinstance(p, dict))


def matches(field: str, written: Any, stored: Any) -> bool:
    """True when `stored` holds everything `written` put there."""
    if field in _CONTACT_LISTS:
        return _contacts(written or []) == _contacts(stored or [])
    if field == "participants":
        return _participants(written or []) == _participants(stored or [])
    if field == "prices":
        return _prices(written or []) == _prices(stored or [])
    if field in ("due_time", "duration"):
        return _time(written) == _time(stored)
    if field.startswith("pinned_to_") or field in ("active_flag",):
        return bool(written) == bool(stored)
    return value_matches(written, stored)


def value_matches(written: Any, stored: Any) -> bool:
    if written is None:
        return stored in (None, "", [], {})
    if isinstance(written, dict):
        if not isinstance(stored, dict):
            # a v2 enum read with labels ({id,label}) against a written id is handled by the caller
            return False
        return all(value_matches(v, stored.get(k)) for k, v in written.items())
    if isinstance(written, list):
        if not isinstance(stored, list):
            return False
        if all(isinstance(x, int | float | str) for x in written + stored):
            return sorted(map(str, map(_num, written))) == sorted(map(str, map(_num, stored)))
        return len(written) == len(stored) and all(value_matches(w, s) for w, s in zip(written, stored, strict=True))
    if isinstance(written, str) and isinstance(stored, str):
        return written.strip() == stored.strip() or _time(written) == _time(stored)
    return _num(written) == _num(stored)


def diff(body: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The part of `body` that would change `stored` (create-only fields left out)."""
    changed: dict[str, Any] = {}
    for field, value in body.items():
        if field in CREATE_ONLY or field.startswith("_"):
            continue
        if field == "custom_fields":
            current = stored.get("custom_fields") or {}
            sub = {k: v for k, v in (value or {}).items() if not value_matches(v, current.get(k))}
            if sub:
                changed["custom_fields"] = sub
        elif not matches(field, value, stored.get(field)):
            changed[field] = value
    return changed


def known(body: dict[str, Any], writes: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    """What Pipedrive holds, from this run's writes of the object (action, after-image; oldest first).

    An object this run created holds nothing but what the run wrote: a field none of its writes named is
    still empty. One it found already there (matched) may hold anything in a field never written: then
    None, unless the writes named every field of `body`.
    """
    merged: dict[str, Any] = {}
    for _action, image in writes:
        for field, value in image.items():
            if field == "custom_fields":
                merged["custom_fields"] = {**merged.get("custom_fields", {}), **(value or {})}
            else:
                merged[field] = value
    if not writes:
        return None
    if writes[0][0] == "created":
        return merged
    for field, value in body.items():
        if field in CREATE_ONLY or field.startswith("_"):
            continue
        if field not in merged or (field == "custom_fields" and not set(value or {}) <= set(merged[field])):
            return None
    return merged


def extract(fields: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The stored values of the fields named in `fields` (custom fields by key)."""
    image: dict[str, Any] = {}
    for field, value in fields.items():
        if field == "custom_fields":
            current = stored.get("custom_fields") or {}
            image["custom_fields"] = {k: current.get(k) for k in (value or {})}
        else:
            image[field] = stored.get(field)
    return image


def changed_since(after: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Fields whose stored value no longer matches what the migration wrote (names only)."""
    fields: list[str] = []
    for field, value in (after or {}).items():
        if field in CREATE_ONLY or field.startswith("_"):  # "_x": our own notes, not Pipedrive fields
            continue
        if field == "custom_fields":
            current = stored.get("custom_fields") or {}
            fields += [f"custom_fields.{k}" for k, v in (value or {}).items() if not value_matches(v, current.get(k))]
        elif not matches(field, value, stored.get(field)):
            fields.append(field)
    return fields


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value


def restore_body(before: dict[str, Any]) -> dict[str, Any]:
    """A write body that puts the before-image back (read shapes -> write shapes)."""
    body: dict[str, Any] = {}
    for field, value in before.items():
        if field == "custom_fields":
            body["custom_fields"] = {k: _restore_custom(v) for k, v in (value or {}).items()}
        elif field in _CONTACT_LISTS:
            body[field] = [{k: i[k] for k in ("value", "label", "primary") if k in i} for i in value or []]
        elif field == "participants":
            body[field] = [{"person_id": i["person_id"], "primary": bool(i.get("primary"))} for i in value or []]
        elif field == "prices":
            body[field] = [{k: p[k] for k in ("currency", "price", "cost", "direct_cost") if p.get(k) is not None}
                           for p in value or []]
        elif field in ("postal_address", "location"):
            body[field] = _clean(value) if value else None
        elif field.startswith("pinned_to_"):
            body[field] = 1 if value else 0
        else:
            body[field] = value
    return body


def _restore_custom(value: Any) -> Any:
    if isinstance(value, list) and not value:
        return None  # v2 clears sets with null, never []
    if isinstance(value, dict):
        if set(value) == {"id", "label"}:  # an enum read with include_option_labels
            return value["id"]
        cleaned = _clean(value)
        return cleaned or None
    return value
