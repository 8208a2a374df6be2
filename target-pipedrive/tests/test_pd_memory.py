"""The map's memory as crosswalk rows (crosswalk/memory.py), on SQLite and a real PostgreSQL server.

What it must hold: nothing reaches the crosswalk before a checkpoint saves it (a stopped run leaves the
memory as the last checkpoint had it), a save writes exactly what changed, reads see unsaved changes
first, the cache stays within its bound, and the map's memory from before (one kv blob, or a patient's
rollup parts in one value) becomes a row per value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pd_helpers import base_config, record, run_admin, run_target, state
from sqlalchemy import create_engine, insert, select

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.crosswalk.memory import CrosswalkMemory
from target_pipedrive.crosswalk.tables import kv, map_memory


@pytest.fixture
def crosswalk(crosswalk_url: str) -> Any:
    opened = Crosswalk(crosswalk_url)
    yield opened
    opened.close()


def rows(crosswalk: Crosswalk) -> dict[tuple[str, str], Any]:
    with crosswalk.engine.connect() as c:
        return {(r.space, r.key): r.value for r in c.execute(select(map_memory))}


def test_changes_reach_the_crosswalk_only_when_saved(crosswalk: Crosswalk) -> None:
    memory = CrosswalkMemory(crosswalk)
    memory.put("table:patients", "7", {"merged_with_patient_id": None})
    memory.put("part:billing:7", "invoices/1", {"total_amount": "120.00", "note": "Zoë ✓"})
    assert memory.get("table:patients", "7") == {"merged_with_patient_id": None}  # its own changes first
    assert memory.keys("part:billing:7") == ["invoices/1"]
    assert rows(crosswalk) == {}  # nothing durable before the checkpoint
    memory.save()
    assert rows(crosswalk) == {("table:patients", "7"): {"merged_with_patient_id": None},
                               ("part:billing:7", "invoices/1"): {"total_amount": "120.00", "note": "Zoë ✓"}}
    # a new process (the next run) reads what was saved, and the unsaved change of a stopped run is gone
    memory.put("table:patients", "7", {"merged_with_patient_id": "9"})
    memory.put("dirty:billing", "7", 1)
    fresh = CrosswalkMemory(crosswalk)
    assert fresh.get("table:patients", "7") == {"merged_with_patient_id": None}
    assert fresh.get("dirty:billing", "7") is None and fresh.keys("dirty:billing") == []
    # removing a key: gone from keys at once, from the crosswalk at the save
    memory.put("part:billing:7", "invoices/1", None)
    assert memory.keys("part:billing:7") == [] and memory.get("part:billing:7", "invoices/1") is None
    memory.save()
    assert set(rows(crosswalk)) == {("table:patients", "7"), ("dirty:billing", "7")}
    assert CrosswalkMemory(crosswalk).get("table:patients", "7") == {"merged_with_patient_id": "9"}


def test_the_cache_stays_within_its_bound_and_reads_the_rest_from_rows(crosswalk: Crosswalk) -> None:
    memory = CrosswalkMemory(crosswalk, cache_size=50)
    for n in range(400):
        memory.put("person", f"cliniko:patient:{n}", {"name": f"P{n}"})
    memory.save()
    assert memory.cached <= 50
    assert [memory.get("person", f"cliniko:patient:{n}") for n in (0, 199, 399)] == [
        {"name": "P0"}, {"name": "P199"}, {"name": "P399"}]
    assert memory.get("person", "cliniko:patient:nobody") is None
    assert memory.cached <= 50
    assert len(memory.keys("person")) == 400



def test_a_space_read_whole_is_the_saved_rows_under_the_unsaved_changes(crosswalk: Crosswalk) -> None:
    memory = CrosswalkMemory(crosswalk)
    for n in (1, 2, 3):
        memory.put("part:billing:7", f"invoices/{n}", {"total": n})
    memory.put("part:billing:8", "invoices/4", {"total": 4})
    memory.save()
    memory.put("part:billing:7", "invoices/2", None)  # dropped since
    memory.put("part:billing:7", "invoices/3", {"total": 30})  # changed since
    memory.put("part:billing:7", "invoices/10", {"total": 10})  # new since
    assert memory.items("part:billing:7") == [("invoices/1", {"total": 1}), ("invoices/10", {"total": 10}),
                                              ("invoices/3", {"total": 30})]
    assert memory.items("part:billing:8") == [("invoices/4", {"total": 4})]
    assert memory.items("part:billing:9") == []
    assert memory.unsaved == 3


def test_a_failed_save_keeps_every_change_for_the_next_one(crosswalk: Crosswalk,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    memory = CrosswalkMemory(crosswalk)
    memory.put("waiting", "group_appointments:5", [["attendees", "1"]])

    def refuse(values: dict) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(crosswalk, "save_memory", refuse)
    with pytest.raises(OSError):
        memory.save()
    monkeypatch.undo()
    assert memory.unsaved == 1
    memory.save()
    assert rows(crosswalk) == {("waiting", "group_appointments:5"): [["attendees", "1"]]}


def test_rollback_forgets_the_memory(crosswalk: Crosswalk) -> None:
    memory = CrosswalkMemory(crosswalk)
    memory.put("table:patients", "1", {})
    memory.save()
    crosswalk.forget_memory()
    assert rows(crosswalk) == {}


OLD_INVOICE = {"number": 1, "status": 20, "issue_date": "2024-01-02", "total_amount": "100.00",
               "closed_at": None, "updated_at": "2024-01-02T00:00:00Z", "deleted_at": None,
               "archived_at": None, "time_zone": "Australia/Sydney", "id": "501"}


@pytest.mark.parametrize("version", [1, 2])
def test_the_map_memory_of_an_earlier_version_becomes_rows(pipedrive_sandbox: Any, tmp_path: Path,
                                                           version: int) -> None:
    """Version 1 kept the map's memory as one kv blob, version 2 as rows with a patient's rollup parts in one
    value: either carries on, as a row per part at the start of the next run (blob dropped)."""
    cfg = base_config(pipedrive_sandbox, tmp_path, map=str(tmp_path / "map.yaml"),
                      map_output_dir=str(tmp_path / "map-out"))
    assert run_admin(cfg, ["confirm-map"], tmp_path).returncode == 0
    url = cfg["crosswalk_url"]
    Crosswalk(url).close()
    engine = create_engine(url)
    with engine.begin() as c:
        if version == 1:
            legacy = {"version": 1, "tables": {"patients": {"7": {"merged_with_patient_id": None}}},
                      "groups": {"billing": {"7": {"invoices": {"501": OLD_INVOICE}}}},
                      "dirty": {"billing": []}, "persons": {}, "artifacts_dirty": [], "waiting": {}, "records": {}}
            c.execute(insert(kv).values(name="map_state", value=legacy, updated_at="x"))
        else:
            c.execute(insert(map_memory), [
                {"space": "table:patients", "key": "7", "value": {"merged_with_patient_id": None}},
                {"space": "group:billing", "key": "7", "value": {"invoices": {"501": OLD_INVOICE}}}])
    done = run_target(cfg, [{"type": "STATE", "value": {}}], tmp_path)
    assert done.returncode == 0, done.stderr
    with engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM kv WHERE name = 'map_state'").scalar() == 0
        kept = {(r.space, r.key): r.value for r in c.execute(select(map_memory))}
    engine.dispose()
    assert kept == {("table:patients", "7"): {"merged_with_patient_id": None},
                    ("part:billing:7", ""): 1, ("part:billing:7", "invoices/501"): OLD_INVOICE}


@pytest.mark.parametrize("every", [None, 5])
def test_records_that_arrive_faster_than_the_state_interval_are_saved_by_count(pipedrive_sandbox: Any,
                                                                             tmp_path: Path, every: int | None) -> None:
    """No STATE until the end (a rolled-up stream read at the tap's speed): the map's memory and the records'
    statuses are still saved every `checkpoint_records`, so a checkpoint never holds more than that."""
    cfg = base_config(pipedrive_sandbox, tmp_path, map=str(tmp_path / "map.yaml"),
                      map_output_dir=str(tmp_path / "map-out"), **({"checkpoint_records": every} if every else {}))
    assert run_admin(cfg, ["confirm-map"], tmp_path).returncode == 0
    patients = [{"id": str(i), "first_name": "Pat", "last_name": f"Number {i}", "email": f"p{i}@example.org",
                 "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z"} for i in range(1, 13)]
    patient_schema = {"type": "SCHEMA", "stream": "patients", "key_properties": ["id"],
                      "schema": {"type": "object", "properties": {"id": {"type": "string"}}}}
    done = run_target(cfg, [patient_schema, *(record("patients", p) for p in patients), state({"done": 1})],
                      tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    crosswalk = Crosswalk(cfg["crosswalk_url"])
    try:
        summary = crosswalk.runs()[-1]["summary"]
        persons = [r for r in crosswalk.source_rows("patients") if r["status"] == "migrated"]
    finally:
        crosswalk.close()
    # by default saved at the STATE and the end only; with 5: also after the 5th and 10th record at least (more
    # often when a record changes several values of the map's memory)
    count = summary["checkpoints"]["count"]
    assert (count >= 4 if every else count == 2), summary["checkpoints"]
    assert len(persons) == 12
