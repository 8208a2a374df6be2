"""Names to Pipedrive ids: custom fields and options by label, users by e-mail, activity types by name.

Custom-field keys are random per account, so nothing is hard-coded: the definitions are
listed once per run (lazily, so a run with nothing to write makes no call), cached, and
listed again when a label is missing (someone may have just created it).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from target_pipedrive.errors import RecordError
from target_pipedrive.pipedrive.client import PipedriveClient

FIELD_ENDPOINT = {"person": "/personFields", "product": "/productFields"}
TEXT_TYPES = {"varchar", "varchar_auto", "text", "phone"}
_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2}))?$")
FRESH_S = 30.0  # a miss re-lists definitions only if the cached list is older than this


@dataclass
class FieldDef:
    id: int
    key: str
    name: str
    field_type: str
    is_custom: bool
    options: dict[str, int] = field(default_factory=dict)  # label -> option id

    def option_id(self, label: str) -> int | None:
        if label in self.options:
            return self.options[label]
        folded = [i for name, i in self.options.items() if name.casefold() == label.casefold()]
        return folded[0] if len(folded) == 1 else None


def _field(raw: dict[str, Any]) -> FieldDef:
    return FieldDef(id=int(raw.get("id") or 0), key=str(raw["key"]), name=str(raw.get("name") or ""),
                    field_type=str(raw.get("field_type") or ""), is_custom=bool(raw.get("edit_flag")),
                    options={str(o["label"]): int(o["id"]) for o in raw.get("options") or [] if "label" in o})


F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: Resolver, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


class Resolver:
    def __init__(self, client: PipedriveClient) -> None:
        self.client = client
        self._fields: dict[str, list[FieldDef]] = {}
        self._listed_at: dict[str, float] = {}
        self._users: dict[str, int] | None = None
        self._types: list[dict[str, Any]] | None = None
        # plan mode: definitions the plan would create, visible to the records after them
        self._planned_fields: dict[str, list[FieldDef]] = {}
        self._planned_types: list[dict[str, Any]] = []
        self._lock = threading.RLock()  # concurrent writers share these caches
        self._missed_users: set[str] = set()

    # -- custom fields ----------------------------------------------------------------------
    @_locked
    def fields(self, entity: str, refresh: bool = False) -> list[FieldDef]:
        stale = time.monotonic() - self._listed_at.get(entity, -FRESH_S) >= FRESH_S
        if entity not in self._fields or (refresh and stale):
            raw = self.client.list_all("v1", FIELD_ENDPOINT[entity])
            self._fields[entity] = [_field(f) for f in raw if f.get("key")]
            self._listed_at[entity] = time.monotonic()
        return self._fields[entity] + self._planned_fields.get(entity, [])

    @_locked
    def remember_field(self, entity: str, raw: dict[str, Any]) -> None:
        """Put a field we just created or changed (the API's v1 answer) into the cache."""
        if entity in self._fields and raw.get("key"):
            fdef = _field(raw)
            self._fields[entity] = [f for f in self._fields[entity] if f.key != fdef.key] + [fdef]

    @_locked
    def add_planned_field(self, entity: str, fdef: FieldDef) -> None:
        self._planned_fields.setdefault(entity, []).append(fdef)

    @_locked
    def find_field(self, entity: str, label: str, refresh_on_miss: bool = True) -> FieldDef | None:
        """The custom field with this label (exact, else case-insensitive); None when absent."""
        for refresh in (False, True) if refresh_on_miss else (False,):
            custom = [f for f in self.fields(entity, refresh=refresh) if f.is_custom]
            exact = [f for f in custom if f.name == label]
            matches = exact or [f for f in custom if f.name.casefold() == label.casefold()]
            if len(matches) > 1:
                raise RecordError("ambiguous_field",
                                  f"{len(matches)} {entity} custom fields are labelled '{label}'")
            if matches:
                return matches[0]
        return None

    @_locked
    def custom_fields(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        """Label-keyed values -> the v2 `custom_fields` object keyed by each field's 40-hex key."""
        out: dict[str, Any] = {}
        for label, value in values.items():
            fdef = self.find_field(entity, label)
            if fdef is None:
                raise RecordError("unknown_field", f"no {entity} custom field is labelled '{label}'")
            out[fdef.key] = self._convert(entity, fdef, label, value)
        return out

    def _convert(self, entity: str, fdef: FieldDef, label: str, value: Any) -> Any:
        if value is None:
            return None
        ftype = fdef.field_type
        bad = RecordError("bad_value", f"{entity} custom field '{label}' ({ftype}) got a value of the wrong shape")
        if ftype in TEXT_TYPES:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise bad
            return str(value)
        if ftype == "double":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad
            return value
        if ftype == "monetary":
            if isinstance(value, dict) and isinstance(value.get("value"), int | float):
                return {k: value[k] for k in ("value", "currency") if k in value}
            if isinstance(value, int | float) and not isinstance(value, bool):
                return {"value": value}
            raise bad
        if ftype == "date":
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise bad
            return value
        if ftype == "enum":
            option = fdef.option_id(str(value)) if isinstance(value, str) else None
            if option is None:
                option = self._refreshed_option(entity, fdef, label, value)
            return option
        if ftype == "set":
            labels = value if isinstance(value, list) else [value]
            if not labels:
                return None  # v2 clears a set field with null, never []
            ids = []
            for item in labels:
                option = fdef.option_id(str(item)) if isinstance(item, str) else None
                ids.append(option if option is not None else self._refreshed_option(entity, fdef, label, item))
            return ids
        if ftype == "user":
            user = self.user_id(str(value)) if isinstance(value, str) else None
            if user is None:
                raise RecordError("unknown_user", f"{entity} custom field '{label}' names no Pipedrive user")
            return user
        if ftype == "address":
            if isinstance(value, str):
                return {"value": value}
            if isinstance(value, dict) and isinstance(value.get("value"), str):
                return dict(value)
            raise bad
        if ftype == "time":
            match = _TIME.match(value) if isinstance(value, str) else None
            if not match:
                raise bad
            return {"value": f"{match.group(1)}:{match.group(2)}:{match.group(3) or '00'}"}
        if ftype in ("daterange", "timerange"):
            if isinstance(value, dict) and "value" in value:
                return {k: value[k] for k in ("value", "until") if k in value}
            raise bad
        raise RecordError("unsupported_field_type", f"{entity} custom field '{label}' has type {ftype}, which the "
                                                    "target does not write")

    def _refreshed_option(self, entity: str, fdef: FieldDef, label: str, value: Any) -> int:
        fresh = self.find_field(entity, label)
        option = fresh.option_id(str(value)) if fresh is not None and isinstance(value, str) else None
        if option is None:
            raise RecordError("unknown_option", f"{entity} custom field '{label}' has no option with that label")
        return option

    # -- users --------------------------------------------------------------------------------
    @_locked
    def user_id(self, email: str) -> int | None:
        """Active user with this e-mail (case-insensitive); re-lists users once per e-mail on a miss
        (a practitioner with no Pipedrive user would otherwise cost a listing per record)."""
        wanted = email.strip().casefold()
        for refresh in (False, True):
            if refresh and wanted in self._missed_users:
                return None
            if refresh:
                self._missed_users.add(wanted)
            if refresh or self._users is None:
                users = self.client.get("v1", "/users").get("data") or []
                self._users = {str(u["email"]).casefold(): int(u["id"]) for u in users
                               if u.get("email") and u.get("active_flag", True) and not u.get("is_deleted")}
            if wanted in self._users:
                return self._users[wanted]
        return None

    # -- activity types -------------------------------------------------------------------------
    @_locked
    def activity_types(self, refresh: bool = False) -> list[dict[str, Any]]:
        if refresh or self._types is None:
            self._types = [t for t in self.client.get("v1", "/activityTypes").get("data") or []
                           if t.get("active_flag", True)]
        return self._types + self._planned_types

    @_locked
    def add_planned_type(self, activity_type: dict[str, Any]) -> None:
        self._planned_types.append(activity_type)

    @_locked
    def find_activity_type(self, name: str, by_key: bool = True) -> dict[str, Any] | None:
        """The active type with this name (exact, else case-insensitive), else with this key_string."""
        for refresh in (False, True):
            types = self.activity_types(refresh=refresh)
            candidates = [[t for t in types if t.get("name") == name],
                          [t for t in types if str(t.get("name", "")).casefold() == name.casefold()]]
            if by_key:
                candidates.append([t for t in types if t.get("key_string") == name])
            for match in candidates:
                if len(match) > 1:
                    raise RecordError("ambiguous_activity_type", f"{len(match)} activity types are named '{name}'")
                if match:
                    return match[0]
        return None

    @_locked
    def remember_activity_type(self, raw: dict[str, Any]) -> None:
        if self._types is not None:
            self._types = [t for t in self._types if t.get("id") != raw.get("id")] + [raw]
