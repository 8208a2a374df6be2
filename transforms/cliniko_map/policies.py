"""The map's settings-like policies: names, allowed values and defaults.

A map may leave a policy out (it gets the default below) but may not invent one or give
a value outside the allowed set: that is a load error with the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from cliniko_map.functions.appointments import STATUSES
from cliniko_map.functions.contact import DEFAULT_PHONE_LABELS, INVALID_EMAIL_POLICIES
from cliniko_map.functions.text import PREFERRED_STYLES

MIGRATE_SKIP = ("migrate", "skip")


@dataclass(frozen=True)
class Policy:
    default: Any
    check: Callable[[Any], str | None]  # -> problem text, None when the value is fine
    doc: str


def _choice(*allowed: Any) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else "must be one of " + ", ".join(str(a) for a in allowed)


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _positive_int(v: Any) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v > 0 else "must be a positive whole number"


def _date_or_off(v: Any) -> str | None:
    if v is None or isinstance(v, date):  # YAML reads an unquoted 2023-01-01 as a date
        return None
    if isinstance(v, str):
        try:
            date.fromisoformat(v)
            return None
        except ValueError:
            pass
    return "must be a date (YYYY-MM-DD) or null"


def _owner(v: Any) -> str | None:
    return None if v == "fallback" or (isinstance(v, str) and "@" in v) else "must be 'fallback' or an e-mail address"


def _currency(v: Any) -> str | None:
    ok = v == "auto" or (isinstance(v, str) and len(v) == 3 and v.isalpha() and v.isupper())
    return None if ok else "must be 'auto' or a 3-letter ISO 4217 code such as AUD"


def _string_map(v: Any) -> str | None:
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) and x for k, x in v.items()):
        return "must be a mapping of text to text"
    return None


def _currency_map(v: Any) -> str | None:
    problem = _string_map(v)
    if problem is None and not all(len(x) == 3 and x.isupper() for x in v.values()):
        return "values must be 3-letter ISO 4217 codes"
    return problem


def _statuses(v: Any) -> str | None:
    if not isinstance(v, dict) or set(v) != set(STATUSES):
        return "must define exactly the statuses " + ", ".join(STATUSES)
    for name, row in v.items():
        if not isinstance(row, dict) or set(row) - {"done", "label", "in_subject"}:
            return f"{name}: allowed keys are done, label, in_subject"
        if not isinstance(row.get("done"), bool) or not isinstance(row.get("label"), str) or not row["label"]:
            return f"{name}: needs done (true/false) and a non-empty label"
        if not isinstance(row.get("in_subject", False), bool):
            return f"{name}: in_subject must be true or false"
    return None


POLICIES: dict[str, Policy] = {
    "archived_patients": Policy("migrate", _choice(*MIGRATE_SKIP), "archived patients (status 'Archived')"),
    "deleted_patients": Policy("skip", _choice(*MIGRATE_SKIP), "deleted patients (their records go with them)"),
    "merged_patients": Policy("skip", _choice(*MIGRATE_SKIP), "patients merged into another (the survivor has "
                                                               "their data)"),
    "deleted_records": Policy("skip", _choice(*MIGRATE_SKIP), "deleted appointments, attendees, treatment notes, "
                                                               "medical alerts"),
    "cancelled_appointments": Policy("migrate", _choice(*MIGRATE_SKIP), "cancelled appointments and attendees"),
    "draft_notes": Policy("migrate", _choice(*MIGRATE_SKIP), "treatment notes never finalised (marked DRAFT)"),
    "exclude_clinical": Policy(False, _bool, "true: no treatment notes, medical alerts, attachments, patient cases, "
                                             "confidential memos, patient or appointment notes leave Cliniko"),
    "confidential_communications": Policy("skip", _choice(*MIGRATE_SKIP), "memos flagged confidential"),
    "unattributed_practitioner": Policy("fallback", _owner, "owner when a practitioner has no user e-mail"),
    "invalid_emails": Policy("keep", _choice(*INVALID_EMAIL_POLICIES), "e-mail addresses that fail a syntax check"),
    "preferred_name": Policy("in_brackets", _choice(*PREFERRED_STYLES), "how a preferred first name shows"),
    "currency": Policy("auto", _currency, "currency of prices and invoice figures"),
    "currency_by_country": Policy({"AU": "AUD", "NZ": "NZD", "US": "USD", "GB": "GBP", "CA": "CAD", "IE": "EUR"},
                                  _currency_map, "country code -> currency, for currency: auto"),
    "phone_labels": Policy(dict(DEFAULT_PHONE_LABELS), _string_map, "Cliniko phone type -> Pipedrive label"),
    "appointment_statuses": Policy({
        "attended": {"done": True, "label": "Attended", "in_subject": False},
        "did_not_arrive": {"done": True, "label": "Did not arrive", "in_subject": True},
        "cancelled": {"done": True, "label": "Cancelled", "in_subject": True},
        "future": {"done": False, "label": "Booked", "in_subject": False},
    }, _statuses, "derived appointment status -> done flag and label"),
    "invoice_history_limit": Policy(10, _positive_int, "invoices listed in the history text"),
    "history_cutoff": Policy(None, _date_or_off, "appointments before this date (UTC) go into one history CSV "
                                                 "file per patient instead of one activity each; null: off"),
    "history_notes": Policy(False, _bool, "true: treatment notes written before history_cutoff go into that "
                                          "file too instead of one note each"),
    "treatment_notes_on_appointments": Policy(False, _bool, "true: a treatment note of a migrated individual "
                                                            "appointment is written in that activity's note "
                                                            "instead of a note of its own"),
}


def resolve(given: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Given values merged over the defaults, plus (name, problem) for every bad entry."""
    problems: list[tuple[str, str]] = []
    values = {name: policy.default for name, policy in POLICIES.items()}
    for name, value in given.items():
        policy = POLICIES.get(name)
        if policy is None:
            problems.append((name, f"unknown policy '{name}' (known: {', '.join(POLICIES)})"))
            continue
        problem = policy.check(value)
        if problem:
            problems.append((name, f"policy {name} {problem}"))
        else:
            values[name] = value.isoformat() if isinstance(value, date) else value  # plain text in JSON reports
    return values, problems


def set_in_text(text: str, values: dict[str, Any]) -> str:
    """A map file's text with these policies' lines set, every comment and the layout kept: what a clinic
    does to its copy in an editor (to turn a choice on) before the plan. Each must be a line of the file's
    `policies:` block (`  name: value`); the values are written as JSON, which YAML reads back unchanged."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "policies:"), None)
    if start is None:
        raise ValueError("the map has no top-level `policies:` block")
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in ("", " ", "\n", "#")), len(lines))
    for name, value in values.items():
        if name not in POLICIES:
            raise ValueError(f"unknown policy '{name}' (known: {', '.join(POLICIES)})")
        at = next((i for i in range(start + 1, end) if lines[i].startswith(f"  {name}:")), None)
        if at is None:
            raise ValueError(f"the map's policies block has no line for {name}")
        line, comment = f"  {name}: {json.dumps(value)}", re.search(r"\s+(#.*)$", lines[at].rstrip("\n"))
        if comment:  # kept in its column, as far as the new value leaves room
            line = line.ljust(comment.start(1) - 1) + " " + comment.group(1)
        lines[at] = line + "\n"
    return "".join(lines)
