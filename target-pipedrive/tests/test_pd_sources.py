"""Per Cliniko record accounting: each received record ends in exactly one status."""

from __future__ import annotations

from target_pipedrive.input.sources import SourceLedger, reconcile_line

STREAMS = {"patients": "patient", "invoices": "invoice", "attendees": "attendee"}


def ledger() -> SourceLedger:
    return SourceLedger("cliniko", STREAMS)


def test_worst_outcome_of_a_records_outputs_wins() -> None:
    s = ledger()
    p = s.receive("patients", 7)
    s.book(p, "migrated", p)
    s.book("cliniko:patient_notes:7", "skipped", p)  # a second output, keyed by another kind, same id
    assert s.counts(set()) == {"patients": {"migrated": 1}}
    s.book("cliniko:patient_notes:7", "failed")  # later, without the current record: the alias is remembered
    assert s.counts(set()) == {"patients": {"failed": 1}}


def test_rollups_and_definitions_are_not_source_records() -> None:
    s = ledger()
    inv = s.receive("invoices", 1)
    s.book(inv, "skipped", inv)  # rolled up into the patient
    s.book("cliniko:patient:9", "migrated", None)  # the rollup's person update: patient 9 was not received
    s.book("cliniko:communications:9", "migrated", None)
    s.book("cliniko:custom_field:person:dob", "migrated", None)
    assert s.counts(set()) == {"invoices": {"skipped": 1}}


def test_waiting_unaccounted_and_settled_holds() -> None:
    s = ledger()
    a1, a2, _unaccounted = (s.receive("attendees", i) for i in (1, 2, 3))
    s.book(a1, "held", a1, ("activities", a1))
    assert s.counts({a2}) == {"attendees": {"held": 1, "waiting": 1, "unaccounted": 1}}
    s.settle_held(lambda stream, key: (stream, key) == ("activities", a1))
    counts = s.counts({a2})
    assert counts == {"attendees": {"migrated": 1, "waiting": 1, "unaccounted": 1}}
    line = reconcile_line(counts)
    assert line.startswith("Cliniko records received 3 = migrated 1 + unchanged 0 + rolled up 0 + skipped 0 + failed 0")
    assert line.endswith("1 UNACCOUNTED") and "waiting 1" in line
    assert reconcile_line({"attendees": {"migrated": 2, "unchanged": 1}}).endswith(": reconciled")
