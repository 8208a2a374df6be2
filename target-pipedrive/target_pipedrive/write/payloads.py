"""Pure functions: contract records (+ resolved ids) -> Pipedrive request bodies.

No I/O here, so every body can be unit-tested and checked against the official specs.
v2 bodies (persons, activities, products) are strict JSON: integers, real booleans,
RFC 3339 times, custom fields nested under `custom_fields`. v1 bodies (notes, activity
types, field definitions) use v1 conventions: `YYYY-MM-DD HH:MM:SS` UTC and 0/1 flags.
Top-level `None` means "not provided" and is left out, so an update never clears a field
the record did not mention; custom fields are cleared with an explicit null.
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import UTC, datetime
from typing import Any

PAYLOAD_VERSION = "1"  # bump when bodies built from the same record change, to force one re-sync


def payload_hash(stream: str, record: dict[str, Any]) -> str:
    """Stable hash of a record as received: equal hash -> nothing to send on a re-run.

    A file's `local_path` is left out: it says where one machine staged the bytes (another worker, or a
    re-download, puts them elsewhere); `sha256` already says what they are."""
    if stream == "files" and "local_path" in record:
        record = {k: v for k, v in record.items() if k != "local_path"}
    canonical = json.dumps({"v": PAYLOAD_VERSION, "stream": stream, "record": record}, sort_keys=True,
                           separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def marker(source_key: str) -> str:
    """Deterministic text put into notes and activities so recovery can find them by source key."""
    return f"[ref:{source_key}]"


def with_marker(content: str | None, source_key: str) -> str:
    tag = f"<p>{html.escape(marker(source_key), quote=False)}</p>"
    return f"{content}\n{tag}" if content else tag


def has_marker(content: str | None, source_key: str) -> bool:
    return bool(content) and marker(source_key) in html.unescape(str(content))


def _utc(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def rfc3339(value: str) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_time(value: str) -> str:
    return _utc(value).strftime("%Y-%m-%d %H:%M:%S")


def hhmm(value: str) -> str:
    return value[:5]


def _present(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def person_body(record: dict[str, Any], *, custom_fields: dict[str, Any], owner_id: int | None,
                create: bool) -> dict[str, Any]:
    body = _present({
        "name": record.get("name"),
        "emails": [dict(e) for e in record["emails"]] if record.get("emails") is not None else None,
        "phones": [dict(p) for p in record["phones"]] if record.get("phones") is not None else None,
        "visible_to": record.get("visible_to"),
        "marketing_status": record.get("marketing_status"),
        "birthday": record.get("birthday"),
        "job_title": record.get("job_title"),
        "postal_address": dict(record["postal_address"]) if record.get("postal_address") else None,
        "owner_id": owner_id,
        "add_time": rfc3339(record["add_time"]) if create and record.get("add_time") else None,
    })
    if custom_fields:
        body["custom_fields"] = custom_fields
    return body


def product_body(record: dict[str, Any], *, custom_fields: dict[str, Any], owner_id: int | None) -> dict[str, Any]:
    body = _present({
        "name": record.get("name"),
        "code": record.get("code"),
        "description": record.get("description"),
        "unit": record.get("unit"),
        "tax": record.get("tax"),
        "is_linkable": record.get("is_linkable"),
        "visible_to": record.get("visible_to"),
        "billing_frequency": record.get("billing_frequency"),
        "prices": [dict(p) for p in record["prices"]] if record.get("prices") is not None else None,
        "owner_id": owner_id,
    })
    if custom_fields:
        body["custom_fields"] = custom_fields
    return body


def activity_body(record: dict[str, Any], *, type_key: str | None, owner_id: int | None,
                  participant_ids: list[int]) -> dict[str, Any]:
    participants = [{"person_id": pid, "primary": i == 0} for i, pid in enumerate(participant_ids)]
    return _present({
        "subject": record.get("subject"),
        "type": type_key,
        "due_date": record.get("due_date"),
        "due_time": hhmm(record["due_time"]) if record.get("due_time") else None,
        "duration": hhmm(record["duration"]) if record.get("duration") else None,
        "done": record.get("done"),
        "busy": record.get("busy"),
        "location": dict(record["location"]) if record.get("location") else None,
        "public_description": record.get("public_description"),
        "note": with_marker(record.get("note"), record["source_key"]),
        "owner_id": owner_id,
        "participants": participants or None,
    })


def note_body(record: dict[str, Any], *, person_id: int, user_id: int | None) -> dict[str, Any]:
    pinned = record.get("pinned")
    return _present({
        "content": with_marker(record["content"], record["source_key"]),
        "person_id": person_id,
        "user_id": user_id,
        "add_time": v1_time(record["add_time"]) if record.get("add_time") else None,
        "pinned_to_person_flag": (1 if pinned else 0) if pinned is not None else None,
    })


def activity_type_body(record: dict[str, Any]) -> dict[str, Any]:
    return _present({"name": record["name"], "icon_key": record.get("icon_key") or "task",
                     "color": record.get("color")})


def field_body(record: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"name": record["label"], "field_type": record["field_type"]}
    if record["field_type"] in ("enum", "set"):
        body["options"] = [{"label": label} for label in record.get("options") or []]
    return body


def field_options_body(existing: list[dict[str, Any]], new_labels: list[str]) -> dict[str, Any]:
    """v1 PUT body adding options: every current option with its id, new ones label-only."""
    return {"options": [{"id": o["id"], "label": o["label"]} for o in existing]
            + [{"label": label} for label in new_labels]}
