"""The write-ahead protocol: every create and update of a Pipedrive object, in three steps.

1. an intent (what is about to be written, how to find it again, for updates the before-image) is
   committed to the crosswalk; 2. the request is sent; 3. the reply's id, the mapping, the change
   history and the intent's removal are committed in one transaction. A SIGKILL between 1 and 3
   leaves the intent open and the next run resolves it (recovery.py). A create whose fate is unknown
   (a timeout, a dropped connection, a 5xx after sending) is looked up by its marker before it is
   sent again: never blindly twice. An update sends only the fields that differ.
"""

from __future__ import annotations

import logging
from typing import Any

from target_pipedrive.crosswalk import Crosswalk, now_iso
from target_pipedrive.errors import BudgetExhausted, MaybeWritten, RecordError, ServiceUnavailable
from target_pipedrive.pipedrive.client import PipedriveClient
from target_pipedrive.run.progress import Progress
from target_pipedrive.write import images
from target_pipedrive.write.kinds import FieldKind, Kind
from target_pipedrive.write.plan import PlanLedger
from target_pipedrive.write.recovery import crash_point


class WriteProtocol:
    def __init__(self, ledger: Crosswalk | PlanLedger, run_id: str, client: PipedriveClient, progress: Progress,
                 max_retries: int, log: logging.Logger) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self.client = client
        self.progress = progress
        self.max_retries = max_retries
        self.log = log

    def create(self, kind: Kind, key: str, body: dict[str, Any], digest: str, lookup: dict[str, Any], *,
               written: dict[str, Any], local: dict[str, Any] | None = None,
               before: dict[str, Any] | None = None) -> dict[str, Any]:
        written = {k: v for k, v in written.items() if k not in images.CREATE_ONLY}
        started_at = now_iso()
        full_lookup = {**lookup, "written": written, "local": local or {}}
        if isinstance(kind, FieldKind):
            full_lookup["entity"] = (local or {}).get("_entity")
        intent, _ = self.ledger.begin_intent(self.run_id, kind.stream, key, "create", digest, full_lookup, before)
        crash_point("before_request", kind.stream)
        obj = self._send_create(kind, key, body, intent, {**full_lookup, "started_at": started_at, "key": key})
        crash_point("after_response", kind.stream)
        after = {**images.extract(written, {**written, **obj}), **(local or {})}
        if isinstance(kind, FieldKind) and obj.get("key"):
            after["key"] = obj["key"]
        self.ledger.commit_write(self.run_id, kind.stream, key, int(obj["id"]), "created", digest, before, after,
                                 intent)
        crash_point("after_commit", kind.stream)
        self.progress.count(kind.stream, "created")
        return obj

    def _send_create(self, kind: Kind, key: str, body: dict[str, Any], intent: int,
                     lookup: dict[str, Any]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return kind.create(body)
            except (RecordError, BudgetExhausted):
                self.ledger.drop_intent(intent)  # refused or never sent: nothing was created
                raise
            except MaybeWritten as exc:
                attempt += 1
                self.log.warning("A create of %s %s may have reached Pipedrive (%s); looking for it before "
                                 "retrying", kind.label, key, exc)
                found = kind.find_created(lookup, lambda ids: self.ledger.claimed_among(kind.stream, ids))
                if found is not None:
                    return found
                if attempt > self.max_retries:
                    raise ServiceUnavailable(f"Pipedrive kept failing creates ({exc})") from None
                self.client.pause(min(30.0, 0.25 * 2 ** attempt))

    def update(self, kind: Kind, key: str, pid: int, body: dict[str, Any], digest: str, action: str,
               local: dict[str, Any] | None = None, current: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Write only the fields that differ; returns Pipedrive's answer, or None when nothing changed."""
        if current is None and pid < 0:  # created earlier in this plan, as its last after-image says
            current = self.ledger.last_after_image(kind.stream, key) or body
        elif current is None:
            # written earlier in this run (a rollup after the person's create): its after-images are what
            # Pipedrive answered, so reading the person again would only spend a token
            current = images.known(body, self.ledger.writes_in_run(kind.stream, key, self.run_id))
            if current is None:
                current = kind.get(pid)
        if current is None:
            raise RecordError("deleted_in_pipedrive", f"{kind.label} {pid} no longer exists in Pipedrive; roll back "
                                                      "its run (or remove its crosswalk row) to create it again")
        patch = images.diff(body, current)
        if not patch:
            if action == "matched" or local:
                after = {**images.extract(body, current), **(local or {})}
                self.ledger.commit_write(self.run_id, kind.stream, key, pid, action, digest, None, after)
            else:
                self.ledger.touch(self.run_id, kind.stream, key, digest)
            self.progress.count(kind.stream, "matched" if action == "matched" else "unchanged")
            return None
        before = images.extract(patch, current)
        lookup = {"written": patch, "action": action, "local": local or {}, "entity": (local or {}).get("_entity")}
        intent, before = self.ledger.begin_intent(self.run_id, kind.stream, key, "update", digest, lookup, before,
                                                  pid)
        crash_point("before_request", kind.stream)
        try:
            obj = kind.update(pid, patch)
        except (RecordError, BudgetExhausted):
            self.ledger.drop_intent(intent)
            raise
        crash_point("after_response", kind.stream)
        after = {**images.extract(patch, {**current, **patch, **obj}), **(local or {})}
        self.ledger.commit_write(self.run_id, kind.stream, key, pid, action, digest, before, after, intent)
        crash_point("after_commit", kind.stream)
        self.progress.count(kind.stream, action)
        return obj
