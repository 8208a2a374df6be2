"""Rollback: undo what runs wrote, from the crosswalk's change history.

Created objects are deleted; updated or matched objects get their before-image back.
Steps run children first (files, notes, activities), then persons and products, then the
definitions (activity types, custom fields), newest change first within a stream, so a
run that created and then updated an object is undone in the right order. Each step is
recorded in `rollback_steps` the moment it is done: a second invocation resumes where the
first stopped and repeating a finished rollback changes nothing. An object whose fields no
longer hold what the migration wrote (someone edited it in Pipedrive) is refused unless
`force` is set.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.pipedrive.client import PipedriveClient, token_cost
from target_pipedrive.write import images
from target_pipedrive.write.kinds import Api, Kind, kind_for

ORDER = ("files", "notes", "activities", "products", "persons", "activity_types", "custom_fields")
SCHEMA = ("activity_types", "custom_fields")  # undone only when asked: other data may use them by then


@dataclass
class Step:
    change: dict[str, Any]
    op: str  # delete | restore | forget

    @property
    def stream(self) -> str:
        return str(self.change["stream"])

    def describe(self) -> str:
        what = {"delete": "delete", "restore": "restore the before-image of", "forget": "unmap"}[self.op]
        return f"{what} {self.stream} {self.change['pipedrive_id']} ({self.change['source_key']}, run " \
               f"{self.change['run_id']})"


def plan(crosswalk: Crosswalk, run_ids: list[str] | None, schema: bool = True) -> list[Step]:
    """Steps still to do for these runs (all runs when None), in execution order; custom fields and
    activity types only with `schema`."""
    done = {cid for cid, row in crosswalk.rollback_done().items() if row["status"] == "done"}
    steps = []
    for change in crosswalk.changes(run_ids):
        if change["id"] in done or (not schema and change["stream"] in SCHEMA):
            continue
        before = {k: v for k, v in (change["before_image"] or {}).items() if not k.startswith("_")}
        op = "delete" if change["action"] == "created" else ("restore" if before else "forget")
        steps.append(Step(change, op))
    steps.sort(key=lambda s: (ORDER.index(s.stream) if s.stream in ORDER else len(ORDER), -s.change["id"]))
    return steps


def summarize(steps: list[Step]) -> str:
    counts = Counter(f"{s.op} {s.stream}" for s in steps)
    return ", ".join(f"{label}: {n}" for label, n in sorted(counts.items())) or "nothing to roll back"


def undo(step: Step, kind: Kind, force: bool) -> str | None:
    """The step's requests: why it was refused, or None when it was done."""
    change = step.change
    pid = int(change["pipedrive_id"])
    current = kind.get(pid)
    if step.op != "forget" and current is not None:
        drifted = images.changed_since(change["after_image"] or {}, current)
        if drifted and not force:
            return f"changed in Pipedrive after the migration ({', '.join(drifted)}); use --force to undo anyway"
    if step.op == "delete" and current is not None:
        kind.delete(pid)
    elif step.op == "restore":
        if current is None:
            return "the object no longer exists in Pipedrive; nothing to restore"
        before = {k: v for k, v in (change["before_image"] or {}).items() if not k.startswith("_")}
        body = images.restore_body(before)
        if step.stream == "activity_types":  # v1 cannot set these back to empty
            body = {k: v for k, v in body.items() if v is not None}
        if body:
            kind.update(pid, body)
    return None


def execute(crosswalk: Crosswalk, api: Api, steps: list[Step], rollback_run_id: str, force: bool = False,
            echo: Callable[[str], None] = print) -> Counter[str]:
    """Run the steps; returns counts of done and refused steps."""
    outcome: Counter[str] = Counter()
    for step in steps:
        change = step.change
        pid = int(change["pipedrive_id"])
        refused = undo(step, kind_for(api, step.stream, (change["after_image"] or {}).get("_entity")), force)
        if refused is not None:
            crosswalk.mark_rollback(change["id"], rollback_run_id, "refused", refused)
            echo(f"REFUSED {step.describe()}: {refused}")
            outcome["refused"] += 1
            continue
        crosswalk.restore_mapping(step.stream, change["source_key"], change["prev_xwalk"])
        crosswalk.mark_rollback(change["id"], rollback_run_id, "done", step.op)
        crosswalk.audit(rollback_run_id, step.stream, change["source_key"], "rolled_back", step.op,
                        f"undid the {change['action']} of run {change['run_id']}", change["action"], pid)
        echo(f"done: {step.describe()}")
        outcome["done"] += 1
    return outcome


class _StepPrices(Api):
    """Prices one step's requests instead of sending them. Every read answers that the object still holds
    what the migration wrote, the usual case; a refused step costs only its read."""

    def __init__(self, client: PipedriveClient, change: dict[str, Any]) -> None:
        super().__init__(client, dry_run=True)  # writes are priced as plan mode prices them
        self.held = {**(change["after_image"] or {}), "id": int(change["pipedrive_id"])}
        self.reads = 0

    def read(self, version: str, path: str, params: dict[str, Any] | None = None) -> Any:
        self.reads += 1
        self.planned_tokens += token_cost("GET", version, path)
        return dict(self.held) if re.search(r"/\d+$", path) else [dict(self.held)]  # one object, or a list


def price(client: PipedriveClient, steps: list[Step]) -> tuple[int, int]:
    """The requests and tokens the steps will spend when every object is still as the migration left it."""
    requests = tokens = 0
    for step in steps:
        api = _StepPrices(client, step.change)
        undo(step, kind_for(api, step.stream, (step.change["after_image"] or {}).get("_entity")), force=True)
        requests += api.reads + api.planned_writes
        tokens += api.planned_tokens
    return requests, tokens
