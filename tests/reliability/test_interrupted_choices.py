"""Killed with the map's bill-cutting choices on, then run again: the same Pipedrive as one uninterrupted run.

With `history_cutoff`, `history_notes` and `treatment_notes_on_appointments` on, the target keeps more in
memory between checkpoints than with the choices off: each patient's history rows (written as one CSV at
the end), the index of appointments a treatment note is written into, and the rows `remember_if` keeps.
A SIGKILL loses all of that at once; Ctrl-C (SIGINT to the process group) and SIGTERM (to Meltano alone)
stop the target while it still holds some of it. These memories are saved by the same checkpoints as the
rows they index, so the re-run (plain after SIGINT and SIGTERM, `--force` after SIGKILL) must rebuild them
from the re-read records and write what one run writes: no history row lost or twice, no note lost,
nothing twice.

The oracle is an uninterrupted run of the same clinic into a second, fresh account (the sandboxes are
seeded, so both clinics are identical): the two accounts must hold the same persons, activities, notes,
files (byte for byte) and products. The stop points are fractions of the reference run's own request
counts, so every kill lands inside the phase it names on any machine.
"""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    PIPELINE,
    REF,
    SIGNALS,
    Account,
    Point,
    ServedPipedrive,
    assert_audit_reconciles,
    confirm_map,
    pipeline_env,
    run_until_done,
    served_sandboxes,
    stop_at,
    usage,
    verify,
)

# The generated clinics' "now" is in the second half of 2024: this cutoff sends about two thirds of the
# small clinic's appointments (and their notes) to the history files.
CHOICES = {"history_cutoff": "2023-01-01", "history_notes": True, "treatment_notes_on_appointments": True}
HISTORY_FILE = "Cliniko history.csv"


def confirm_with_choices(env: dict[str, str], folder: Path) -> None:
    """The operator's path: a copy of the packaged map with the choices set, confirmed with `--from`."""
    from cliniko_map.mapper import default_map_path
    from cliniko_map.policies import set_in_text

    edited = folder / "cliniko-map.yaml"
    edited.write_text(set_in_text(default_map_path().read_text(encoding="utf-8"), CHOICES), encoding="utf-8")
    confirm_map(env, edited)


def contents(pipedrive: ServedPipedrive) -> dict[str, Any]:
    """What the account holds, with Pipedrive's own ids replaced by the Cliniko keys they stand for."""
    account = Account(pipedrive)
    name_of = {key: name for name, key in account.fields.items()}
    key_of = {p["id"]: key for key, p in account.persons.items()}
    persons = {key: {"name": p["name"], "emails": sorted(e["value"] for e in p.get("emails") or []),
                     "phones": sorted(ph["value"] for ph in p.get("phones") or []), "owner": p.get("owner_id"),
                     "fields": {name_of.get(k, k): v for k, v in (p.get("custom_fields") or {}).items()}}
               for key, p in account.persons.items()}
    activities = {REF.search(a.get("note") or "").group(1): {  # type: ignore[union-attr]
        "person": key_of.get(a.get("person_id")), "subject": a.get("subject"), "type": a.get("type"),
        "due": (a.get("due_date"), a.get("due_time"), a.get("duration")), "owner": a.get("owner_id"),
        "done": a.get("done"), "note": a.get("note")} for a in account.activities}
    notes = {REF.search(n["content"]).group(1): (key_of.get(n.get("person_id")), n["content"])  # type: ignore[union-attr]
             for n in account.notes}
    files: dict[tuple[str | None, str], str] = {}
    for f in account.files:
        answer = pipedrive.request("GET", f"/api/v1/files/{f['id']}/download")
        assert answer.status_code == 200, answer.text[:300]
        key = (key_of.get(f.get("person_id")), f["name"])
        assert key not in files, f"two files {key}"
        files[key] = hashlib.sha256(answer.content).hexdigest()
    products = {p["name"]: {"code": p.get("code"), "description": p.get("description"), "tax": p.get("tax"),
                            "prices": sorted((q["price"], q["currency"], q.get("cost")) for q in p.get("prices") or []),
                            "cliniko": sorted(map(str, (p.get("custom_fields") or {}).values()))}
                for p in account.products}
    assert len(activities) == len(account.activities) and len(notes) == len(account.notes), "an object twice"
    return {"persons": persons, "activities": activities, "notes": notes, "files": files, "products": products}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, int]]:
    """One uninterrupted migration with the choices on: its contents and its requests per operation."""
    folder = tmp_path_factory.mktemp("reference")
    cliniko, pipedrive = served_sandboxes(folder)
    try:
        env = pipeline_env(folder, cliniko, pipedrive)
        confirm_with_choices(env, folder)
        runs = run_until_done(env, PIPELINE, folder / "pipeline.log", tries=1)
        assert runs[-1].returncode == 0, runs[-1].stderr_tail
        return contents(pipedrive), usage(pipedrive)
    finally:
        cliniko.stop()
        pipedrive.stop()


@pytest.mark.parametrize("name", list(SIGNALS))
def test_stopped_with_the_choices_on_then_rerun_gives_what_one_run_gives(
        tmp_path: Path, name: str, reference: tuple[dict[str, Any], dict[str, int]]) -> None:
    signum, whom, rerun = SIGNALS[name]
    expected, requests = reference
    # the choices are really on: history files on persons, and far fewer activities and notes than records
    history = [key for key in expected["files"] if key[1] == HISTORY_FILE]
    assert len(history) >= 5, sorted(expected["files"])
    # a first run updates an activity only to write a treatment note into it
    note_patches = next((op for op in requests if op.startswith("PATCH /v2/activities")), None)
    assert note_patches and requests[note_patches] >= 10, "treatment notes were not written in their activities"

    # stopped while appointments are created, while notes are written into them, and while the history files
    # (with the other per-patient files) go out at the end
    points = [Point("individual appointments", "POST /v2/activities", requests["POST /v2/activities"] // 2),
              Point("notes into activities", note_patches, max(1, requests[note_patches] // 2)),
              Point("history files", "POST /v1/files", requests["POST /v1/files"] - len(history) // 2, hold=True)]
    cliniko, pipedrive = served_sandboxes(tmp_path)
    try:
        env = pipeline_env(tmp_path, cliniko, pipedrive)
        confirm_with_choices(env, tmp_path)
        log = tmp_path / "pipeline.log"
        for n, point in enumerate(points):
            stopped = stop_at(env, PIPELINE if n == 0 else rerun, log, point, signum, whom, cliniko, pipedrive)
            assert stopped.returncode != 0, f"a stopped run exited 0 at {point}"
            if signum != signal.SIGKILL:
                assert f"target-pipedrive: stopped by {name}" in stopped.log, (point, stopped.log[-3000:])
        finals = run_until_done(env, rerun, log)
        assert len(finals) == 1, "one re-run after the stops finishes the migration"

        got = contents(pipedrive)
        for part in ("persons", "activities", "notes", "files", "products"):
            assert got[part] == expected[part], (part, diff(got[part], expected[part]))
        assert_audit_reconciles(env, tmp_path / "report", cliniko)
        code, document = verify(env, tmp_path / "verify")
        assert code == 0 and document["summary"]["completeness"]["problems"] == 0, document["summary"]
    finally:
        cliniko.stop()
        pipedrive.stop()


def diff(got: Any, expected: Any) -> Any:
    """The first differences, small enough to read in a failure."""
    if isinstance(got, dict) and isinstance(expected, dict):
        keys = sorted(set(got) ^ set(expected), key=str)[:5]
        changed = [k for k in got if k in expected and got[k] != expected[k]][:3]
        return {"only one side": keys, "changed": {str(k): (got[k], expected[k]) for k in changed}}
    return (got, expected)
