"""The STATE this target relays: only at checkpoints, stamped, and checked when it comes back.

A Singer target relays the tap's bookmarks once what they cover is safe. Here that means
durable: every record before the STATE written to Pipedrive (or parked in the crosswalk)
and the map's memory saved. The target decides when (`checkpoint` in target.py); this
module stamps and writes the STATE, and checks the one the tap starts from.

The stamp: each stream's bookmark carries the crosswalk's epoch (its id and a counter a
rollback raises). An SDK tap keeps unknown keys of a bookmark, so the tap's first STATE
of a run - the bookmarks it starts from - shows which crosswalk and epoch saved them. A
rollback, or another crosswalk, makes them stale: the tap would skip records that are no
longer in Pipedrive (the partial re-migration nobody notices). Such a run is refused
before it writes anything, with the command that reads everything again. Meltano merges
an interrupted run's STATE into the last complete one, so a stream the interrupted full
read never reached keeps its old stamp: the per-stream stamp catches that too.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TextIO

from target_pipedrive.errors import TargetError

STAMP = "target_pipedrive_epoch"  # key inside each stream's bookmark
# crosswalk kv: the last STATE relayed, by a full pipeline and by a sample one (whose bookmarks
# do not say the whole clinic arrived)
RELAYED_KEYS = ("relayed_state", "relayed_state:sample")


def relayed_key() -> str:
    """Which of RELAYED_KEYS this run's STATE is kept under (Meltano tells a sample run by its setting)."""
    return RELAYED_KEYS[1] if os.environ.get("MELTANO_EXTRACT_SAMPLE_PATIENTS") else RELAYED_KEYS[0]


class StaleBookmarks(TargetError):
    """The tap starts from bookmarks that no longer describe what is in Pipedrive."""


def full_read_command() -> str:
    """The command that reads Cliniko from the start, for the pipeline this run belongs to."""
    extractor, loader = os.environ.get("MELTANO_EXTRACTOR_NAME"), os.environ.get("MELTANO_LOADER_NAME")
    if extractor and loader:
        env = os.environ.get("MELTANO_ENVIRONMENT")
        prefix = f"meltano --environment {env}" if env else "meltano"
        return f"`{prefix} run --full-refresh {extractor} {loader}`"
    return "the tap without --state (a full read) piped into target-pipedrive"


def _progressed(bookmark: Any) -> bool:
    """A bookmark the tap resumes from (an incremental stream's position), not an empty shell."""
    if not isinstance(bookmark, dict):
        return False
    return bookmark.get("replication_key_value") is not None or any(
        isinstance(p, dict) and p.get("replication_key_value") is not None for p in bookmark.get("partitions") or [])


def resumes(state: dict[str, Any]) -> bool:
    """The tap starts from bookmarks (a delta), not from the beginning (a migration)."""
    return any(_progressed(b) for b in (state.get("bookmarks") or {}).values())


def stale_streams(state: dict[str, Any], epoch: str, legacy_ok: bool) -> list[str]:
    """Streams whose bookmark was saved by another crosswalk or epoch (unstamped: only if not `legacy_ok`)."""
    out = []
    for stream, bookmark in sorted((state.get("bookmarks") or {}).items()):
        if not _progressed(bookmark):
            continue
        stamp = bookmark.get(STAMP)
        if stamp != epoch and not (stamp is None and legacy_ok):
            out.append(stream)
    return out


def stamped(state: dict[str, Any], epoch: str) -> dict[str, Any]:
    """A copy whose bookmarks without a stamp get this epoch's.

    Stamps already there are kept: a run only proceeds when the stamps it started from are
    this epoch's (see `check`), so a kept stamp is never an old one made to look new.
    """
    out = dict(state)
    bookmarks = {}
    for stream, bookmark in (state.get("bookmarks") or {}).items():
        if isinstance(bookmark, dict) and STAMP not in bookmark:
            bookmark = {**bookmark, STAMP: epoch}
        bookmarks[stream] = bookmark
    out["bookmarks"] = bookmarks
    return out


class StateRelay:
    """Writes STATE lines to stdout for the orchestrator (Meltano keeps each one it reads)."""

    def __init__(self, epoch: Callable[[], str], out: TextIO | None = None) -> None:
        self._epoch = epoch
        self.out = out or sys.stdout
        self.last: dict[str, Any] | None = None  # the last STATE relayed (stamped)

    def check(self, state: dict[str, Any], legacy_ok: bool, why: str) -> None:
        """The tap's first STATE (before any record): refuse bookmarks that would skip undone records."""
        stale = stale_streams(state, self._epoch(), legacy_ok)
        if stale:
            shown = ", ".join(stale[:6]) + (f" and {len(stale) - 6} more" if len(stale) > 6 else "")
            raise StaleBookmarks(
                f"the tap starts from bookmarks ({shown}) saved {why}, so it would skip records that are not in "
                f"Pipedrive now; nothing was written: run {full_read_command()} once to read everything again "
                "(records already in Pipedrive cost no write).")

    def relay(self, state: dict[str, Any]) -> dict[str, Any] | None:
        """Stamp and write one STATE; returns it, or None when it says nothing new."""
        value = stamped(state, self._epoch())
        if value == self.last:
            return None
        self.out.write(json.dumps(value, default=_plain_number) + "\n")
        self.out.flush()
        self.last = value
        return value


def _plain_number(value: Any) -> Any:
    """Decimals (how the reader parses numbers with a fraction) as JSON numbers again."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
