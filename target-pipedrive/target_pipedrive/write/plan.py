"""Plan mode's ledger: reads the real crosswalk, keeps every would-be write in memory.

`mode: plan` runs the exact code path of `apply` against this ledger (and an `Api` that
only prices writes), so the plan's creates/updates/skips are what `apply` would do. The
crosswalk itself is not changed: only a `runs` row and one `planned` audit row per record
are stored, so `report --run <plan run>` can show the plan.
"""

from __future__ import annotations

from typing import Any

from target_pipedrive.crosswalk import Crosswalk


class PlanLedger:
    def __init__(self, crosswalk: Crosswalk) -> None:
        self.real = crosswalk
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._after: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._run_writes: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}
        self._consumed: set[tuple[str, str]] = set()  # real pending rows this plan has dealt with
        self._seq = 0
        self.planned: list[dict[str, Any]] = []

    # reads: overlay first, then the real crosswalk
    def get(self, stream: str, source_key: str) -> dict[str, Any] | None:
        return self._rows.get((stream, source_key)) or self.real.get(stream, source_key)

    def claimed_among(self, stream: str, ids: list[int]) -> set[int]:
        planned = {r["pipedrive_id"] for (s, _), r in self._rows.items() if s == stream}
        return self.real.claimed_among(stream, ids) | (planned & set(ids))

    def last_after_image(self, stream: str, source_key: str) -> dict[str, Any] | None:
        if (stream, source_key) in self._after:
            return self._after[(stream, source_key)]
        return self.real.last_after_image(stream, source_key)

    def writes_in_run(self, stream: str, source_key: str, run_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The plan's own writes of the record (the real crosswalk holds none of this run's)."""
        return list(self._run_writes.get((stream, source_key), [])) \
            if (self.get(stream, source_key) or {}).get("run_id") == run_id else []

    def pending_rows(self, waiting_for: str | None = None) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self.real.pending_rows(waiting_for) if (r["stream"], r["source_key"])
                not in self._pending and (r["stream"], r["source_key"]) not in self._consumed]
        rows += [dict(r) for r in self._pending.values() if waiting_for is None or r["waiting_for"] == waiting_for]
        return sorted(rows, key=lambda r: r["seq"])

    # writes: remembered, never stored
    def commit_write(self, run_id: str, stream: str, source_key: str, pipedrive_id: int, action: str,
                     payload_hash: str, before_image: dict[str, Any] | None, after_image: dict[str, Any] | None,
                     intent_id: int | None = None) -> None:
        self._rows[(stream, source_key)] = {"stream": stream, "source_key": source_key, "pipedrive_id": pipedrive_id,
                                            "action": action, "payload_hash": payload_hash, "run_id": run_id}
        self._after[(stream, source_key)] = after_image
        self._run_writes.setdefault((stream, source_key), []).append((action, after_image or {}))
        self.discard_pending(stream, source_key)
        self.planned.append({"stream": stream, "source_key": source_key, "action": action,
                             "fields": sorted((after_image or {}).keys())})

    def touch(self, run_id: str, stream: str, source_key: str, payload_hash: str) -> None:
        row = self.get(stream, source_key)
        if row is not None:
            self._rows[(stream, source_key)] = {**row, "payload_hash": payload_hash}
        self.discard_pending(stream, source_key)

    def begin_intent(self, run_id: str, stream: str, source_key: str, op: str, payload_hash: str,
                     lookup: dict[str, Any], before_image: dict[str, Any] | None = None,
                     pipedrive_id: int | None = None) -> tuple[int, dict[str, Any] | None]:
        return 0, before_image

    def drop_intent(self, intent_id: int) -> None:
        """Nothing to drop: plan mode writes no intents."""

    def hold(self, run_id: str, stream: str, source_key: str, record: dict[str, Any], reason: str,
             waiting_for: str | None = None) -> None:
        self._seq += 1
        self._consumed.add((stream, source_key))
        self._pending[(stream, source_key)] = {"stream": stream, "source_key": source_key, "record": record,
                                               "reason": reason, "waiting_for": waiting_for,
                                               "seq": 10**12 + self._seq, "run_id": run_id}

    def discard_pending(self, stream: str, source_key: str) -> None:
        self._pending.pop((stream, source_key), None)
        self._consumed.add((stream, source_key))

    def audit(self, run_id: str, stream: str, source_key: str, status: str, code: str, message: str,
              action: str | None = None, pipedrive_id: int | None = None) -> None:
        self.real.audit(run_id, stream, source_key, status, code, message, action, pipedrive_id)
