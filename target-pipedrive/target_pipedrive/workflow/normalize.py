"""How `verify` makes an expected value and a Pipedrive value comparable, field by field.

Pure functions (no I/O), so every rule is unit-tested. Each rule turns a raw value into
a canonical form; two values agree when their canonical forms are equal. The rules:

- text: Unicode NFC, surrounding and repeated whitespace collapsed; case kept.
- HTML (activity `note`, note `content`, text custom fields): compared as text content —
  tags dropped, entities decoded, whitespace collapsed — because Pipedrive may sanitise or
  re-serialise markup without changing what a reader sees.
- phones: only digits and a leading `+` count (`+61 400 000 001` = `+61400000001`);
  e-mails: trimmed and case-folded. Contact lists compare as sets of (value, label) plus
  which one is primary (the first when none is marked).
- dates: the `YYYY-MM-DD` part; times of day: `HH:MM:SS` (seconds default to 00);
  timestamps: the same instant in UTC whatever the format (v1 `YYYY-MM-DD HH:MM:SS` is UTC).
- numbers, monetary and prices: numerically (`"12.50"` = `12.5`); a monetary currency is
  compared case-insensitively, and only when both sides carry one.
- flags: `true`/`1`/`"1"` are the same; ids of users, persons, options compare as integers.
- enum/set custom fields: option ids (a plain id, `{id, label}`, or v1's `"1,2"`); shown
  by label. Users are shown by e-mail, persons by source key, activity types by name.
- addresses: the one-line text (`value`, else `formatted_address`), whitespace/case-folded;
  components Pipedrive derives by geocoding are ignored.
- field definitions' `options`: every expected label must exist (extra options are fine).

Verdicts: `match`, `mismatch`, `missing_in_pipedrive` (we wrote a value, Pipedrive's is
empty); `object_missing` is decided by the caller for an object that is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from target_pipedrive.workflow.canonical import (
    address,
    canonical_json,
    clock,
    contacts,
    day,
    email,
    flag,
    generic,
    html_text,
    ident,
    ids,
    instant,
    monetary,
    number,
    participants,
    phone,
    prices,
    same_money,
    text,
)

MATCH, MISMATCH, MISSING, OBJECT_MISSING = "match", "mismatch", "missing_in_pipedrive", "object_missing"
VERDICTS = (MATCH, MISMATCH, MISSING, OBJECT_MISSING)
OBJECT = "(object)"  # the field name of a row about the object itself, not one of its fields
TEXT_FIELD_TYPES = {"varchar", "varchar_auto", "text"}


@dataclass
class Context:
    """What ids mean in this account: decoded for display, never needed for equality."""

    field_names: dict[str, str] = field(default_factory=dict)  # custom field key -> label
    field_types: dict[str, str] = field(default_factory=dict)  # custom field key -> field_type
    options: dict[str, dict[int, str]] = field(default_factory=dict)  # key -> option id -> label
    users: dict[int, str] = field(default_factory=dict)  # user id -> e-mail
    activity_types: dict[str, str] = field(default_factory=dict)  # key_string -> name
    persons: dict[int, str] = field(default_factory=dict)  # person id -> source key


# -- display --------------------------------------------------------------------------------------
def show(value: Any) -> str:
    """How a raw value appears in the diff (empty for None)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return canonical_json(value)


def _show_contacts(value: Any) -> str:
    if not isinstance(value, list):
        return show(value)
    parts = []
    for item in value:
        item = item if isinstance(item, dict) else {"value": item}
        tags = [str(t) for t in (item.get("label"), "primary" if flag(item.get("primary")) else None) if t]
        parts.append(str(item.get("value", "")) + (f" ({', '.join(tags)})" if tags else ""))
    return "; ".join(parts)


def _named(table: dict[Any, str], value: Any) -> str:
    key = ident(value)
    return table.get(key, show(value)) if key is not None else show(value)  # type: ignore[arg-type]


# -- rules per field --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    canon: Callable[[Any], Any]
    display: Callable[[Any, Context], str] = lambda v, _ctx: show(v)
    subset: bool = False  # expected items must be present; extra items in Pipedrive are fine
    equal: Callable[[Any, Any], bool] | None = None  # canonical forms agree (default: ==)


def _users(v: Any, ctx: Context) -> str:
    return _named(ctx.users, v)


def _persons(v: Any, ctx: Context) -> str:
    return _named(ctx.persons, v)


def _participants(v: Any, ctx: Context) -> str:
    if not isinstance(v, list):
        return show(v)
    return "; ".join(_persons(i.get("person_id"), ctx) + (" (primary)" if flag(i.get("primary")) else "")
                     for i in v if isinstance(i, dict))


def _activity_type(v: Any, ctx: Context) -> str:
    return ctx.activity_types.get(str(v), show(v)) if v is not None else ""


def _option_labels(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not value:
        return None
    return tuple(sorted({text(o.get("label") if isinstance(o, dict) else o) or "" for o in value}))


def _show_options(value: Any, _ctx: Context) -> str:
    labels = _option_labels(value)
    return "; ".join(labels) if labels else show(value)


def _show_prices(value: Any, _ctx: Context) -> str:
    if not isinstance(value, list):
        return show(value)
    return "; ".join(f"{p.get('price')} {p.get('currency')}" for p in value if isinstance(p, dict))


_TEXT = Rule(text)
RULES: dict[str, Rule] = {
    "emails": Rule(contacts(email), lambda v, _c: _show_contacts(v)),
    "phones": Rule(contacts(phone), lambda v, _c: _show_contacts(v)),
    "im": Rule(contacts(text), lambda v, _c: _show_contacts(v)),
    "owner_id": Rule(ident, _users),
    "user_id": Rule(ident, _users),
    "person_id": Rule(ident, _persons),
    "participants": Rule(participants, _participants),
    "type": Rule(lambda v: (text(v) or "").casefold() or None, _activity_type),
    "due_date": Rule(day), "birthday": Rule(day),
    "due_time": Rule(clock), "duration": Rule(clock),
    "add_time": Rule(instant),
    "done": Rule(flag), "busy": Rule(flag), "is_linkable": Rule(flag), "active_flag": Rule(flag),
    "pinned_to_person_flag": Rule(flag),
    "visible_to": Rule(number), "tax": Rule(number),
    "marketing_status": Rule(lambda v: (text(v) or "").casefold() or None),
    "location": Rule(address), "postal_address": Rule(address),
    "note": Rule(html_text), "content": Rule(html_text), "description": Rule(html_text),
    "public_description": Rule(html_text),
    "prices": Rule(prices, _show_prices),
    "options": Rule(_option_labels, _show_options, subset=True),
    "field_type": Rule(lambda v: (text(v) or "").casefold() or None),
}


def _show_money(value: Any, _ctx: Context) -> str:
    if not isinstance(value, dict):
        return show(value)
    return " ".join(str(x) for x in (value.get("value"), value.get("currency")) if x is not None)


def custom_rule(key: str, ctx: Context) -> Rule:
    """The rule for a custom field value, by the field's type (unknown type: generic)."""
    ftype = ctx.field_types.get(key, "")
    options = ctx.options.get(key, {})

    def labels(v: Any, _ctx: Context) -> str:
        found = ids(v)
        return "; ".join(options.get(i, str(i)) if isinstance(i, int) else str(i) for i in found) if found else ""

    if ftype in TEXT_FIELD_TYPES:
        return Rule(html_text)
    if ftype == "phone":
        return Rule(phone)
    if ftype == "double":
        return Rule(number)
    if ftype == "monetary":
        return Rule(monetary, equal=same_money, display=_show_money)
    if ftype == "date":
        return Rule(day)
    if ftype in ("enum", "set"):
        return Rule(ids, labels)
    if ftype == "user":
        return Rule(ident, _users)
    if ftype == "address":
        return Rule(address, lambda v, _c: show(v.get("value") or v.get("formatted_address"))
                    if isinstance(v, dict) else show(v))
    if ftype == "time":
        return Rule(clock)
    if ftype in ("daterange", "timerange"):
        norm = day if ftype == "daterange" else clock
        return Rule(lambda v: (norm(v.get("value")), norm(v.get("until"))) if isinstance(v, dict) and v else None)
    return Rule(generic)


def rule_for(name: str, ctx: Context) -> Rule:
    if name.startswith("custom_fields."):
        return custom_rule(name.split(".", 1)[1], ctx)
    return RULES.get(name, Rule(generic) if name not in ("name", "subject", "code") else _TEXT)


# -- verdict ----------------------------------------------------------------------------------------
def _empty(value: Any) -> bool:
    return value is None or value == "" or value == () or value == []


def verdict(rule: Rule, expected: Any, actual: Any) -> str:
    """match / mismatch / missing_in_pipedrive for one field (expected = what the migration wrote)."""
    try:
        want, have = rule.canon(expected), rule.canon(actual)
    except (TypeError, ValueError, AttributeError):  # a shape the rule does not know: compare as JSON
        want, have = generic(expected), generic(actual)
    if _empty(want):
        return MATCH if _empty(have) else MISMATCH
    if _empty(have):
        return MISSING
    if rule.subset and isinstance(want, tuple) and isinstance(have, tuple):
        return MATCH if set(want) <= set(have) else MISMATCH
    if rule.equal is not None:
        return MATCH if rule.equal(want, have) else MISMATCH
    return MATCH if want == have else MISMATCH


@dataclass(frozen=True)
class FieldResult:
    field: str  # display name: `custom_fields.<label>` for custom fields
    expected: str
    actual: str
    verdict: str


def compare_field(name: str, expected: Any, actual: Any, ctx: Context) -> FieldResult:
    rule = rule_for(name, ctx)
    label = name
    if name.startswith("custom_fields."):
        key = name.split(".", 1)[1]
        label = f"custom_fields.{ctx.field_names.get(key, key)}"
    return FieldResult(label, rule.display(expected, ctx), rule.display(actual, ctx),
                       verdict(rule, expected, actual))


def compare_object(expected: dict[str, Any], actual: dict[str, Any] | None, ctx: Context) -> list[FieldResult]:
    """Every field the migration wrote, compared; one `(object)` row when the object is gone (or when
    the migration wrote no field of it, e.g. an activity type adopted as it was)."""
    if actual is None:
        return [FieldResult(OBJECT, "present", "", OBJECT_MISSING)]
    results = []
    for name, value in expected.items():
        if name.startswith("_"):  # our own bookkeeping (e.g. _sha256, _entity), not a Pipedrive field
            continue
        if name == "custom_fields":
            stored = actual.get("custom_fields") or {}
            for key, sub in (value or {}).items():
                results.append(compare_field(f"custom_fields.{key}", sub, stored.get(key), ctx))
        else:
            results.append(compare_field(name, value, actual.get(name), ctx))
    return results or [FieldResult(OBJECT, "present", "present", MATCH)]  # adopted as it was: existence only


def merge_images(images: list[dict[str, Any] | None]) -> dict[str, Any]:
    """The values a sequence of writes left, oldest first (custom fields merged per key)."""
    merged: dict[str, Any] = {}
    for image in images:
        for name, value in (image or {}).items():
            if name == "custom_fields" and isinstance(value, dict):
                merged["custom_fields"] = {**(merged.get("custom_fields") or {}), **value}
            else:
                merged[name] = value
    return merged
