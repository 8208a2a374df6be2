"""The generation pipeline: account setup, then patient by patient, then group classes.

Rows are yielded one patient at a time so a 20,000-patient clinic streams into the
store in batches without ever being held in memory as a whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sandbox.generator import groups, patients, setup
from sandbox.generator.activity import Activity, Blob, Patient
from sandbox.generator.context import Context
from sandbox.generator.setup import Clinic

Row = tuple[str, int, dict[str, Any], dict[str, Any]]


def rows(ctx: Context, clinic: Clinic) -> Iterator[Row | Blob]:
    """Every row (and attachment blob) of the clinic, in a deterministic order."""
    yield from setup.build(ctx, clinic)
    activity = Activity(ctx, clinic)
    rng = ctx.rng("patients")
    homes = {b["country"]: b for b in reversed(clinic.open_businesses)}
    pool: list[Patient] = []
    for index in range(ctx.size.patients):
        pid = ctx.new_id("patients")
        survivor = ctx.edge_cases.get("patient_merge_survivor")
        body, meta, country, flags = patients.build(ctx, rng, index, pid, clinic.custom_fields,
                                                    int(survivor["id"]) if survivor else None)
        if clinic.doctors and rng.random() < 0.25:
            meta["referring_doctor_id"] = rng.choice(clinic.doctors)
        phones = body["patient_phone_numbers"] or []
        mobile = next((ph["number"] for ph in phones if ph["phone_type"] == "Mobile"), None)
        person = Patient(id=pid, first_name=body["first_name"].strip(), label=body["label"],
                         created=_parse(body["created_at"]), business=homes[country], email=body["email"],
                         mobile=mobile, flags=flags)
        extra, latest = activity.patient_rows(person, ctx.rng(f"activity:{index}"))
        if latest is not None:
            meta["latest_booking_id"] = latest
        yield "patients", pid, body, meta
        yield from extra
        yield from activity.blobs
        activity.blobs.clear()
        if not flags & {"archived", "merged", "deleted"}:
            pool.append(person)
    yield from groups.sessions(activity, pool)
    yield from activity.blobs


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
