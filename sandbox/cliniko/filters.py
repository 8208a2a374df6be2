"""Cliniko `q[]` filters -> SQL over the docs table.

Syntax `field:OPvalue`; several filters are ANDed. Operators per field type follow the
API docs (two-character operators are matched before one-character ones). Choices where
the docs are silent, kept strict so client bugs surface:

* an unknown field, an operator the field's type does not support, or a value of the
  wrong shape is a 400 naming the filter (`q[]`), never silently ignored;
* DateTime values are ISO-8601 with `Z` or an offset (converted to UTC); fractional
  seconds are allowed and compared exactly against the second-precision data;
  date-only values are refused for DateTime fields;
* `~` (contains) and `~~` (`%` wildcards) are case-insensitive for ASCII, `=` is exact;
* archived/cancelled/deleted rows are excluded unless a filter names that field
  (`archived_at:*` lifts the exclusion, `archived_at:?` keeps only archived rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sandbox.cliniko.errors import ApiError
from sandbox.cliniko.resources import ARRAY, BOOLEAN, DATE, DATETIME, INT64, INTEGER, STRING, Resource, column_sql

TWO_CHAR = (">=", "<=", "!=", "~~", "!?")
ONE_CHAR = ("=", ">", "<", "~", "?", "*")

OPERATORS: dict[str, frozenset[str]] = {
    DATETIME: frozenset({">=", ">", "<=", "<", "?", "!?", "*"}),
    DATE: frozenset({"=", ">=", ">", "<=", "<", "?", "!?"}),
    INT64: frozenset({"=", "!=", ">=", ">", "<=", "<", "?", "!?"}),
    INTEGER: frozenset({"=", "!=", ">=", ">", "<=", "<", "?", "!?"}),
    STRING: frozenset({"=", "!=", "~", "~~", "?", "!?"}),
    BOOLEAN: frozenset({"=", "!="}),
    ARRAY: frozenset({"~"}),
}

_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")
_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
)
_DATE_PATTERN = re.compile(r"^[0-9*]{4}-[0-9*]{2}-[0-9*]{2}$")
_INT = re.compile(r"^-?\d{1,19}$")


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: str
    raw: str


@dataclass
class Where:
    """SQL conditions (ANDed) with their parameters."""

    clauses: list[str]
    params: list[object]

    @property
    def sql(self) -> str:
        return " AND ".join(f"({c})" for c in self.clauses)


def _fail(raw: str, reason: str) -> ApiError:
    return ApiError(400, f"Invalid filter q[]={raw}: {reason}", {"q[]": f"{raw}: {reason}"})


def parse(raw: str, resource: Resource, allowed: frozenset[str] | None = None) -> Filter:
    """Split one `field:OPvalue` string and check it against the resource's filter table."""
    field_name, sep, rest = raw.partition(":")
    if not sep or not _FIELD.match(field_name):
        raise _fail(raw, "expected field:OPERATORvalue")
    fields = resource.filters if allowed is None else {k: v for k, v in resource.filters.items() if k in allowed}
    if field_name not in fields:
        raise _fail(raw, f"unknown filter field {field_name!r} for {resource.name}; "
                         f"filterable: {', '.join(sorted(fields))}")
    op = next((o for o in TWO_CHAR if rest.startswith(o)), None) or next(
        (o for o in ONE_CHAR if rest.startswith(o)), None)
    if op is None:
        raise _fail(raw, "missing operator")
    kind = fields[field_name]
    if op not in OPERATORS[kind]:
        raise _fail(raw, f"operator {op!r} is not valid for {kind} field {field_name!r}; "
                         f"use one of {' '.join(sorted(OPERATORS[kind]))}")
    return Filter(field_name, op, rest[len(op):], raw)


def _utc_second(text: str, raw: str) -> tuple[str, bool]:
    """Canonical `YYYY-MM-DDTHH:MM:SSZ` of a DateTime value, and whether it had a fraction."""
    m = _DATETIME.match(text)
    if not m:
        raise _fail(raw, "DateTime values look like 2024-01-31T23:59:59Z")
    day, hh, mm, ss, frac, zone = m.groups()
    try:
        moment = datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}+00:00")
    except ValueError:
        raise _fail(raw, "not a valid date and time") from None
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    fractional = bool(frac) and int(frac[1:]) > 0
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), fractional


def _datetime_clause(col: str, f: Filter) -> tuple[str, list[object]]:
    value, fractional = _utc_second(f.value, f.raw)
    op = f.op
    if fractional:
        # Data has whole seconds: t.f lies strictly between t and t+1.
        if op in (">", ">="):
            nxt = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ") + timedelta(seconds=1)
            return f"{col} >= ?", [nxt.strftime("%Y-%m-%dT%H:%M:%SZ")]
        return f"{col} <= ?", [value]
    return f"{col} {op} ?", [value]


def _date_clause(col: str, f: Filter) -> tuple[str, list[object]]:
    if not _DATE_PATTERN.match(f.value):
        raise _fail(f.raw, "Date values look like 2024-01-31 (with * wildcards for =)")
    if "*" in f.value:
        if f.op != "=":
            raise _fail(f.raw, "wildcards are only valid with =")
        return f"{col} LIKE ?", [f.value.replace("*", "_")]
    try:
        date.fromisoformat(f.value)
    except ValueError:
        raise _fail(f.raw, "not a valid date") from None
    return f"{col} {f.op} ?", [f.value]


def _int(text: str, raw: str) -> int:
    if not _INT.match(text) or not -(2**63) <= int(text) < 2**63:
        raise _fail(raw, f"{text!r} is not an integer")
    return int(text)


def _numeric_clause(col: str, f: Filter) -> tuple[str, list[object]]:
    if f.op == "=":
        values = [_int(v, f.raw) for v in f.value.split(",")]
        if len(values) == 1:
            return f"{col} = ?", values
        return f"{col} IN ({', '.join('?' for _ in values)})", list(values)
    return f"{col} {f.op} ?", [_int(f.value, f.raw)]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("_", "\\_")


def _string_clause(col: str, f: Filter) -> tuple[str, list[object]]:
    if f.op == "~":
        return f"{col} LIKE ? ESCAPE '\\'", ["%" + _like_escape(f.value).replace("%", "\\%") + "%"]
    if f.op == "~~":
        return f"{col} LIKE ? ESCAPE '\\'", [_like_escape(f.value)]
    return f"{col} {f.op} ?", [f.value]


def _boolean_clause(col: str, f: Filter) -> tuple[str, list[object]]:
    if f.value not in ("true", "false"):
        raise _fail(f.raw, "Boolean values are true or false")
    return f"{col} {f.op} ?", [1 if f.value == "true" else 0]


def _array_clause(col: str, f: Filter) -> tuple[str, list[object]]:
    item = str(_int(f.value, f.raw))
    return f"EXISTS (SELECT 1 FROM json_each({col}) WHERE json_each.value = ?)", [item]


_BUILDERS = {
    DATETIME: _datetime_clause, DATE: _date_clause, INT64: _numeric_clause, INTEGER: _numeric_clause,
    STRING: _string_clause, BOOLEAN: _boolean_clause, ARRAY: _array_clause,
}


def to_sql(f: Filter, resource: Resource) -> tuple[str, list[object]]:
    """One parsed filter as an SQL condition."""
    col = column_sql(f.field)
    if f.op in ("?", "!?", "*"):
        if f.value:
            raise _fail(f.raw, f"operator {f.op!r} takes no value")
        return {"?": f"{col} IS NOT NULL", "!?": f"{col} IS NULL", "*": "1 = 1"}[f.op], []
    return _BUILDERS[resource.filters[f.field]](col, f)


def build_where(resource: Resource, raw_filters: list[str], allowed: frozenset[str] | None = None) -> Where:
    """Parse every raw filter, AND them, and hide soft-deleted rows the filters do not mention."""
    where = Where([], [])
    mentioned: set[str] = set()
    for raw in raw_filters:
        f = parse(raw, resource, allowed)
        sql, params = to_sql(f, resource)
        where.clauses.append(sql)
        where.params.extend(params)
        mentioned.add(f.field)
    for soft in resource.soft:
        if soft not in mentioned:
            where.clauses.append(f"{column_sql(soft)} IS NULL")
    return where
