"""Adopt before create: an object Pipedrive already holds is updated, never created twice.

A record with no crosswalk row is looked for first - persons by the external-id field, then by e-mail
and name; products by external id, then code (the rules in matching.py); the children of a person that
existed before the migration by their marker - so even a lost crosswalk causes no duplicate. Several
candidates are an `ambiguous_match`, never a guess. Finding an object and claiming it happen under one
lock: two records matching the same pre-existing person must not both adopt it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.write.kinds import Api, Kind
from target_pipedrive.write.matching import ExistingIndex
from target_pipedrive.write.plan import PlanLedger
from target_pipedrive.write.protocol import WriteProtocol

LONG_AGO = "2000-01-01T00:00:00.000000Z"  # "since" for adopting children of pre-existing persons
PLANNED_KEY = "planned-field-"  # key prefix of fields that exist only in a plan


class Adopter:
    def __init__(self, api: Api, ledger: Crosswalk | PlanLedger, protocol: WriteProtocol) -> None:
        self.api = api
        self.ledger = ledger
        self.protocol = protocol
        self.lock = threading.RLock()
        self._indexes: dict[str, ExistingIndex] = {}

    def index(self, stream: str, ext_key: str) -> ExistingIndex:
        """The account's existing objects of a stream, listed once (under `lock`)."""
        if stream not in self._indexes:
            real_key = None if ext_key.startswith(PLANNED_KEY) else ext_key  # a field only the plan would create
            self._indexes[stream] = ExistingIndex(self.api, "/" + stream, real_key)
        return self._indexes[stream]

    def claimed(self, stream: str, candidates: list[dict[str, Any]]) -> set[int]:
        """Which candidates another source record already owns."""
        return self.ledger.claimed_among(stream, [int(o["id"]) for o in candidates])

    def adopt_or_create(self, kind: Kind, record: dict[str, Any],
                        find: Callable[[ExistingIndex], dict[str, Any] | None],
                        body: dict[str, Any], digest: str, ext_key: Any, ext_value: Any) -> None:
        """Update the matched existing object, or create one (persons and products alike)."""
        with self.lock:
            index = self.index(kind.stream, ext_key)
            existing = find(index)
            if existing is not None:
                self.protocol.update(kind, record["source_key"], int(existing["id"]), body, digest, "matched")
                return
        created = self.protocol.create(kind, record["source_key"], body, digest,
                                       {"ext_key": ext_key, "ext_id": ext_value}, written=body)
        with self.lock:
            index.add(created)

    def under_matched_parent(self, kind: Kind, record: dict[str, Any], lookup: dict[str, Any],
                             parent: dict[str, Any] | None) -> dict[str, Any] | None:
        """A child of a person that existed before the migration may be there from a lost crosswalk."""
        if parent is None or parent["action"] != "matched" or not lookup.get("person_id"):
            return None
        return kind.find_created({**lookup, "started_at": LONG_AGO, "key": record["source_key"]},
                                 lambda ids: self.ledger.claimed_among(kind.stream, ids))
