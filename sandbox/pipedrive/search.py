"""v2 search: `/persons/search`, `/products/search` and `/itemSearch/field`.

Persons/products search is not case-sensitive; `exact_match=true` means the whole field
value equals the term, otherwise the term may appear anywhere. Only custom fields of the
searchable types (address, varchar, text, varchar_auto, double, monetary, phone) are
searched. `itemSearch/field` is case-sensitive with `match=exact|beginning|middle`. New
or changed items are searchable at once (the real indexing delay is undocumented), and
soft-deleted items never match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive.fields import SEARCHABLE_TYPES
from sandbox.pipedrive.pagination import offset_cursor_page
from sandbox.pipedrive.responses import ValidationFailed, ok
from sandbox.pipedrive.validation import Query

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

PERSON_FIELDS = ("custom_fields", "email", "notes", "phone", "name")
PRODUCT_FIELDS = ("code", "custom_fields", "name")
_CUSTOM_TEXT = "CASE WHEN c.type = 'object' THEN json_extract(c.value, '$.value') ELSE CAST(c.value AS TEXT) END"


def register(app: PipedriveApp) -> None:
    app.v2("GET", "/persons/search", lambda r: search(app, r, "person"))
    app.v2("GET", "/products/search", lambda r: search(app, r, "product"))
    app.v2("GET", "/itemSearch/field", lambda r: search_field(app, r))


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Matcher:
    """Builds `lower(<expr>) = ?` or `LIKE` clauses with their parameters."""

    def __init__(self, term: str, exact: bool) -> None:
        self.term = term.lower()
        self.exact = exact

    def clause(self, expr: str) -> tuple[str, list[Any]]:
        if self.exact:
            return f"lower({expr}) = ?", [self.term]
        return f"lower({expr}) LIKE ? ESCAPE '\\'", [f"%{_escape_like(self.term)}%"]

    def matches(self, text: Any) -> bool:
        if text is None:
            return False
        value = str(text).lower()
        return value == self.term if self.exact else self.term in value


def _custom_keys(app: PipedriveApp, kind: str) -> list[str]:
    return [k for k, f in app.fields.custom(kind).items() if f["field_type"] in SEARCHABLE_TYPES]


def _custom_clause(keys: list[str], matcher: Matcher) -> tuple[str, list[Any]]:
    if not keys:
        return "0", []
    text, args = matcher.clause(_CUSTOM_TEXT)
    sql = (f"EXISTS (SELECT 1 FROM json_each(body, '$.custom_fields') c WHERE c.key IN "
           f"({', '.join('?' * len(keys))}) AND ({text}")
    params: list[Any] = [*keys, *args]
    try:
        number = float(matcher.term)
    except ValueError:
        return sql + "))", params
    return sql + " OR (c.type IN ('integer', 'real') AND c.value = ?)))", [*params, number]


def search(app: PipedriveApp, request: Request, kind: str) -> Response:
    query = Query(request)
    allowed = PERSON_FIELDS if kind == "person" else PRODUCT_FIELDS
    term = query.text("term")
    exact = query.boolean("exact_match") or False
    chosen = query.csv("fields", choices=allowed) or list(allowed)
    org_filter = query.integer("organization_id") if kind == "person" else None
    query.csv("include_fields", choices=("person.picture",) if kind == "person" else ("product.price",))
    if term is None:
        query.errors.append("term: Parameter 'term' is required")
    elif len(term.strip()) < (1 if exact else 2):
        query.errors.append(f"term: Parameter 'term' must be at least {1 if exact else 2} characters long")
    query.raise_if_errors()
    assert term is not None
    matcher = Matcher(term.strip(), exact)
    keys = _custom_keys(app, kind)
    clauses: list[str] = []
    params: list[Any] = []
    simple = {"name": "json_extract(body, '$.name')", "notes": "json_extract(body, '$.notes')",
              "code": "json_extract(body, '$.code')"}
    for name in chosen:
        if name in simple:
            sql, args = matcher.clause(simple[name])
        elif name in ("email", "phone"):
            inner, args = matcher.clause("json_extract(e.value, '$.value')")
            sql = f"EXISTS (SELECT 1 FROM json_each(body, '$.{name}s') e WHERE {inner})"
        else:
            sql, args = _custom_clause(keys, matcher)
        clauses.append(sql)
        params += args
    where = f"json_extract(body, '$.is_deleted') = 0 AND ({' OR '.join(clauses)})"
    rows = [] if org_filter is not None else app.repo.all(kind, where, tuple(params))
    scored = sorted(((_score(row, matcher, chosen), row) for row in rows), key=lambda pair: (-pair[0], pair[1]["id"]))
    page, next_cursor = offset_cursor_page(scored, request)
    items = [{"result_score": score, "item": _item(kind, row, keys, matcher)} for score, row in page]
    return ok({"items": items}, {"next_cursor": next_cursor})


def _score(row: dict[str, Any], matcher: Matcher, chosen: list[str]) -> float:
    whole = Matcher(matcher.term, exact=True)
    values = [row.get("name"), row.get("code"), *[e["value"] for e in row.get("emails", [])]]
    return 1.0 if any(whole.matches(v) for v in values) else 0.5


def _custom_hits(row: dict[str, Any], keys: list[str], matcher: Matcher) -> list[str]:
    hits = []
    for key in keys:
        value = (row.get("custom_fields") or {}).get(key)
        text = value.get("value") if isinstance(value, dict) else value
        if text is not None and (matcher.matches(text) or (isinstance(text, int | float) and _same_number(text,
                                                                                                         matcher))):
            hits.append(str(text))
    return hits


def _same_number(value: float, matcher: Matcher) -> bool:
    try:
        return float(matcher.term) == float(value)
    except ValueError:
        return False


def _item(kind: str, row: dict[str, Any], keys: list[str], matcher: Matcher) -> dict[str, Any]:
    base = {"id": row["id"], "type": kind, "name": row["name"], "visible_to": row["visible_to"],
            "owner": {"id": row["owner_id"]}, "custom_fields": _custom_hits(row, keys, matcher)}
    if kind == "person":
        base.update({"phones": [p["value"] for p in row.get("phones", [])],
                     "emails": [e["value"] for e in row.get("emails", [])],
                     "organization": None, "notes": [row["notes"]] if matcher.matches(row.get("notes")) else []})
    else:
        base["code"] = row.get("code")
    return base


def search_field(app: PipedriveApp, request: Request) -> Response:
    """`/itemSearch/field`: items whose `field` value matches `term`, case-sensitively."""
    query = Query(request)
    entity = query.choice("entity_type", ("deal", "lead", "person", "organization", "product", "project"))
    match = query.choice("match", ("exact", "beginning", "middle"), "exact") or "exact"
    term = query.text("term")
    field_key = query.text("field")
    for name, value in (("entity_type", entity), ("term", term), ("field", field_key)):
        if not value:
            query.errors.append(f"{name}: Parameter '{name}' is required")
    if term and len(term) < (1 if match == "exact" else 2):
        query.errors.append("term: Parameter 'term' is too short")
    query.raise_if_errors()
    assert entity is not None and term is not None and field_key is not None
    if entity not in ("person", "product"):
        rows: list[dict[str, Any]] = []
    else:
        field = app.fields.by_key(entity, field_key)
        if field is None or (field["is_custom"] and field["field_type"] not in SEARCHABLE_TYPES):
            raise ValidationFailed([f"field: Field '{field_key}' is not searchable for {entity}"])
        rows = [r for r in app.repo.all(entity, "json_extract(body, '$.is_deleted') = 0")
                if _field_matches(r, field, term, match)]
    page, next_cursor = offset_cursor_page(rows, request)
    return ok([{"id": r["id"], "name": r["name"]} for r in page], {"next_cursor": next_cursor})


def _field_matches(row: dict[str, Any], field: dict[str, Any], term: str, match: str) -> bool:
    value = (row.get("custom_fields") or {}).get(field["key"]) if field["is_custom"] else row.get(field["key"])
    if isinstance(value, dict):
        value = value.get("value")
    if value is None:
        return False
    text = str(value)
    if match == "exact":
        return text == term
    return text.startswith(term) if match == "beginning" else term in text
