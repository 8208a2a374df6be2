"""The starting account: a few users, the default activity types, standard fields, no custom fields.

The owner (user 1, admin) holds the default API token. One user's email is meant to
match no Cliniko practitioner, so practitioner→user resolution has a miss to report.
Timestamps are fixed so snapshots of a fresh account are identical across runs.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sandbox.pipedrive.fields import Fields
from sandbox.pipedrive.repo import Repo

SEED_V1_TIME = "2024-01-01 00:00:00"
COMPANY = {"company_id": 7310001, "company_name": "Sandbox Clinic", "company_domain": "sandbox-clinic",
           "company_country": "AU", "company_industry": "Healthcare", "default_currency": "AUD"}
SEED_USERS = [
    ("Alex Morgan", "alex.morgan@sandbox-clinic.example", True),
    ("Sam Taylor", "sam.taylor@sandbox-clinic.example", False),
    ("Jordan Lee", "jordan.lee@sandbox-clinic.example", False),
    ("Front Desk", "frontdesk@sandbox-clinic.example", False),  # matches no practitioner
]
DEFAULT_ACTIVITY_TYPES = [("Call", "call"), ("Meeting", "meeting"), ("Task", "task"), ("Deadline", "deadline"),
                          ("Email", "email"), ("Lunch", "lunch")]
PERMISSION_SETS = {True: "62cc4d7f-4038-4352-abf3-a8c1c822b631", False: "f07d229d-088a-4144-a40f-1fe64295d180"}


def user_body(user_id: int, name: str, email: str, admin: bool, now: str, active: bool = True) -> dict[str, Any]:
    return {
        "id": user_id, "name": name, "default_currency": COMPANY["default_currency"], "locale": "en_AU", "lang": 1,
        "email": email, "phone": None, "activated": active, "last_login": now, "created": now, "modified": now,
        "has_created_company": user_id == 1,
        "access": [{"app": "sales", "admin": admin, "permission_set_id": PERMISSION_SETS[admin]},
                   {"app": "global", "admin": admin, "permission_set_id": "233b7976-39bd-43a9-b305-ef3a2b0998e5"}],
        "active_flag": active, "timezone_name": "Australia/Sydney", "timezone_offset": "+10:00", "role_id": 1,
        "icon_url": None, "is_you": False, "is_deleted": False,
    }


def activity_type_body(type_id: int, name: str, key: str, icon: str, order: int, now: str,
                       custom: bool = False, color: str | None = None) -> dict[str, Any]:
    return {"id": type_id, "order_nr": order, "name": name, "key_string": key, "icon_key": icon,
            "active_flag": True, "color": color, "is_custom_flag": custom, "add_time": now, "update_time": now}


def ensure_seeded(repo: Repo, fields: Fields, seed_value: str | None) -> dict[str, Any]:
    """Seed an empty store; on an existing one, check the seed matches. Returns the account."""
    account = repo.store.get_value("account")
    if account is not None:
        if seed_value is not None and account.get("seed_value") != seed_value:
            raise ValueError("this database was seeded with a different --seed-value")
        return dict(account)
    value = seed_value or secrets.token_hex(8)
    # each account its own company id (as in Pipedrive), derived from the seed so it is stable per store
    company_id = COMPANY["company_id"] + int(hashlib.sha256(value.encode()).hexdigest()[:6], 16) % 1_000_000
    account = {"seed_value": value, **COMPANY, "company_id": company_id}
    repo.store.set_value("account", account)
    for name, email, admin in SEED_USERS:
        uid = repo.next_id("user")
        repo.put("user", user_body(uid, name, email, admin, SEED_V1_TIME))
    for order, (name, key) in enumerate(DEFAULT_ACTIVITY_TYPES, start=1):
        repo.put("activity_type", activity_type_body(repo.next_id("activity_type"), name, key, key, order,
                                                     SEED_V1_TIME))
    fields.seed_standard()
    return account
