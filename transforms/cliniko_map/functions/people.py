"""Practitioners, users and patients: owners, audit labels, record status and skip rules."""

from __future__ import annotations

from typing import Any

from cliniko_map.functions.text import clean


def owner_email(email: str | None, unattributed: str = "fallback") -> str | None:
    """The practitioner's user e-mail, normalised for the target's case-insensitive match.

    `unattributed` handles a practitioner with no user or no e-mail: "fallback" leaves
    owner_email empty (the target uses its fallback_user_email, else the token's user);
    an e-mail address assigns those records to that user instead.
    """
    value = clean(email)
    if value:
        return value.lower()
    return None if unattributed == "fallback" else unattributed.strip().lower()


def practitioner_label(practitioner: dict[str, Any] | None, practitioner_id: str | None = None) -> str | None:
    """'Noah Taylor, Physiotherapist (Cliniko practitioner 107..., inactive)' for audit text."""
    if not practitioner_id and not practitioner:
        return None
    row = practitioner or {}
    name = clean(row.get("display_name")) or " ".join(
        p for p in (clean(row.get("first_name")), clean(row.get("last_name"))) if p) or "Unknown practitioner"
    if clean(row.get("designation")):
        name += f", {clean(row.get('designation'))}"
    flags = [f"Cliniko practitioner {practitioner_id or row.get('id')}"]
    if row.get("active") is False:
        flags.append("inactive")
    return f"{name} ({', '.join(flags)})"


def record_status(archived_at: Any = None, deleted_at: Any = None, merged_at: Any = None) -> str:
    """Active / Archived / Merged / Deleted, as shown in the person's status field."""
    if deleted_at:
        return "Deleted"
    if merged_at:
        return "Merged"
    if archived_at:
        return "Archived"
    return "Active"


def skip_by_policy(flag: Any, policy: str, reason: str) -> str | None:
    """`reason` when the record has `flag` set and the policy for it is "skip"."""
    return reason if flag and policy == "skip" else None


def skip_when(*conditions: Any, reason: str) -> str | None:
    """`reason` when every condition is truthy (e.g. confidential and exclude_clinical)."""
    return reason if conditions and all(conditions) else None


def skip_unless(value: Any, reason: str) -> str | None:
    """`reason` when a required value is missing (e.g. no patient, file not downloaded)."""
    return None if value not in (None, "", [], {}) else reason


def surviving_patient(patient_id: Any, merged_with_patient_id: Any = None, merged_policy: str = "skip") -> Any:
    """The patient a record belongs to in Pipedrive: a merged patient's records go to the
    patient they were merged into (when merged patients are not migrated themselves)."""
    if merged_with_patient_id and merged_policy == "skip":
        return merged_with_patient_id
    return patient_id


def parent_skipped(parent_reason: str | None, parent: str = "patient") -> str | None:
    """Children of a record the map skipped are skipped too, saying why."""
    return f"{parent} not migrated ({parent_reason})" if parent_reason else None


def migrated_row(row: dict[str, Any] | None) -> bool:
    """A remembered record the map migrated (seen, and not skipped)."""
    return row is not None and not row.get("_skip_reason")


def lookup_name(row: dict[str, Any] | None, *fields: str) -> str | None:
    """First non-empty of `fields` in a looked-up row, or the first+last name."""
    if not row:
        return None
    for name in fields:
        if clean(row.get(name)):
            return clean(row.get(name))
    return " ".join(p for p in (clean(row.get("first_name")), clean(row.get("last_name"))) if p) or None
