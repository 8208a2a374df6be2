"""The map stage: Cliniko records in front of the Writer, through the `cliniko_map` package.

Loaded once per run (an invalid map, a missing file or, in apply mode, an unconfirmed map
stops the run with exit 2 before any write). The map's custom-field definitions go first;
every Cliniko record becomes the contract records the map makes of it; what the map skips
or rolls up is written to the audit (status `skipped`), so source counts reconcile. The
map's memory (lookups, waiting records, per-patient rollup parts) lives in the crosswalk as
rows (crosswalk/memory.py), so a delta run recomputes rollups over all of a patient's rows
and the target's memory does not grow with the clinic.

`cliniko_map` is imported here only: the target needs it only when it maps.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from target_pipedrive.crosswalk.memory import CrosswalkMemory
from target_pipedrive.errors import RecordError, TargetError
from target_pipedrive.input.sources import SourceLedger
from target_pipedrive.input.values import plain

if TYPE_CHECKING:
    from target_pipedrive.settings import Settings
    from target_pipedrive.write.writer import Writer

STATE_KEY = "map_state"  # the map's memory as one kv blob, as runs before the map_memory rows kept it
FLUSH_BATCH = 500  # end of input: rollups emitted this many patients at a time, so they never pile up
CONFIRM_HINT = ("run with mode=plan and review it, then confirm it with `target-pipedrive-admin confirm-map` "
                "(`meltano invoke target-pipedrive:confirm-map`), which writes the map with confirmation.confirmed "
                "true and its hash to the `map` setting's path")


class MapLoadError(TargetError):
    """The map cannot be used (exit 2, nothing written)."""


def load_map(path: str | None, output_dir: str, planning: bool = False) -> Any:
    """A checked `cliniko_map.Map`; raises MapLoadError with one sentence (file:line: reason)."""
    try:
        from cliniko_map import Map, MapError
    except ImportError:
        raise MapLoadError("Cliniko streams need the map package (cliniko_map): install ./transforms next to "
                           "target-pipedrive.") from None
    if path and not Path(path).is_file():
        raise MapLoadError(f"map file {path} does not exist (setting `map`); to confirm the packaged map: "
                           f"{CONFIRM_HINT}.")
    try:
        return Map.load(path or None, output_dir=output_dir, planning=planning)
    except MapError as exc:
        raise MapLoadError(f"invalid map: {exc}") from None
    except OSError as exc:
        raise MapLoadError(f"cannot read map {path}: {exc.strerror}") from None


def is_source_stream(stream: str) -> bool:
    """A Cliniko stream (the map's input), known without loading a map."""
    try:
        from cliniko_map.names import CLINIKO_STREAMS
    except ImportError:
        return False
    return stream in CLINIKO_STREAMS


def is_confirmed(m: Any) -> bool:
    """Confirmed by a person, for exactly this content (the hash changes whenever a rule does)."""
    return bool(m.confirmed) and m.confirmed_plan == m.digest


class MapStage:
    def __init__(self, settings: Settings, writer_factory: Any, logger: logging.Logger) -> None:
        m = load_map(settings.map_path, settings.map_output_dir, settings.dry_run)
        self.file = settings.map_path or "the packaged map"
        if not settings.dry_run and not is_confirmed(m):
            what = "was changed since it was confirmed" if m.confirmed else "is not confirmed"
            raise MapLoadError(f"The map ({self.file}) {what}, so nothing was written: {CONFIRM_HINT}.")
        self.writer: Writer = writer_factory()
        self.dry_run = settings.dry_run
        self.memory = CrosswalkMemory(self.writer.crosswalk)
        m.state = self._memory_state(m)
        self.map = m
        self.log = logger
        self.streams: set[str] = set(self.map.spec.streams)
        from cliniko_map.names import CLINIKO_STREAMS

        self.sources = SourceLedger(self.map.spec.prefix, CLINIKO_STREAMS, None if self.dry_run else partial(
            self.writer.crosswalk.source_status, self.writer.run_id))
        self._outcomes: list[tuple[Any, str, str | None, str]] = []  # writes in flight, booked when done
        self._started = False
        self._save_every = settings.checkpoint_records
        self._unsaved = 0  # Cliniko records applied since the last save

    def _memory_state(self, m: Any) -> Any:
        """The map's memory on crosswalk rows; one kept as a blob by an earlier version becomes rows at once
        (saved, then the blob dropped: rows and blob are equal until the first record, so a crash between
        the two only imports the same values again), and so do rollup parts kept one value per patient."""
        from cliniko_map.state import State

        legacy = self.writer.crosswalk.get_value(STATE_KEY)
        try:
            state = State.from_dict(legacy, self.memory)
        except ValueError as exc:
            raise MapLoadError(f"the map's memory in the crosswalk cannot be read: {exc}") from None
        upgraded = state.upgrade_groups(m.spec.rollups)
        if (legacy or upgraded) and not self.dry_run:
            self.memory.save()
            if legacy:
                self.writer.crosswalk.drop_value(STATE_KEY)
        return state

    def handles(self, stream: str) -> bool:
        return stream in self.streams

    # -- per record ------------------------------------------------------------------------------
    def start(self) -> None:
        if not self._started:
            self._started = True
            # an enum whose options come from the clinic's settings is sent when they arrive (the map
            # re-emits it then): Pipedrive refuses an enum field without options
            self._send([(s, r) for s, r in self.map.definitions()
                        if r.get("options") or r.get("field_type") not in ("enum", "set")])

    def apply(self, stream: str, record: dict[str, Any]) -> None:
        from cliniko_map import MapRuntimeError

        self.start()
        if self._unsaved >= self._save_every or (not self.dry_run and self.memory.unsaved >= self._save_every):
            # records of rolled-up streams arrive as fast as the tap reads: saved by count as well as by the
            # STATE interval, a checkpoint never holds (or writes) more than this many records or changes
            began = time.monotonic()
            self._save()
            self.writer.tally.checkpoints.add(time.monotonic() - began)
        self._unsaved += 1
        key = self.sources.receive(stream, record.get("id"))
        try:
            result = self.map.apply(stream, plain(record))
        except MapRuntimeError as exc:
            self.writer.fail(stream, key, RecordError("map_error", str(exc)))
            self.sources.book(key, "failed")
            return
        self._account(stream, result, key)

    def checkpoint(self, rollups: bool = False) -> None:
        """Before a STATE is relayed: keep the map's memory (with the rollups still to write).

        Rollups are written at the end of input only: flushed at every STATE, a patient's
        figures would be PATCHed again for every page of invoices.
        """
        if not self._started:
            return
        began = time.monotonic()
        if rollups:
            for batch in self.map.flush_batches(FLUSH_BATCH):
                self._account("rollups", batch)
                self._save()  # a batch written and saved before the next: the end of input holds one at a time
        self._save()
        self.writer.tally.checkpoints.add(time.monotonic() - began)

    def _save(self) -> None:
        """Everything sent so far written, booked, and saved with the map's memory; the ledger lets it go."""
        self._unsaved = 0
        self.writer.drain()
        self._book()
        if not self.dry_run:
            self.memory.save()
            self.writer.crosswalk.settle_sources(self.writer.run_id, self.sources.settled())
            self.sources.retire()

    def finish(self) -> None:
        """End of input: rollups, what still waits (audited as held), the map's memory."""
        if not self._started:
            return
        self.checkpoint(rollups=True)
        waiting = self.map.pending()
        for key, reason in waiting:
            self.writer.audit("map", key, "held", "map_waiting", reason)
        self.sources.settle_held(self.writer.written)
        waiting_keys = {key for key, _ in waiting}
        self.writer.report_sources(self.sources.counts(waiting_keys))
        if not self.dry_run:
            self.writer.crosswalk.settle_sources(self.writer.run_id, self.sources.settled(waiting_keys))
        if waiting:
            self.writer.say(f"map: {len(waiting)} record(s) wait for a record that never arrived "
                            "(details: target-pipedrive-admin report)")
        if self.dry_run:
            self.writer.say(f"map {self.file}: hash {self.map.digest} "
                            f"({'confirmed' if is_confirmed(self.map) else 'NOT confirmed'}); to confirm it: "
                            f"{CONFIRM_HINT}.")

    # -- internals --------------------------------------------------------------------------------
    def _send(self, records: list[tuple[str, dict[str, Any]]], current: str | None = None) -> None:
        for out_stream, out_record in records:
            future = self.writer.submit(out_stream, plain(out_record))
            key = out_record.get("source_key")
            if isinstance(key, str):
                self._outcomes.append((future, key, current, out_stream))
        if len(self._outcomes) >= 512:
            self._book(done_only=True)

    def _book(self, done_only: bool = False) -> None:
        """Book the outcomes of writes against their Cliniko records (all, after a drain)."""
        waiting = []
        for future, key, current, out_stream in self._outcomes:
            if done_only and not future.done():
                waiting.append((future, key, current, out_stream))
                continue
            self.sources.book(key, future.result(), current, (out_stream, key))
        self._outcomes = waiting

    def _account(self, stream: str, result: Any, current: str | None = None) -> None:
        self._send(list(result), current)
        rolled = {key for key, _ in result.rolled_up}
        why: dict[str, str] = {}
        for key, reason in result.skipped:
            if key in rolled:  # no output of its own, but a rollup row (an appointment before the history cutoff)
                why[key] = reason
                continue
            self.writer.audit(stream, key, "skipped", "map_skipped", reason)
            self.writer.progress.count(stream, "skipped")
            self.sources.book(key, "skipped", current)
        for key, into in result.rolled_up:
            reason = f" ({why[key]})" if key in why else ""
            self.writer.audit(stream, key, "rolled_up", "rolled_up", f"rolled up into {into}{reason}")
            self.writer.progress.count(stream, "rolled_up")
            self.sources.book(key, "rolled_up", current)
