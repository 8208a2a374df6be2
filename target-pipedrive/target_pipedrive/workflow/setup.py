"""`setup`: create the confirmed map's schema in Pipedrive before any record moves.

What to create is what the latest plan run saw (planrun.py stored the exact definition
records: the map's custom fields with the clinic's own options, one activity type per
Cliniko appointment type, the external-id fields), so setup needs no Cliniko access. The
records go through the same Writer as a migration: each create is recorded in the
crosswalk (rollback can undo it), a definition that exists is adopted, and a second setup,
like the migration after it, finds every payload unchanged and writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TextIO

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.errors import TargetError
from target_pipedrive.input.mapping import CONFIRM_HINT, is_confirmed, load_map
from target_pipedrive.pipedrive.client import PipedriveClient
from target_pipedrive.run.progress import Progress
from target_pipedrive.settings import Settings
from target_pipedrive.workflow.planreport import latest_plan, schema_records
from target_pipedrive.write.writer import Writer


class SetupRefused(TargetError):
    """Setup cannot run (unconfirmed map, no plan, a plan of another map): nothing was written."""


def run(settings: Settings, crosswalk: Crosswalk, out: TextIO,
        logger: logging.Logger | None = None) -> tuple[int, dict[str, dict[str, int]]]:
    """Create what is missing; returns the Writer's exit code (0 ok, 1 failures, 75 stopped early) and what
    happened per kind (custom_fields, activity_types: created, matched, unchanged, ...)."""
    settings = replace(settings, mode="apply")
    m = load_map(settings.map_path, settings.map_output_dir)
    where = settings.map_path or "the packaged map"
    if not is_confirmed(m):
        what = "was changed since it was confirmed" if m.confirmed else "is not confirmed"
        raise SetupRefused(f"The map ({where}) {what}, so nothing was created: {CONFIRM_HINT}.")
    plan_run, details = latest_plan(crosswalk)
    if details.get("map_digest") != m.digest:
        raise SetupRefused(f"The latest plan (run {plan_run['run_id']}) was made with another map than the confirmed "
                           f"one ({where}), so nothing was created: run the plan again "
                           "(`meltano run tap-cliniko target-pipedrive--plan`; without Meltano: `tap-cliniko --config "
                           "TAP.json | target-pipedrive-plan --config TARGET.json`) and review it.")
    client = PipedriveClient.from_settings(settings, crosswalk.tokens_spent, crosswalk.save_tokens)
    progress = Progress(0, out)
    writer = Writer(settings, crosswalk, client, progress, logger or logging.getLogger("target-pipedrive"))
    crosswalk.set_run_kind(writer.run_id, "setup")
    for stream, record in schema_records(settings, details):
        writer.process(stream, record)
    code = writer.finish(quiet=True)
    return code, {stream: dict(counts) for stream, counts in writer.progress.counts.items()}


def summary(counts: dict[str, dict[str, int]]) -> str:
    """What setup did, in words: what it created, what was there already."""
    names = {"custom_fields": "custom field(s)", "activity_types": "activity type(s)"}
    created = [f"{c.get('created', 0)} {names.get(s, s)}" for s, c in counts.items() if c.get("created")]
    found = sum(c.get("matched", 0) + c.get("unchanged", 0) + c.get("updated", 0) for c in counts.values())
    if not created:
        return f"Setup: nothing to create - the {found} custom field(s) and activity type(s) the map needs exist."
    return (f"Setup: created {' and '.join(created)}" + (f"; {found} already existed" if found else "")
            + ". Rollback can undo them (target-pipedrive-admin rollback --run <the setup run>).")
