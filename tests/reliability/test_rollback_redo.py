"""Rollback, then redo: the world a rollback leaves is one the next run completes - or refuses, saying how.

A rollback undoes records in Pipedrive, but Meltano's bookmarks still say the tap read
them: a plain run afterwards would read only what changed since and leave Pipedrive partly
filled. So the next plain run must refuse before it writes anything, naming the command
that reads everything again, and following that command once must give the exact
contents. Also when that full read is itself interrupted (Meltano then merges its partial
bookmarks into the old ones): the plain run after it refuses again instead of ending
"reconciled" with records missing.

Then verify against Cliniko: a complete migration exits 0; a record created after the run
is `not_yet_migrated` (exit 0); a record Cliniko holds from before the last bookmark that
never reached the target is `never_arrived` (exit 1); an object deleted in Pipedrive is
`object_missing` (exit 1).
"""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path
from typing import Any

from pd_helpers import snapshot
from pipeline_helpers import (
    MELTANO,
    PIPELINE,
    ROLLBACK,
    ROOT,
    Account,
    Point,
    assert_migrated_exactly,
    attempt,
    confirm_map,
    pipeline_env,
    served_sandboxes,
    stop_at,
    usage,
    verify,
)

WRITES = ("POST", "PATCH", "PUT", "DELETE")
FULL_READ = re.compile(r"run `meltano --environment sandbox (run --full-refresh tap-cliniko target-pipedrive)` once")


def writes(pipedrive: Any) -> int:
    return sum(n for op, n in usage(pipedrive).items() if op.split(" ", 1)[0] in WRITES)


def runs(env: dict[str, str]) -> list[tuple[str, str, str]]:
    """(run id, kind, status) as `meltano invoke target-pipedrive:runs` lists them."""
    done = subprocess.run([str(MELTANO), "--environment", "sandbox", "invoke", "target-pipedrive:runs"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=True)
    return [tuple(line.split()[:3]) for line in done.stdout.splitlines() if line.strip()]  # type: ignore[misc]


def refused_without_writing(env: dict[str, str], pipedrive: Any, log: Path) -> tuple[str, ...]:
    """A plain run after a rollback: non-zero, nothing written, and the command to run instead."""
    before = writes(pipedrive)
    run = attempt(env, PIPELINE, log)
    assert run.returncode not in (0, None), run.stderr_tail
    assert writes(pipedrive) == before, "a refused run wrote to Pipedrive"
    found = FULL_READ.search(run.output)
    assert found, run.stderr_tail
    return tuple(found.group(1).split())


def test_rollback_then_redo_gives_the_exact_contents_and_verify_checks_cliniko(tmp_path: Path) -> None:
    cliniko, pipedrive = served_sandboxes(tmp_path)
    try:
        env = pipeline_env(tmp_path, cliniko, pipedrive)
        confirm_map(env)
        empty = snapshot(pipedrive)
        log = tmp_path / "pipeline.log"
        assert attempt(env, PIPELINE, log).returncode == 0

        # a delta, rolled back on its own: the next plain run must not skip what it undid
        patient = next(p for p in cliniko.admin("GET", "/_admin/records/patients")["patients"]
                       if not p.get("deleted_at") and not p.get("merged_at") and not p.get("archived_at"))
        cliniko.admin("POST", "/_admin/mutate", {"resource": "patients", "id": patient["id"],
                                                 "set": {"last_name": "Rolledback"}})
        assert attempt(env, PIPELINE, log).returncode == 0
        delta = [run_id for run_id, kind, status in runs(env) if kind == "delta"][-1]
        undo = attempt(env, ("invoke", "target-pipedrive:rollback", "--run", delta, "--yes"), log)
        assert undo.returncode == 0, undo.stderr_tail
        assert "--full-refresh" in undo.output  # the rollback itself says what the next run needs
        command = refused_without_writing(env, pipedrive, log)
        assert attempt(env, command, log).returncode == 0
        assert_migrated_exactly(cliniko, pipedrive, env, tmp_path / "report-delta")

        # everything rolled back; the full read that should follow is interrupted half way
        assert attempt(env, ROLLBACK, log).returncode == 0
        assert snapshot(pipedrive) == empty
        command = refused_without_writing(env, pipedrive, log)
        halfway = Point("group attendances", "POST /v2/activities", usage(pipedrive)["POST /v2/activities"] + 340)
        stopped = stop_at(env, command, log, halfway, signal.SIGINT, "group", cliniko, pipedrive)
        assert stopped.returncode != 0
        assert refused_without_writing(env, pipedrive, log) == command  # streams the full read never reached
        assert attempt(env, command, log).returncode == 0
        assert attempt(env, PIPELINE, log).returncode == 0  # and plain runs work again
        assert_migrated_exactly(cliniko, pipedrive, env, tmp_path / "report")

        # verify, against Cliniko as well as Pipedrive
        code, document = verify(env, tmp_path / "verify")
        found = document["summary"]["completeness"]
        assert (code, found["problems"], document["summary"]["differences"]) == (0, 0, 0), found
        assert found["in_cliniko"] == sum(c["total"] for c in cliniko.admin("GET", "/_admin/counts").values())

        newcomer = cliniko.admin("POST", "/_admin/records/patients", {"first_name": "Tui", "last_name": "Later"})
        code, document = verify(env, tmp_path / "verify")
        assert code == 0
        assert gaps(document) == [("patients", f"cliniko:patient:{newcomer['id']}", "not_yet_migrated")]

        # a patient Cliniko holds from well before the last bookmark, never received: lost on the way
        lost = cliniko.admin("POST", "/_admin/records/patients", {"first_name": "Ana", "last_name": "Lost"})
        cliniko.admin("POST", "/_admin/mutate", {"resource": "patients", "id": lost["id"], "set": {},
                                                 "updated_at": "2019-01-01T00:00:00Z"})
        code, document = verify(env, tmp_path / "verify")
        assert code == 1
        assert gaps(document) == sorted([("patients", f"cliniko:patient:{newcomer['id']}", "not_yet_migrated"),
                                         ("patients", f"cliniko:patient:{lost['id']}", "never_arrived")])
        html = (tmp_path / "verify" / "diff.html").read_text()
        assert f"cliniko:patient:{lost['id']}" in html and "never_arrived" in html

        # an object deleted in Pipedrive behind the migration's back
        note = Account(pipedrive).notes[0]
        assert pipedrive.request("DELETE", f"/api/v1/notes/{note['id']}").status_code == 200
        code, document = verify(env, tmp_path / "verify")
        assert code == 1
        assert [(r["stream"], r["verdict"]) for r in document["rows"]
                if r["verdict"] not in ("match", "not_yet_migrated", "never_arrived")] == [("notes", "object_missing")]
    finally:
        cliniko.stop()
        pipedrive.stop()


def gaps(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((r["stream"], r["source_key"], r["verdict"]) for r in document["rows"]
                  if r["field"] == "(Cliniko record)")
