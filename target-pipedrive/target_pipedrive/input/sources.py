"""Per Cliniko record: what became of it in this run, so source counts reconcile.

The map turns one Cliniko record into zero or more contract records (a patient into a
person and a notes record), possibly later (an attendee waits for its group appointment),
and a rollup updates a person for an invoice. Output keys name their origin
(`cliniko:<kind>:<id>`), so each outcome is booked against the Cliniko record it came
from; every record received ends in exactly one status and the line
`received = migrated + unchanged + rolled up + skipped + failed (+ held + deferred + waiting)`
holds,
or the difference is shown as `unaccounted` (a bug, never hidden).

What the ledger keeps does not grow with the clinic: once a checkpoint has saved a record's status
to the crosswalk (`sources`), `retire` lets the record go and keeps only a count per stream and
status. A retired record booked again (its patient's rollup, a duplicate from the tap) is reopened
from the status this run saved. Kept until the end: records still waiting, held ones, and those
re-read unchanged (the crosswalk stores them as migrated, so their status could not be told back).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

# Worst first: a record counts as failed when any of its outputs failed, and so on.
RANK = ("failed", "held", "deferred", "migrated", "rolled_up", "unchanged", "skipped")
STATUSES = (*RANK, "waiting", "unaccounted")


KEPT = ("held", "unchanged")  # never retired (see above)


class SourceLedger:
    def __init__(self, prefix: str, streams: dict[str, str],
                 saved_status: Callable[[str, str], str | None] | None = None) -> None:
        """`saved_status(stream, key)`: the status this run saved for a record, None if it saved none."""
        self.prefix = prefix
        self.singular = dict(streams)  # Cliniko stream -> the kind in its source keys
        self.received: dict[str, str] = {}  # source key -> its stream
        self.status: dict[str, str] = {}  # source key -> best-known status so far
        self._alias: dict[str, str] = {}  # output key whose kind is no Cliniko stream -> its source key
        self.held: dict[tuple[str, str], str] = {}  # (stream, output key) parked by the writer -> source key
        self._unsaved: set[str] = set()  # received or re-booked since the last `settled()`
        self._stream_of = {kind: stream for stream, kind in self.singular.items()}
        self.earlier: dict[str, str] = {}  # source key received by an earlier run, booked now -> its stream
        self.retired: dict[str, Counter[str]] = {}  # stream -> status -> records saved and let go
        self._saved_status = saved_status

    def receive(self, stream: str, record_id: Any) -> str:
        key = f"{self.prefix}:{self.singular.get(stream, stream)}:{record_id}"
        if key not in self.received:
            self._reopen(stream, key)
        self.received[key] = stream
        self._unsaved.add(key)
        return key

    def settled(self, waiting: set[str] | None = None) -> list[tuple[str, str, str]]:
        """(stream, source key, status) of the records received or re-booked since the last call, for the
        crosswalk's `sources` table; one with no outcome yet waits in the map ("waiting")."""
        out = []
        for key in self._unsaved:
            status = self.status.get(key) or "waiting"
            if waiting is not None and key in waiting and status not in ("failed", "held"):
                status = "waiting"
            stream = self.received.get(key) or self.earlier[key]
            out.append((stream, key, "migrated" if status == "unchanged" else status))
        self._unsaved = set()
        return out

    def origin(self, key: str, current: str | None = None) -> str | None:
        """The source key an output key belongs to (None: a definition, or nothing received)."""
        if key == current:  # the record's own key: keep the one string `receive` made (one per record, not two)
            return current
        if key in self.received or key in self.earlier:
            return key
        if key in self._alias:
            return self._alias[key]
        if current is not None and key.rsplit(":", 1)[-1] == current.rsplit(":", 1)[-1]:
            self._alias[key] = current  # e.g. cliniko:patient_notes:7 made from cliniko:patient:7
            return current
        parts = key.split(":")
        stream = self._stream_of.get(parts[1]) if len(parts) == 3 and parts[0] == self.prefix else None
        if stream is not None and not self._reopen(stream, key):  # a record received by an earlier run,
            self.earlier[key] = stream  # completed now (an attendee whose group appointment arrived, a rollup)
        return None if stream is None else key

    def retire(self) -> None:
        """After a checkpoint saved every status (`settled`): let go of the records whose status is saved."""
        if self._saved_status is None or self._unsaved:
            return
        for key, status in list(self.status.items()):
            stream = self.received.get(key)
            if stream is None or status in KEPT:
                continue
            self.retired.setdefault(stream, Counter())[status] += 1
            del self.received[key], self.status[key]
        self._alias = {key: source for key, source in self._alias.items() if source in self.received}

    def _reopen(self, stream: str, key: str) -> bool:
        """A retired record is booked again: back in the ledger with the status it was counted under."""
        counted = self.retired.get(stream)
        if not counted or self._saved_status is None:
            return False
        status = self._saved_status(stream, key)
        if status is None or counted[status] <= 0:
            return False
        counted[status] -= 1
        self.received[key], self.status[key] = stream, status
        return True

    def book(self, key: str, status: str, current: str | None = None, output: tuple[str, str] | None = None) -> None:
        source = self.origin(key, current)
        if source is None:
            return
        if status == "held" and output is not None:
            self.held[output] = source
        previous = self.status.get(source)
        if previous is None or RANK.index(status) < RANK.index(previous):
            self.status[source] = status
            self._unsaved.add(source)

    def settle_held(self, written: Any) -> None:
        """Outputs parked for a parent that arrived later in the run were written after all."""
        for (stream, key), source in self.held.items():
            if self.status.get(source) == "held" and written(stream, key):
                self.status[source] = "migrated"
                self._unsaved.add(source)

    def counts(self, waiting: set[str]) -> dict[str, dict[str, int]]:
        """{Cliniko stream: {status: n}} over every record received this run."""
        out: dict[str, Counter[str]] = {stream: +counted for stream, counted in self.retired.items() if +counted}
        for key, stream in self.received.items():
            status = self.status.get(key) or ("waiting" if key in waiting else "unaccounted")
            out.setdefault(stream, Counter())[status] += 1
        return {stream: dict(c) for stream, c in sorted(out.items())}


def reconcile_line(counts: dict[str, dict[str, int]]) -> str:
    """The one line a person checks: received = migrated + unchanged + rolled up + skipped + failed (+ the rest)."""
    total: Counter[str] = Counter()
    for c in counts.values():
        total.update(c)
    received = sum(total.values())
    parts = " + ".join(f"{name.replace('_', ' ')} {total[name]}"
                       for name in ("migrated", "unchanged", "rolled_up", "skipped", "failed"))
    extra = " + ".join(f"{name} {total[name]}" for name in ("held", "deferred", "waiting", "unaccounted")
                       if total[name])
    verdict = "reconciled" if not total["unaccounted"] else f"{total['unaccounted']} UNACCOUNTED"
    return f"Cliniko records received {received} = {parts}" + (f" + {extra}" if extra else "") + f": {verdict}"
