"""The Cliniko emulator application: gatekeeping, rate limit, routes and admin wiring."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.cliniko import admin, api, auth
from sandbox.cliniko.corrupt import Rewrites
from sandbox.cliniko.hooks import Hooks
from sandbox.cliniko.state import State, resource_of
from sandbox.cliniko.storage import Storage
from sandbox.common.faults import Faults
from sandbox.common.http import App, Request, Response
from sandbox.common.ratelimit import RollingWindow
from sandbox.common.store import DocStore

STORAGE_PREFIX = "/_storage/"


@dataclass
class Config:
    api_keys: list[str] = field(default_factory=lambda: [auth.DEFAULT_API_KEY])
    require_user_agent: bool = True
    rate_limit_per_minute: int = 200
    db_path: str = ":memory:"
    size: str = "small"
    seed: int = 42
    storage_host: str | None = None
    reseed: bool = True  # False: keep the data already in db_path when there is some


class ClinikoApp(App):
    name = "cliniko"

    def __init__(self, config: Config | None = None, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.config = config or Config()
        self.keys = auth.KeyRing(self.config.api_keys)
        self.require_user_agent = self.config.require_user_agent
        self.window = RollingWindow(self.config.rate_limit_per_minute, 60.0)
        self.state = State(DocStore(self.config.db_path))
        self.storage = Storage(host_override=self.config.storage_host)
        self.hooks = Hooks(self._apply_change, self.faults.update)
        self.rewrites = Rewrites()
        self.observers.append(self.hooks.observe)
        api.register(self)
        admin.register(self)
        if self.config.reseed or not self.state.has_data():
            self.reset(self.config.size, self.config.seed)
        else:
            self.state.ensure_indexes()

    # -- gatekeeping -------------------------------------------------------------------
    def _dispatch_api(self, request: Request) -> Response:
        return self.rewrites.apply(request, super()._dispatch_api(request))

    def authorize(self, request: Request) -> Response | None:
        if request.path.startswith(STORAGE_PREFIX):
            return None  # the bucket checks its own signatures
        username = auth.basic_username(request)
        if username is None or self.keys.identify(username) is None:
            return auth.denied()
        if self.require_user_agent:
            problem = auth.user_agent_problem(request)
            if problem is not None:
                return problem
        if not auth.accepts_json(request) and not request.path.endswith("/content"):
            return auth.not_acceptable()
        return None

    def rate_limit(self, request: Request) -> Response | None:
        if request.path.startswith(STORAGE_PREFIX) or self.window.limit <= 0:
            return None
        key = self.keys.identify(auth.basic_username(request) or "") or ""
        decision = self.window.hit(key)
        if decision.allowed:
            return None
        return self._too_many(decision.reset_at)

    def forced_429(self, request: Request) -> Response:
        return self._too_many(time.time() + 1)

    def _too_many(self, reset_at: float) -> Response:
        reset = math.ceil(reset_at)
        return Response.json(
            {"message": f"Too many requests: the limit is {self.window.limit} requests per minute per user. "
                        f"Retry after {reset} (X-RateLimit-Reset)."},
            429, {"X-RateLimit-Reset": str(reset)})

    # -- state changes ----------------------------------------------------------------------
    def reset(self, size: str, seed: int) -> dict[str, Any]:
        summary = self.state.reset(size, seed)
        self.hooks.clear()
        self.rewrites.clear()
        self.storage.reset()
        self.window.reset()
        return summary

    def set_rate_limit(self, limit: int) -> None:
        self.window.limit = limit
        self.window.reset()

    def config_dict(self) -> dict[str, Any]:
        return {"rate_limit_per_minute": self.window.limit, "require_user_agent": self.require_user_agent}

    def soft_action(self, resource: str, row_id: Any, action: str) -> tuple[dict[str, Any], dict[str, Any]]:
        field_name = admin.SOFT_ACTIONS[action]
        if action == "delete" and resource_of(resource).hard_delete:
            return self.state.remove(resource, row_id)
        extra: dict[str, Any] = {}
        if action == "cancel" and resource in ("individual_appointments", "attendees"):
            extra = {"cancellation_reason": 50, "cancellation_reason_description": "Other"}
        return self.state.soft_delete(resource, row_id, field_name, **extra)

    def _apply_change(self, change: dict[str, Any]) -> dict[str, Any]:
        action = change.get("action", "mutate")
        if action == "mutate":
            body, _ = self.state.mutate(str(change["resource"]), change["id"], change.get("set") or {},
                                        change.get("updated_at"))
        else:
            body, _ = self.soft_action(str(change["resource"]), change["id"], action)
        return {"id": body["id"], "updated_at": body["updated_at"]}
