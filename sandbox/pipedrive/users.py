"""v1 users: list, find (by name, or by email with `search_by_email=1`), me, one, add, (de)activate.

`is_you` is computed for the calling token's user; `/users/me` adds the company fields.
`find` matches case-insensitively on part of the name or email and answers `data: null`
when nothing matches — v1 collections come back as null, not [], when empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive.responses import fail_v1, ok
from sandbox.pipedrive.seed import user_body
from sandbox.pipedrive.v1input import as_flag, as_int, read_body

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

COMPANY_KEYS = ("company_id", "company_name", "company_domain", "company_country", "company_industry")


def register(app: PipedriveApp) -> None:
    app.v1("GET", "/users", lambda r: ok([render(app, r, u) for u in app.repo.all("user")]))
    app.v1("POST", "/users", lambda r: add_user(app, r))
    app.v1("GET", "/users/find", lambda r: find(app, r))
    app.v1("GET", "/users/me", lambda r: me(app, r))
    app.v1("GET", "/users/{id}", lambda r: ok(render(app, r, load(app, r))))
    app.v1("PUT", "/users/{id}", lambda r: update(app, r))


def render(app: PipedriveApp, request: Request, user: dict[str, Any]) -> dict[str, Any]:
    return {**user, "is_you": user["id"] == app.current_user_id(request)}


def load(app: PipedriveApp, request: Request) -> dict[str, Any]:
    user_id = as_int(request.params["id"], "id")
    user = app.repo.get("user", user_id) if user_id is not None else None
    if user is None:
        raise fail_v1("User not found", 404)
    return user


def find(app: PipedriveApp, request: Request) -> Response:
    term = (request.arg("term") or "").strip().lower()
    if not term:
        raise fail_v1("term is required")
    by_email = as_flag(request.arg("search_by_email", "0"), "search_by_email")
    key = "email" if by_email else "name"
    found = [render(app, request, u) for u in app.repo.all("user") if term in str(u[key]).lower()]
    return ok(found or None)


def me(app: PipedriveApp, request: Request) -> Response:
    user = app.repo.get("user", app.current_user_id(request))
    assert user is not None
    extra = {k: app.account[k] for k in COMPANY_KEYS}
    return ok({**render(app, request, user), **extra, "language": {"language_code": "en", "country_code": "AU"}})


def add_user(app: PipedriveApp, request: Request) -> Response:
    if not app.is_admin(app.current_user_id(request)):
        raise fail_v1("You do not have permission to add users", 403)
    body = read_body(request)
    email = body.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise fail_v1("email is required")
    return ok(create_user(app, email.split("@")[0].replace(".", " ").title(), email,
                          admin=False, active=as_flag(body.get("active_flag", True), "active_flag")))


def create_user(app: PipedriveApp, name: str, email: str, admin: bool = False, active: bool = True) -> dict[str, Any]:
    if any(u["email"].lower() == email.lower() for u in app.repo.all("user")):
        raise fail_v1("A user with this email already exists")
    user = user_body(app.repo.next_id("user"), name, email, admin, app.clock.v1(), active)
    return app.repo.put("user", user)


def update(app: PipedriveApp, request: Request) -> Response:
    user = load(app, request)
    if not app.is_admin(app.current_user_id(request)):
        raise fail_v1("You do not have permission to update users", 403)
    body = read_body(request)
    if "active_flag" not in body:
        raise fail_v1("active_flag is required")
    user["active_flag"] = as_flag(body["active_flag"], "active_flag")
    user["modified"] = app.clock.v1()
    app.repo.put("user", user)
    return ok(render(app, request, user))
