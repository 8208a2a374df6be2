"""Shaping a parsed Cliniko row into a record: valid text, link ids, only the schema's fields.

Pure functions, no I/O. The SDK's type conformance walks every value of every record to
convert Python dates, bytes and Decimals; rows parsed from JSON have none, so the tap
turns it off (`TYPE_CONFORMANCE_LEVEL = NONE`) and does here, compiled once per stream,
the two things it still did for us: drop fields the schema does not know, and read a
boolean-only field's 0/1 as false/true. It was a third of the tap's CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # the only way a surrogate reaches a JSON page


def may_hold_surrogates(page: bytes) -> bool:
    """False when no row of this page can contain a lone surrogate (then `valid_text` is skipped)."""
    return SURROGATE_ESCAPE.search(page) is not None


def valid_text(value: Any) -> Any:
    """Lone UTF-16 surrogates (`"\\ud800"` in Cliniko's JSON) become U+FFFD: they are not text, and a
    loader that encodes the record as UTF-8 would fail on them."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {k: valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [valid_text(v) for v in value]
    return value


def link_id(link: Any) -> str | None:
    """`{"links": {"self": ".../patients/123"}}` → "123"; anything else → None."""
    if not isinstance(link, dict):
        return None
    links = link.get("links")
    url = links.get("self") if isinstance(links, dict) else None
    if not isinstance(url, str):
        return None
    if "?" in url or "#" in url:
        url = url.split("?", 1)[0].split("#", 1)[0]
    head, _, last = url.rstrip("/").rpartition("/")
    if not head or head.endswith("/"):  # "https://123": a host, not a path segment
        return None
    return last if last.isdigit() and last.isascii() else None


def link_pairs(properties: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(link, `<link>_id`) for every link object the schema declares an id column for."""
    return tuple((name[:-3], name) for name in properties if name.endswith("_id") and name[:-3] in properties)


def add_link_ids(row: dict[str, Any], pairs: tuple[tuple[str, str], ...]) -> None:
    """Set `<name>_id` beside every link object (a row's own `<name>_id` wins). Missing, null and
    `{}` relations all become `null` link and id: Cliniko omits absent relations, and every record
    of a stream has the same columns."""
    for name, target in pairs:
        link = row.setdefault(name, None)
        if target not in row:
            row[target] = link_id(link)


def _boolean_only(schema: dict[str, Any]) -> bool:
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    return "boolean" in types and set(types) <= {"boolean", "null"}


@dataclass(frozen=True)
class RowShape:
    """A stream's schema compiled for the per-row pass."""

    known: frozenset[str]
    booleans: frozenset[str]
    links: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, schema: dict[str, Any]) -> RowShape:
        props = schema.get("properties", {})
        return cls(frozenset(props), frozenset(n for n, s in props.items() if _boolean_only(s)), link_pairs(props))

    def apply(self, row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The record, and the names of the fields it dropped as unknown to the schema."""
        add_link_ids(row, self.links)
        unknown = [name for name in row if name not in self.known]
        for name in unknown:
            del row[name]
        for name in self.booleans:
            value = row.get(name)
            if value is not None and not isinstance(value, bool):
                row[name] = value != 0
        return row, unknown
