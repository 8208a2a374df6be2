"""v1 notes on persons: create, read, list, update, delete.

`content` is HTML, sanitised (scripts, styles, event handlers and `javascript:` links are
removed, as "subject to sanitization" implies); `add_time` (`YYYY-MM-DD HH:MM:SS`, UTC) may
be set in the past; `user_id` sets the author (admins only). Notes attach to persons here:
deals, organizations, leads, projects and tasks do not exist in the sandbox. Delete is
soft in storage (`active_flag: false`) but the API no longer serves the note.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive.clock import fmt_v2, parse_rfc3339, parse_v1, valid_date
from sandbox.pipedrive.pagination import v1_page
from sandbox.pipedrive.responses import fail_v1, ok
from sandbox.pipedrive.v1input import as_flag, as_int, read_body

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

OTHER_PARENTS = {"deal_id": "Deal", "org_id": "Organization", "lead_id": "Lead", "project_id": "Project",
                 "task_id": "Task"}
PIN_FLAGS = ("pinned_to_lead_flag", "pinned_to_deal_flag", "pinned_to_organization_flag", "pinned_to_person_flag",
             "pinned_to_project_flag", "pinned_to_task_flag")
SORTABLE = ("id", "user_id", "deal_id", "person_id", "org_id", "content", "add_time", "update_time")


def register(app: PipedriveApp) -> None:
    app.v1("GET", "/notes", lambda r: list_notes(app, r))
    app.v1("POST", "/notes", lambda r: save_note(app, r, None))
    app.v1("GET", "/notes/{id}", lambda r: ok(render(app, r, load(app, r))))
    app.v1("PUT", "/notes/{id}", lambda r: save_note(app, r, load(app, r)))
    app.v1("DELETE", "/notes/{id}", lambda r: delete_note(app, r))


def sanitize(html: str) -> str:
    html = re.sub(r"<(script|style|iframe|object|embed)\b[^>]*>.*?</\1\s*>", "", html, flags=re.I | re.S)
    html = re.sub(r"<(script|style|iframe|object|embed)\b[^>]*/?>", "", html, flags=re.I)
    html = re.sub(r"\s+on[a-z]+\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", "", html, flags=re.I)
    return re.sub(r"(href|src)\s*=\s*([\"'])\s*javascript:[^\"']*\2", r'\1="#"', html, flags=re.I)


def load(app: PipedriveApp, request: Request) -> dict[str, Any]:
    note_id = as_int(request.params["id"], "id")
    note = app.repo.get("note", note_id) if note_id is not None else None
    if note is None or not note["active_flag"]:
        raise fail_v1("Note not found", 404)
    return note


def render(app: PipedriveApp, request: Request, note: dict[str, Any]) -> dict[str, Any]:
    out = dict(note)
    person = app.repo.get("person", note["person_id"]) if note.get("person_id") else None
    out["person"] = {"name": person["name"]} if person else None
    user = app.repo.get("user", note["user_id"])
    out["user"] = {"email": user["email"], "icon_url": user["icon_url"], "name": user["name"],
                   "is_you": user["id"] == app.current_user_id(request)} if user else None
    return out


def save_note(app: PipedriveApp, request: Request, note: dict[str, Any] | None) -> Response:
    body = read_body(request)
    me = app.current_user_id(request)
    for name, label in OTHER_PARENTS.items():
        if body.get(name) not in (None, ""):
            raise fail_v1(f"{label} not found", 404)
    person_id = as_int(body.get("person_id"), "person_id")
    if note is None and person_id is None:
        raise fail_v1("One of deal_id, lead_id, org_id, person_id, project_id or task_id is required")
    if person_id is not None and not app.exists("person", person_id):
        raise fail_v1("Person not found", 404)
    content = body.get("content")
    if note is None or "content" in body:
        if not isinstance(content, str) or not sanitize(content).strip():
            raise fail_v1("Note content is required")
    user_id = as_int(body.get("user_id"), "user_id")
    if user_id is not None:
        if not app.exists("user", user_id):
            raise fail_v1("User not found", 404)
        if user_id != (note or {}).get("user_id", me) and not app.is_admin(me):
            raise fail_v1("Only an admin can change the author of a note", 403)
    add_time = body.get("add_time")
    if add_time not in (None, "") and parse_v1(str(add_time)) is None:
        raise fail_v1("add_time must be in format YYYY-MM-DD HH:MM:SS")
    now = app.clock.v1()
    if note is None:
        note = {"id": app.repo.next_id("note"), "active_flag": True, "add_time": now, "content": "", "deal": None,
                "lead_id": None, "deal_id": None, "last_update_user_id": me, "org_id": None, "organization": None,
                "person": None, "person_id": None, "project_id": None, "project": None, "task_id": None,
                "task": None, **{flag: False for flag in PIN_FLAGS}, "update_time": now, "user": None,
                "user_id": me}
    if isinstance(content, str):
        note["content"] = sanitize(content)
    if person_id is not None:
        note["person_id"] = person_id
    if user_id is not None:
        note["user_id"] = user_id
    if add_time not in (None, ""):
        note["add_time"] = str(add_time)
    for flag in PIN_FLAGS:
        if flag in body:
            note[flag] = as_flag(body[flag], flag)
    if note["pinned_to_person_flag"] and not note["person_id"]:
        raise fail_v1("pinned_to_person_flag requires person_id")
    note["update_time"] = now
    note["last_update_user_id"] = me
    stored = {k: v for k, v in note.items() if k not in ("person", "user")}
    app.repo.put("note", {**stored, "person": None, "user": None})
    return ok(render(app, request, note))


def delete_note(app: PipedriveApp, request: Request) -> Response:
    note = load(app, request)
    note["active_flag"] = False
    note["update_time"] = app.clock.v1()
    app.repo.put("note", note)
    return ok(True)


def list_notes(app: PipedriveApp, request: Request) -> Response:
    where = ["json_extract(body, '$.active_flag') = 1"]
    params: list[Any] = []
    for name in ("user_id", "person_id"):
        value = as_int(request.arg(name), name)
        if value is not None:
            where.append(f"json_extract(body, '$.{name}') = ?")
            params.append(value)
    for name in OTHER_PARENTS:
        if request.arg(name):
            where.append("0")
    for name, op in (("start_date", ">="), ("end_date", "<=")):
        value = request.arg(name)
        if value:
            if not valid_date(value):
                raise fail_v1(f"{name} must be in format YYYY-MM-DD")
            where.append(f"substr(json_extract(body, '$.add_time'), 1, 10) {op} ?")
            params.append(value)
    since = request.arg("updated_since")
    if since:
        moment = parse_rfc3339(since)
        if moment is None:
            raise fail_v1("updated_since must be an RFC 3339 date-time")
        where.append("json_extract(body, '$.update_time') >= ?")
        params.append(fmt_v2(moment).replace("T", " ").rstrip("Z"))
    for flag in PIN_FLAGS:
        if request.arg(flag) not in (None, ""):
            where.append(f"json_extract(body, '$.{flag}') = ?")
            params.append(1 if as_flag(request.arg(flag), flag) else 0)
    notes = app.repo.all("note", " AND ".join(where), tuple(params), order=_order(request.arg("sort")))
    page, extra = v1_page(notes, request)
    return ok([render(app, request, n) for n in page] or None, extra)


def _order(sort: str | None) -> str:
    """`field ASC, field2 DESC` on first-level keys, as the v1 `sort` parameter."""
    if not sort:
        return "id ASC"
    parts = []
    for chunk in sort.split(","):
        words = chunk.split()
        if not words or words[0] not in SORTABLE or (len(words) > 1 and words[1].upper() not in ("ASC", "DESC")):
            raise fail_v1(f"Invalid sort: {sort}")
        column = "id" if words[0] == "id" else f"json_extract(body, '$.{words[0]}')"
        parts.append(f"{column} {words[1].upper() if len(words) > 1 else 'ASC'}")
    return ", ".join([*parts, "id ASC"])
