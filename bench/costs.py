"""What the standard clinic costs in Pipedrive tokens and requests, and how close the estimates come.

Limits off (tokens do not depend on speed). On one Pipedrive account, in order: the plan and the
migration, a delta after changes in Cliniko (its plan, then the run), and a rollback of everything
(its printed estimate, then `--yes`). Each plan reads records only, as the `plan` job does; each real
run's tap downloads the attachments, as a migration does.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import plugins, sandboxes
from bench.pipeline import run_tap, run_target
from bench.scenarios import Scenario

ESTIMATE = re.compile(r"Estimated cost: (\d+) Pipedrive requests, (\d+) tokens")
# a Pipedrive operation's path, by what it reads or writes
OBJECT_TYPES = {"persons": "persons", "activities": "activities", "notes": "notes", "files": "files",
                "products": "products", "personFields": "custom fields", "productFields": "custom fields",
                "activityTypes": "activity types", "users": "users"}


def standard_costs(s: Scenario, work: Path, clinic: Path, records_only: Path) -> dict[str, Any]:
    folder = work / "costs"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / clinic.name  # the delta changes the clinic: on a copy
    shutil.copy(clinic, db)
    shutil.copy(clinic.with_suffix(".ready"), db.with_suffix(".ready"))
    map_path = plugins.confirmed_map(work)
    out: dict[str, Any] = {}
    with sandboxes.cliniko("standard", db) as cliniko, sandboxes.pipedrive(None, "--no-limits") as pipedrive:
        sandboxes.staff_as_users(cliniko, pipedrive)

        def config(mode: str) -> dict[str, Any]:
            return plugins.target_config(pipedrive.url, folder, map_path, s.plan, s.seats, mode=mode, limits=False)

        def planned_then_run(label: str, run_input: Path, plan_input: Path) -> dict[str, Any]:
            return planned_and_run(config, pipedrive, folder, label, run_input, plan_input)

        pipedrive.admin("/_admin/usage/reset", {})
        tap = plugins.tap_config(cliniko.url, folder / "files", 0)
        run_tap(plugins.TAP, tap, cliniko, folder, "tap")
        out["migration"] = planned_then_run("migration", folder / "tap.singer", records_only)

        change_clinic(cliniko)
        state = plugins.write_json(folder / "state.json", last_state(records_only))
        run_tap([*plugins.TAP, "--state", str(state)], tap, cliniko, folder, "delta-tap")
        without_files = {k: v for k, v in tap.items() if k != "attachments_dir"}
        run_tap([*plugins.TAP, "--state", str(state)], without_files, cliniko, folder, "delta-plan-tap")
        out["delta"] = planned_then_run("delta", folder / "delta-tap.singer", folder / "delta-plan-tap.singer")

        admin = [*plugins.ADMIN, "--config", str(plugins.write_json(folder / "admin.json", config("apply")))]
        shown = subprocess.run([*admin, "rollback", "--all"], capture_output=True, text=True, cwd=folder,
                               check=True)
        found = ESTIMATE.search(shown.stdout)
        assert found, shown.stdout[-2000:]
        done = subprocess.run([*admin, "rollback", "--all", "--yes"], capture_output=True, text=True, cwd=folder)
        assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
        out["rollback"] = compared(int(found[1]), int(found[2]), pipedrive.admin("/_admin/usage"))
    return out


def choice_costs(s: Scenario, work: Path, clinic: Path, records_only: Path) -> dict[str, Any]:
    """The standard migration again with the map's history choices on, each on a fresh Pipedrive account:
    the plan's estimate, then the run (the same tap output as standard_costs' migration: its downloads)."""
    out: dict[str, Any] = {}
    for label, policies in s.choices.items():
        slug = label.replace(" + ", "_and_")
        folder = work / "choices" / slug
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        map_path = plugins.confirmed_map(folder, policies)
        with sandboxes.cliniko("standard", clinic) as cliniko, sandboxes.pipedrive(None, "--no-limits") as pipedrive:
            sandboxes.staff_as_users(cliniko, pipedrive)
            pipedrive.admin("/_admin/usage/reset", {})

            def config(mode: str, folder: Path = folder, map_path: Path = map_path,
                       url: str = pipedrive.url) -> dict[str, Any]:
                return plugins.target_config(url, folder, map_path, s.plan, s.seats, mode=mode, limits=False)

            out[label] = {"policies": policies, **planned_and_run(config, pipedrive, folder, slug,
                                                                  work / "costs" / "tap.singer", records_only)}
    return out


def planned_and_run(config: Callable[[str], dict[str, Any]], pipedrive: sandboxes.Sandbox, folder: Path, label: str,
                    run_input: Path, plan_input: Path) -> dict[str, Any]:
    """The plan's estimate (records only, as the `plan` job reads them), then the run, on one account."""
    planned, _ = run_target(config("plan"), pipedrive, plan_input, folder, f"{label}-plan")
    summary = planned.extra.get("summary") or {}
    pipedrive.admin("/_admin/usage/reset", {})
    run, _ = run_target(config("apply"), pipedrive, run_input, folder, label)
    usage = pipedrive.admin("/_admin/usage")
    pipedrive.admin("/_admin/usage/reset", {})
    return {**compared(int(summary.get("planned_writes") or 0) + int(summary.get("requests") or 0),
                       int(summary.get("planned_write_tokens") or 0) + int(summary.get("tokens") or 0), usage),
            "source_records": run.records, "failed": run.extra.get("failed"), "by_object": by_object(usage)}


def compared(requests: int, tokens: int, usage: dict[str, Any]) -> dict[str, Any]:
    return {"estimated_requests": requests, "requests": usage["requests"], "estimated_tokens": tokens,
            "tokens": usage["tokens_today"], "requests_ratio": _ratio(requests, usage["requests"]),
            "tokens_ratio": _ratio(tokens, usage["tokens_today"]), "responses_429": usage["responses_429"]}


def by_object(usage: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Requests and tokens per Pipedrive object type ("POST /v2/persons" and "GET /v2/persons/{id}": persons)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"requests": 0, "tokens": 0})
    for operation, spent in usage["by_operation"].items():
        first = operation.split(" ", 1)[1].split("/")[2]  # "/v2/persons/{id}" -> "persons"
        row = out[OBJECT_TYPES.get(first, first)]
        row["requests"] += spent["count"]
        row["tokens"] += spent["tokens"]
    return dict(out)


def change_clinic(cliniko: sandboxes.Sandbox) -> None:
    """A cutover's changes: 40 patients renamed, 15 new ones, 20 new invoices."""
    rows = cliniko.admin("/_admin/records/patients")
    patients = rows.get("patients", rows) if isinstance(rows, dict) else rows
    ids = sorted(int(p["id"]) for p in patients if not p.get("archived_at") and not p.get("deleted_at"))
    for pid in ids[5:45]:
        cliniko.admin("/_admin/mutate", {"resource": "patients", "id": pid, "set": {"last_name": "Renamed"}})
    for n in range(15):
        cliniko.admin("/_admin/records/patients", {"first_name": f"New{n}", "last_name": "Patient",
                                                   "email": f"new{n}@example.com", "date_of_birth": "1990-04-05"})
    for n, pid in enumerate(ids[100:120]):
        cliniko.admin("/_admin/records/invoices", {"patient_id": pid, "number": 990000 + n, "status": 20,
                                                   "issue_date": "2026-11-30", "total_amount": "95.00"})


def last_state(singer: Path) -> dict[str, Any]:
    state: dict[str, Any] = {}
    with singer.open() as lines:
        for line in lines:
            if line.startswith('{"type":"STATE"') or line.startswith('{"type": "STATE"'):
                state = json.loads(line)["value"]
    return state


def _ratio(estimate: int, actual: int) -> float | None:
    return round(estimate / actual, 4) if actual else None
