"""The Pipedrive emulator app: wires storage, auth, limits and every resource's routes.

Routes are registered per API version: v2 under `/api/v2`, v1 under both `/api/v1` and
`/v1` (the migration guide: v1 accepts both, v2 only `/api/v2`). Every route must have a
token cost in `costs.py`. Handlers run under one lock: the emulator favours exact,
race-free semantics over throughput.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from sandbox.common.faults import Faults
from sandbox.common.http import App, Request, Response
from sandbox.common.store import DocStore
from sandbox.pipedrive import (
    absent,
    activities,
    activity_types,
    admin,
    currencies,
    field_routes,
    files,
    notes,
    persons,
    products,
    recents,
    search,
    users,
)
from sandbox.pipedrive.clock import Clock
from sandbox.pipedrive.config import DEFAULT_TOKEN, Config
from sandbox.pipedrive.costs import PREFIXES, V1_COSTS, V2_COSTS, operation_for
from sandbox.pipedrive.fields import Fields
from sandbox.pipedrive.limits import Limiter
from sandbox.pipedrive.repo import Repo
from sandbox.pipedrive.responses import ApiError, unauthorized, v1_error, v2_error, v2_not_found
from sandbox.pipedrive.seed import ensure_seeded

Handler = Callable[[Request], Response]
# search first: `/persons/search` must be matched before `/persons/{id}`
RESOURCES = (search, persons, activities, products, field_routes, notes, files, users, activity_types, currencies,
             absent, recents)


class PipedriveApp(App):
    name = "pipedrive"

    def __init__(self, store: DocStore | None = None, config: Config | None = None,
                 api_token: str = DEFAULT_TOKEN, seed_value: str | None = None, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.store = store or DocStore()
        self.repo = Repo(self.store)
        self.clock = Clock()
        self.config = config or Config()
        self.fields = Fields(self.repo, self.clock)
        self.limiter = Limiter(self.config, self.clock, self.store)
        self.api_token = api_token
        self.lock = threading.RLock()
        self._local = threading.local()
        self.account = ensure_seeded(self.repo, self.fields, seed_value)
        self._bind_default_token()
        for resource in RESOURCES:
            resource.register(self)
        admin.register(self)

    # -- registration -------------------------------------------------------------
    def v2(self, method: str, template: str, handler: Handler) -> None:
        self._add("v2", method, template, handler)

    def v1(self, method: str, template: str, handler: Handler) -> None:
        self._add("v1", method, template, handler)

    def _add(self, version: str, method: str, template: str, handler: Handler) -> None:
        costs = V2_COSTS if version == "v2" else V1_COSTS
        if (method, template) not in costs:
            raise AssertionError(f"no token cost for {method} /{version}{template}")

        def run(request: Request) -> Response:
            try:
                with self.lock:
                    return handler(request)
            except ApiError as exc:
                return exc.response

        for prefix in PREFIXES[version]:
            self.router.add(method, prefix + template, run)

    # -- auth -----------------------------------------------------------------------
    def _bind_default_token(self) -> None:
        tokens = dict(self.store.get_value("tokens", {}))
        tokens[self.api_token] = 1
        self.store.set_value("tokens", tokens)

    def add_token(self, token: str, user_id: int) -> None:
        tokens = dict(self.store.get_value("tokens", {}))
        tokens[token] = user_id
        self.store.set_value("tokens", tokens)

    @staticmethod
    def token_of(request: Request) -> str | None:
        """x-api-token header (documented), else Bearer, else the legacy `api_token` query parameter."""
        header = request.header("x-api-token")
        if header:
            return header
        bearer = request.header("Authorization") or ""
        if bearer.lower().startswith("bearer "):
            return bearer[7:].strip()
        return request.arg("api_token")

    def user_id_for(self, token: str | None) -> int | None:
        if not token:
            return None
        user_id = self.store.get_value("tokens", {}).get(token)
        if user_id is None:
            return None
        user = self.repo.get("user", user_id)
        return user_id if user and user["active_flag"] else None

    def authorize(self, request: Request) -> Response | None:
        if self.user_id_for(self.token_of(request)) is None:
            return unauthorized()
        return None

    def current_user_id(self, request: Request) -> int:
        user_id = self.user_id_for(self.token_of(request))
        return user_id if user_id is not None else 1

    def is_admin(self, user_id: int) -> bool:
        user = self.repo.get("user", user_id)
        return bool(user and any(a.get("admin") for a in user["access"] if a.get("app") in ("sales", "global")))

    # -- limits -----------------------------------------------------------------------
    def rate_limit(self, request: Request) -> Response | None:
        token = self.token_of(request) or ""
        verdict = self.limiter.check(token, self.current_user_id(request), request.method,
                                     operation_for(request.method, request.path))
        self._local.headers = verdict.headers
        return verdict.refusal

    def operation(self, request: Request) -> str:
        """The priced operation's label, as `GET /_admin/usage` counts it ("POST /v1/files")."""
        op = operation_for(request.method, request.path)
        return op.label if op is not None else super().operation(request)

    def forced_429(self, request: Request) -> Response:
        return self.limiter.forced(self.token_of(request) or "", self.current_user_id(request), request.method)

    def decorate(self, request: Request, response: Response) -> None:
        response.headers.update(getattr(self._local, "headers", {}))
        response.headers.setdefault("x-correlation-id", str(uuid.uuid4()))

    def not_found(self, request: Request, path_exists: bool) -> Response:
        if request.path.startswith("/api/v2/"):
            if path_exists:
                return v2_error("Method not allowed", 405, "ERR_METHOD_NOT_ALLOWED")
            return v2_not_found()
        return v1_error("Method not allowed" if path_exists else "Unknown method .", 405 if path_exists else 404)

    # -- helpers for resources -----------------------------------------------------------
    def exists(self, kind: str, item_id: int) -> bool:
        """Does a live (not deleted) item exist? Organizations never do: the sandbox has none."""
        if kind == "user":
            return self.repo.get("user", item_id) is not None
        if kind == "person":
            person = self.repo.get("person", item_id)
            return bool(person and not person["is_deleted"])
        return False

    def default_currency(self) -> str:
        return str(self.account.get("default_currency", "AUD"))

    def reset(self, seed_value: str | None = None) -> None:
        """Wipe everything and seed a fresh account (same seed unless a new one is given)."""
        seed = seed_value or self.account.get("seed_value")
        with self.lock:
            self.store.clear()
            self.clock.offset_days = 0
            self.account = ensure_seeded(self.repo, self.fields, seed)
            self._bind_default_token()
            self.limiter.reset_usage()

    def describe(self) -> dict[str, Any]:
        return {"account": self.account, "config": self.config.as_dict()}
