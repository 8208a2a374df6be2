"""Verify, against the source: is every Cliniko record accounted for?

The field diff (verify.py) can only compare what the crosswalk knows; a record that never
reached the target is invisible to it. So verify also asks Cliniko what it holds now and
compares with the `sources` table (every Cliniko record the target received, and what
became of it):

- per stream, Cliniko's count first (one request each); only where it differs from the
  records received are the ids listed (100 a request);
- a Cliniko record the target never received is `never_arrived` when it is older than the
  bookmark the last full run relayed (the tap should have read it: something lost it), and
  `not_yet_migrated` when it changed after it (or no full run has relayed yet: a sample
  only) - the next run brings it;
- a record received but not in Pipedrive is shown with its status: `held` or `waiting`
  (for a record that never came), `deferred` (the run stopped early; the next run sends it).

The census itself is the tap's (tap_cliniko.census): the same client, filters and pacing
as a full read, so a count here is exactly what the tap would emit.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from target_pipedrive.errors import TargetError

NEVER_ARRIVED = "never_arrived"
NOT_YET = "not_yet_migrated"
PARKED = ("held", "waiting", "deferred")
PROBLEMS = (NEVER_ARRIVED, "held", "waiting")  # exit 1; the others are reported only
VERDICTS = (NEVER_ARRIVED, "held", "waiting", NOT_YET, "deferred")


class Census(Protocol):
    def streams(self) -> list[str]: ...
    def count(self, stream: str) -> int: ...
    def listing(self, stream: str) -> dict[str, str | None]: ...
    def key_prefix(self, stream: str) -> str: ...


@dataclass(frozen=True)
class Gap:
    stream: str
    source_key: str
    updated_at: str | None
    verdict: str


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def horizons(relayed: dict[str, Any] | None) -> dict[str, datetime]:
    """Per stream, the bookmark the last full run relayed (the lowest of its partitions')."""
    out: dict[str, datetime] = {}
    for stream, bookmark in ((relayed or {}).get("bookmarks") or {}).items():
        if not isinstance(bookmark, dict):
            continue
        values = [bookmark.get("replication_key_value")] + [
            p.get("replication_key_value") for p in bookmark.get("partitions") or [] if isinstance(p, dict)]
        instants = [i for i in map(_instant, values) if i is not None]
        if instants:
            out[stream] = min(instants)
    return out


def check(received: dict[str, dict[str, tuple[str, str]]], census: Census,
          relayed: dict[str, Any] | None) -> tuple[list[Gap], dict[str, dict[str, int]]]:
    """`received`: stream -> Cliniko id -> (source key, status), from the `sources` table."""
    horizon = horizons(relayed)
    gaps: list[Gap] = []
    summary: dict[str, dict[str, int]] = {}
    for stream in census.streams():
        mine = received.get(stream, {})
        counted = census.count(stream)
        line = {"in_cliniko": counted, "received": len(mine), **dict.fromkeys(VERDICTS, 0)}
        if counted != len(mine):
            prefix = next(iter(mine.values()))[0].rsplit(":", 1)[0] if mine else census.key_prefix(stream)
            for record_id, updated_at in sorted(census.listing(stream).items(), key=lambda kv: _sort_id(kv[0])):
                if record_id in mine:
                    continue
                changed = _instant(updated_at)
                since = horizon.get(stream)
                verdict = NEVER_ARRIVED if since is not None and changed is not None and changed < since else NOT_YET
                key = f"{prefix}:{record_id}"
                gaps.append(Gap(stream, key, updated_at, verdict))
                line[verdict] += 1
        for _record_id, (key, status) in sorted(mine.items(), key=lambda kv: _sort_id(kv[0])):
            if status in PARKED:
                gaps.append(Gap(stream, key, None, status))
                line[status] += 1
        summary[stream] = line
    return gaps, summary


def received_by_stream(rows: list[dict[str, Any]]) -> dict[str, dict[str, tuple[str, str]]]:
    out: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for row in rows:
        out[row["stream"]][row["source_key"].rsplit(":", 1)[-1]] = (row["source_key"], row["status"])
    return dict(out)


def _sort_id(record_id: str) -> tuple[int, str]:
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)


# -- the Cliniko side ---------------------------------------------------------------------------------
SETTINGS = ("cliniko_api_key", "cliniko_base_url", "cliniko_user_agent")


def cliniko_config(config: dict[str, Any]) -> dict[str, Any] | None:
    """tap-cliniko's settings for the census: the target's `cliniko_*` settings, else the tap's own
    TAP_CLINIKO_* environment variables (how a Meltano project passes them); None when no key is given."""
    values = {name: config.get(name) or os.environ.get("TAP_CLINIKO_" + name.split("_", 1)[1].upper())
              for name in SETTINGS}
    if not values["cliniko_api_key"]:
        return None
    out = {"api_key": values["cliniko_api_key"],
           "user_agent": values["cliniko_user_agent"] or "target-pipedrive verify (no contact given)"}
    if values["cliniko_base_url"]:
        out["base_url"] = values["cliniko_base_url"]
    return out


class TapCensus:
    """tap-cliniko's census, through the tap's own client (installed next to the target)."""

    def __init__(self, config: dict[str, Any]) -> None:
        try:
            from tap_cliniko import census
            from tap_cliniko.tap import TapCliniko
        except ImportError:
            raise TargetError("verify reads Cliniko through tap-cliniko: install it next to target-pipedrive "
                              "(meltano.yml's pip_url for target-pipedrive lists it; without Meltano: pip install "
                              "./tap-cliniko where target-pipedrive is installed).") from None
        import signal

        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._tap = TapCliniko(config={**config, "max_retries": 3}, validate_config=True, setup_mapper=False)
        except Exception as exc:  # the SDK's config validation: names the setting, never a value
            raise TargetError(f"the Cliniko settings for verify are not valid ({type(exc).__name__}): check "
                              "cliniko_api_key, cliniko_user_agent and cliniko_base_url.") from None
        finally:
            for signum, handler in handlers.items():  # the tap installs its own; this command keeps Python's
                signal.signal(signum, handler)
        self._census = census
        self.requests = 0

    def streams(self) -> list[str]:
        return self._census.streams(self._tap)

    def key_prefix(self, stream: str) -> str:
        from cliniko_map.names import CLINIKO_STREAMS

        return f"cliniko:{CLINIKO_STREAMS.get(stream, stream)}"

    def count(self, stream: str) -> int:
        self.requests += 1
        return self._read(lambda: self._census.count(self._tap, stream))

    def listing(self, stream: str) -> dict[str, str | None]:
        rows = self._read(lambda: self._census.listing(self._tap, stream))
        self.requests += max(1, -(-len(rows) // self._census.PAGE))
        return rows

    def _read(self, call: Any) -> Any:
        """Cliniko's answer, or one sentence (the tap's own for a refused key; never a body or a query)."""
        import requests
        from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

        from tap_cliniko.client import ClinikoError

        try:
            return call()
        except ClinikoError as exc:
            raise TargetError(f"verify could not read Cliniko: {exc}") from None
        except (RetriableAPIError, FatalAPIError, requests.RequestException) as exc:
            raise TargetError(f"verify could not read Cliniko ({type(exc).__name__}): check cliniko_base_url and "
                              "the network, then run verify again.") from None
