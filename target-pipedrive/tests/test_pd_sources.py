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


class Saved:
    """The crosswalk's `sources` rows of this run, as `settle_sources` writes them."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], str] = {}

    def save(self, settled: list[tuple[str, str, str]]) -> None:
        self.rows.update({(stream, key): status for stream, key, status in settled})

    def status(self, stream: str, key: str) -> str | None:
        return self.rows.get((stream, key))


def test_a_checkpoint_lets_saved_records_go_and_the_counts_stay_exact() -> None:
    saved = Saved()
    s = SourceLedger("cliniko", STREAMS, saved.status)
    keys = [s.receive("patients", i) for i in range(1, 6)]
    for key, status in zip(keys, ("migrated", "migrated", "skipped", "unchanged", "held"), strict=True):
        s.book(key, status, key, ("persons", key))
    waiting = s.receive("attendees", 1)  # no outcome yet: waits in the map
    s.book("cliniko:patient_notes:1", "migrated", keys[0])  # an alias of patient 1
    before = s.counts({waiting})
    saved.save(s.settled())
    s.retire()
    assert s.counts({waiting}) == before == {"patients": {"migrated": 2, "skipped": 1, "unchanged": 1, "held": 1},
                                            "attendees": {"waiting": 1}}
    assert set(s.received) == {keys[3], keys[4], waiting}  # unchanged, held and waiting stay; the rest is counts

    # a retired record booked again is reopened with its saved status: worst still wins, counted once
    s.book("cliniko:patient:1", "failed", None)
    s.book("cliniko:patient:3", "migrated", None)  # worse than its skipped: migrated now
    s.book("cliniko:patient:2", "unchanged", None)  # better than migrated: no change
    after = s.counts({waiting})
    assert after["patients"] == {"failed": 1, "migrated": 2, "unchanged": 1, "held": 1}
    assert sum(after["patients"].values()) == 5
    # the tap sends a retired record again: still one record
    saved.save(s.settled())
    s.retire()
    again = s.receive("patients", 2)
    s.book(again, "unchanged", again)
    assert s.counts({waiting}) == after
    assert "cliniko:patient:2" in s.received and not s.earlier


def test_a_record_no_run_saved_is_an_earlier_runs_and_a_dry_run_keeps_everything() -> None:
    saved = Saved()
    s = SourceLedger("cliniko", STREAMS, saved.status)
    p = s.receive("patients", 1)
    s.book(p, "migrated", p)
    saved.save(s.settled())
    s.retire()
    s.book("cliniko:patient:9", "migrated", None)  # received by an earlier run: not this run's
    assert s.earlier == {"cliniko:patient:9": "patients"}
    assert s.counts(set()) == {"patients": {"migrated": 1}}
    dry = SourceLedger("cliniko", STREAMS)
    k = dry.receive("patients", 1)
    dry.book(k, "migrated", k)
    dry.settled()
    dry.retire()
    assert dry.received == {k: "patients"} and dry.counts(set()) == {"patients": {"migrated": 1}}
