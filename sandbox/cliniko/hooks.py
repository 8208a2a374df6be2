"""Mid-sync events: change a record, or switch faults on, right after the Nth matching API request.

Tests use this to move a row while a client is paging (e.g. bump a patient's
updated_at after page 2 was served) and check that nothing is lost. A hook counts only
successful (2xx) responses whose path starts with its prefix, fires once, and its
change is applied before the response bytes go out, so the answer already computed
shows the old state and every later request sees the new one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.cliniko.errors import ApiError
from sandbox.common.http import Request, Response

ACTIONS = ("mutate", "archive", "cancel", "delete")


@dataclass
class Hook:
    after: int
    path_prefix: str
    mutate: dict[str, Any] | None
    faults: dict[str, Any] | None = None  # e.g. {"error_rate": 1.0}: the server starts failing mid-sync
    seen: int = 0
    fired: bool = False
    error: str | None = None
    result: dict[str, Any] | None = field(default=None)


class Hooks:
    def __init__(self, apply: Callable[[dict[str, Any]], dict[str, Any]],
                 set_faults: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._apply = apply
        self._set_faults = set_faults
        self._hooks: list[Hook] = []
        self._lock = threading.Lock()

    @staticmethod
    def parse(spec: Any) -> Hook:
        """Validate a hook request body (400 on anything malformed)."""
        if not isinstance(spec, dict):
            raise ApiError(400, "body must be {after, path_prefix, mutate: {resource, id, set}}")
        after, prefix, change = spec.get("after"), spec.get("path_prefix", "/v1/"), spec.get("mutate")
        faults = spec.get("faults")
        if not isinstance(after, int) or isinstance(after, bool) or after < 1:
            raise ApiError(400, "after must be a positive integer (the Nth matching request)")
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ApiError(400, "path_prefix must be a path such as /v1/patients")
        if faults is not None and not isinstance(faults, dict):
            raise ApiError(400, 'faults must be an object of fault switches, e.g. {"error_rate": 1.0}')
        if change is None and faults is None:
            raise ApiError(400, "give mutate: {resource, id, set} and/or faults: {...}")
        if change is not None:
            if not isinstance(change, dict) or "resource" not in change or "id" not in change:
                raise ApiError(400, "mutate must give resource and id (and set, updated_at or action)")
            if change.get("action", "mutate") not in ACTIONS:
                raise ApiError(400, f"mutate.action must be one of {', '.join(ACTIONS)}")
        return Hook(after, prefix, change, faults)

    def add(self, hook: Hook) -> None:
        with self._lock:
            self._hooks.append(hook)

    def observe(self, request: Request, response: Response) -> None:
        """App observer: count matching successful responses; fire due hooks."""
        if not 200 <= response.status < 300:
            return
        due: list[Hook] = []
        with self._lock:
            for hook in self._hooks:
                if not hook.fired and request.path.startswith(hook.path_prefix):
                    hook.seen += 1
                    if hook.seen >= hook.after:
                        hook.fired = True
                        due.append(hook)
        for hook in due:
            try:
                if hook.mutate is not None:
                    hook.result = self._apply(hook.mutate)
                if hook.faults is not None and self._set_faults is not None:
                    self._set_faults(hook.faults)
            except (ApiError, ValueError, TypeError) as exc:
                hook.error = getattr(exc, "message", str(exc))

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(h) for h in self._hooks]

    def clear(self) -> None:
        with self._lock:
            self._hooks.clear()
