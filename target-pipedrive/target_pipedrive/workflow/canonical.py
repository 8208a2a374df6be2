"""Canonical forms: each turns a raw value (what the map wrote, what Pipedrive returns) into the form
two values are compared in; pure functions, no I/O. The rules are listed in normalize.py's docstring."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from html import unescape
from html.parser import HTMLParser
from typing import Any

_SPACE = re.compile(r"\s+")
_BLOCK_TAGS = {"p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
               "blockquote", "pre", "hr", "table"}


def text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None if not value else canonical_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    cleaned = _SPACE.sub(" ", unicodedata.normalize("NFC", str(value))).strip()
    return cleaned or None


class _TextContent(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(value: Any) -> str | None:
    """The text a reader sees in an HTML fragment (plain text passes through)."""
    if value is None or isinstance(value, dict | list):
        return text(value)
    parser = _TextContent()
    parser.feed(str(value))
    parser.close()
    return text(unescape("".join(parser.parts)))


def phone(value: Any) -> str | None:
    raw = text(value)
    if raw is None:
        return None
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return raw  # not a number at all: compare it as text
    return ("+" if raw.startswith("+") else "") + digits


def email(value: Any) -> str | None:
    raw = text(value)
    return raw.casefold() if raw else None


def number(value: Any) -> Decimal | str | None:
    """A Decimal for anything numeric (also numeric strings); other text stays text."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return Decimal(int(value))
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        return text(value)
    if not parsed.is_finite():
        return text(value)
    return parsed.normalize() if parsed != 0 else Decimal(0)


def day(value: Any) -> str | None:
    raw = text(value)
    if raw is None:
        return None
    return raw[:10] if re.match(r"\d{4}-\d{2}-\d{2}", raw) else raw


def clock(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("value")
    raw = text(value)
    if raw is None:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", raw)
    if not match:
        return raw
    return f"{int(match.group(1)):02d}:{match.group(2)}:{match.group(3) or '00'}"


def instant(value: Any) -> str | None:
    raw = text(value)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return raw
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def flag(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def ident(value: Any) -> int | str | None:
    """An id from an int, a numeric string or an object with an `id` ({id, label}, {id, email})."""
    if isinstance(value, dict):
        value = value.get("id", value.get("value"))
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return text(value)


def ids(value: Any) -> tuple[Any, ...] | None:
    """A set-field value: a list of ids or {id, label}, or v1's comma-separated string."""
    if value is None or value == "" or value == []:
        return None
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else [value]
    found = [ident(i) for i in items]
    return tuple(sorted((i for i in found if i is not None), key=str)) or None


def address(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("value") or value.get("formatted_address")
    raw = text(value)
    return raw.casefold() if raw else None


def monetary(value: Any) -> tuple[Any, str | None] | None:
    if isinstance(value, dict):
        amount, currency = value.get("value"), value.get("currency")
    else:
        amount, currency = value, None
    parsed = number(amount)
    if parsed is None:
        return None
    return parsed, (text(currency) or "").upper() or None


def same_money(want: Any, have: Any) -> bool:
    """Equal amounts; currencies must agree only when both sides name one."""
    (amount, currency), (other, other_currency) = want, have
    return bool(amount == other and (currency is None or other_currency is None or currency == other_currency))


def contacts(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A contact list (emails, phones, im) as a sorted tuple of (value, label, primary)."""
    def canon(items: Any) -> tuple[tuple[Any, str, bool], ...] | None:
        if items is None or items == "":
            return None
        items = items if isinstance(items, list) else [items]
        dicts = [i if isinstance(i, dict) else {"value": i} for i in items]
        dicts = [d for d in dicts if kind(d.get("value")) is not None]
        marked = any(flag(d.get("primary")) for d in dicts)
        rows = [(kind(d.get("value")), (text(d.get("label")) or "").casefold(),
                 bool(flag(d.get("primary"))) if marked else n == 0) for n, d in enumerate(dicts)]
        return tuple(sorted(rows, key=str)) or None
    return canon


def participants(items: Any) -> tuple[tuple[Any, bool], ...] | None:
    if not items:
        return None
    rows = [(ident(i.get("person_id")), bool(flag(i.get("primary")))) for i in items if isinstance(i, dict)]
    return tuple(sorted(rows, key=str)) or None


def prices(items: Any) -> tuple[tuple[Any, ...], ...] | None:
    if not items:
        return None
    rows = []
    for p in items:
        if isinstance(p, dict):
            rows.append(((text(p.get("currency")) or "").upper(), number(p.get("price")) or Decimal(0),
                         number(p.get("cost")) or Decimal(0), number(p.get("direct_cost")) or Decimal(0)))
    return tuple(sorted(rows, key=str)) or None


def generic(value: Any) -> Any:
    """Numbers numerically, booleans as flags, text as text, structures as canonical JSON."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, dict | list):
        return canonical_json(value) if value else None
    return text(value)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
