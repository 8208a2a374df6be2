"""TargetPipedrive: the singer-sdk Target wiring settings, sinks, the Writer and STATE handling.

STATE is relayed only at checkpoints, when every record before it is durable: written to
Pipedrive or parked in the crosswalk, with the map's memory saved (bookmarks.py stamps it).
Never in plan mode (a plan must not move Meltano's bookmarks), never from a signal handler
(interrupt.py). The process ends with a clean one-line message and a meaningful exit code:
0 ok, 1 some records failed or wait for a parent, 2 bad config/input/token or stale
bookmarks, 75 stopped early (daily budget or Pipedrive down) - run again later to finish,
130/143 interrupted by SIGINT/SIGTERM - run again to finish.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from functools import cached_property
from typing import IO, Any, ClassVar

from singer_sdk import Target
from singer_sdk.exceptions import MissingKeyPropertiesError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities
from singer_sdk.sinks import Sink

from target_pipedrive.crosswalk import WRITE_KINDS, Crosswalk
from target_pipedrive.entry import quiet_sdk_logs
from target_pipedrive.errors import ConfigError, ContractError, TargetError
from target_pipedrive.input import contract
from target_pipedrive.input.mapping import MapStage, is_source_stream
from target_pipedrive.input.reader import MessageReader
from target_pipedrive.input.sinks import ContractSink, IgnoredSink, MappedSink
from target_pipedrive.input.values import as_sent
from target_pipedrive.pipedrive.client import PipedriveClient
from target_pipedrive.run.bookmarks import StateRelay, relayed_key, resumes
from target_pipedrive.run.drain import hold_input_open
from target_pipedrive.run.interrupt import Interrupted, InterruptHandler
from target_pipedrive.run.progress import Progress
from target_pipedrive.settings import CONFIG_SCHEMA, Settings
from target_pipedrive.write.writer import Writer


class TargetPipedrive(Target):
    """Singer target for Pipedrive."""

    name = "target-pipedrive"
    config_jsonschema = CONFIG_SCHEMA
    default_sink_class = ContractSink
    message_reader_class = MessageReader
    # no `validate-records`: the input contract (schemas/) is always enforced, by the Writer
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.ABOUT, PluginCapabilities.STREAM_MAPS, PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        quiet_sdk_logs()
        self.max_parallelism = 1  # one writer, arrival order: parents before children
        self._writer: Writer | None = None
        self.exit_code = 0
        self._mapping: MapStage | None = None
        self._source_shaped: dict[str, bool] = {}
        self._last_relay = time.monotonic()
        self._state: dict | None = None  # the latest STATE received, relayed at the next checkpoint
        self._first_state = True
        self._kind_settled = False
        self._relay: StateRelay | None = None
        self.message_reader.on_state = self.receive_state  # the SDK never holds a STATE (reader.py)
        if threading.current_thread() is threading.main_thread():
            InterruptHandler().install()  # in place of the SDK's handler (interrupt.py)

    # -- configuration ---------------------------------------------------------------------------
    @cached_property
    def settings(self) -> Settings:
        """The checks the JSON schema cannot express (https, a writable crosswalk, ...), read before any input."""
        try:
            return Settings.from_config(dict(self.config))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def writer(self) -> Writer:
        """Created on first use, so --about/--version touch neither the crosswalk nor the API."""
        if self._writer is None:
            settings = self.settings
            crosswalk = Crosswalk(settings.crosswalk_url)
            client = PipedriveClient.from_settings(settings, crosswalk.tokens_spent,
                                                   None if settings.dry_run else crosswalk.save_tokens)
            budget = client.budget
            progress = Progress(settings.progress_interval_s)
            progress.usage = lambda: (client.stats.requests, budget.spent_this_run, budget.server_remaining)
            self._writer = Writer(settings, crosswalk, client, progress, self.logger)
        return self._writer

    @property
    def mapping(self) -> MapStage:
        """The map stage, loaded on the first Cliniko stream (or at start when `map` is set)."""
        if self._mapping is None:
            self._mapping = MapStage(self.settings, lambda: self.writer, self.logger)
        return self._mapping

    # -- sinks --------------------------------------------------------------------------------------
    def get_sink(self, stream_name: str, *, record: dict | None = None, schema: dict | None = None,
                 key_properties: Sequence[str] | None = None) -> Sink:
        if schema is not None:  # `products` is both a Cliniko stream and a contract stream: the schema tells
            self._source_shaped[stream_name] = "source_key" not in (schema.get("properties") or {})
            schema = as_sent(schema)
        return super().get_sink(stream_name, record=record, schema=schema, key_properties=key_properties)

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        source_shaped = self._source_shaped.get(stream_name, True)
        if stream_name in contract.STREAMS and not (source_shaped and is_source_stream(stream_name)):
            return ContractSink
        if is_source_stream(stream_name) and self.mapping.handles(stream_name):
            return MappedSink
        if self.settings.ignore_unknown_streams:
            return IgnoredSink
        raise ContractError(f"Stream '{stream_name}' is not part of the input contract "
                            f"({', '.join(contract.STREAMS)}); set ignore_unknown_streams to skip it.")

    # -- STATE ----------------------------------------------------------------------------------------
    @property
    def relay(self) -> StateRelay:
        if self._relay is None:
            self._relay = StateRelay(self.writer.crosswalk.epoch)
        return self._relay

    def receive_state(self, message: dict) -> None:
        """A STATE from the tap: kept, and relayed at the next checkpoint (at most every state_interval_s)."""
        self.message_reader.assert_line_requires(message, {"value"})
        value = message["value"]
        if self._first_state:
            self._first_state = False
            if self.message_reader.records_seen == 0 and not self.settings.dry_run:
                self._check_bookmarks(value)  # the tap's first STATE, before any record: where it starts from
                self._settle_kind(value if isinstance(value, dict) else None)
        self._state = value
        if time.monotonic() - self._last_relay >= self.settings.state_interval_s:
            self.checkpoint()
        # else: a later STATE (or the end of input) relays a newer one; a crash in between only
        # means the tap sends those records again, which the payload hashes skip

    def _check_bookmarks(self, value: Any) -> None:
        crosswalk = self.writer.crosswalk
        legacy_ok = not crosswalk.rolled_back_ever() and any(
            r["kind"] in WRITE_KINDS and r["run_id"] != self.writer.run_id for r in crosswalk.runs())
        note = f"before {crosswalk.epoch_note()}" if crosswalk.rolled_back_ever() else "with another crosswalk"
        self.relay.check(value if isinstance(value, dict) else {}, legacy_ok, note)

    def _settle_kind(self, started_from: dict | None) -> None:
        """Name the run for people (runs, reports, rollback): sample, delta (from bookmarks) or migration."""
        if self._kind_settled or self.settings.dry_run or (self._mapping is None and started_from is None):
            return
        self._kind_settled = True
        kind = ("sample" if os.environ.get("MELTANO_EXTRACT_SAMPLE_PATIENTS")
                else "delta" if started_from is not None and resumes(started_from) else "migration")
        self.writer.crosswalk.set_run_kind(self.writer.run_id, kind)

    def checkpoint(self) -> None:
        """Make everything before the latest STATE durable, then relay it."""
        if self._writer is not None:
            self._writer.drain()  # every record before this STATE is committed (or parked)
        if self._mapping is not None:
            self._mapping.checkpoint()  # the map's memory (lookups, waiting records, rollup parts)
        if self._state is not None and not self.settings.dry_run:
            relayed = self.relay.relay(self._state)
            if relayed is not None:
                self.writer.crosswalk.put_value(relayed_key(), relayed)
        self._last_relay = time.monotonic()

    # -- end of input ---------------------------------------------------------------------------------
    def process_endofpipe(self) -> None:
        interrupted = False
        try:
            if self._mapping is not None:
                self._mapping.finish()
            empty = self.message_reader.records_seen == 0 and not (self._state or {}).get("bookmarks")
            if not empty:
                self._settle_kind(None)
            self.exit_code = self.writer.finish(quiet=empty)
            if self._mapping is not None and not self.settings.dry_run:
                self.writer.crosswalk.settle_parked_sources()
            super().process_endofpipe()  # the sinks hold nothing, and the SDK holds no STATE
            self.checkpoint()  # the last STATE: everything is written, parked or saved by now
        except Interrupted:
            # _stop_interrupted gives the writes in flight their grace; closing here would wait them out, and
            # a Pipedrive slow to answer would hold a Ctrl-C at the end of the input for as long as it likes
            interrupted = True
            raise
        finally:
            if not interrupted:
                self.writer.close()
                self.writer.crosswalk.close()

    def listen(self, file_input: IO[str] | None = None) -> None:
        try:
            _ = self.settings
            if self.config.get("map"):
                _ = self.mapping  # a configured map is checked before the first message
            super().listen(file_input)
        except MissingKeyPropertiesError:  # the SDK's check, before any sink sees the record
            self._fail(ContractError(f"input line {self.message_reader.line_number} is a RECORD without its stream's "
                                     "key properties (a malformed record from the tap): the records before it are "
                                     "kept; nothing from it on was written"))
        except TargetError as exc:
            self._fail(exc)
        except Interrupted as exc:
            self._stop_interrupted(exc)
        if self.exit_code:
            sys.exit(self.exit_code)

    def _fail(self, exc: TargetError) -> None:
        """A fatal error: the run marked failed, one sentence, exit 2."""
        if self._writer is not None:
            self._writer.crosswalk.finish_run(self._writer.run_id, "failed", {"error": str(exc)})
        print(f"target-pipedrive: {exc}", file=sys.stderr, flush=True)
        hold_input_open()
        sys.exit(exc.exit_code)

    def _stop_interrupted(self, exc: Interrupted) -> None:
        """Stopped by a signal: no more STATE, the run marked interrupted, one sentence, exit 128 + signal."""
        clean = True
        writer = self._writer
        if writer is not None:
            clean = writer.interrupt(INTERRUPT_GRACE_S)
            writer.crosswalk.finish_run(writer.run_id, "interrupted",
                                        {"interrupted": str(exc), "requests": writer.requests_sent})
        print(f"target-pipedrive: stopped by {exc}. Everything written so far is kept, and the bookmarks stay at the "
              f"last checkpoint (where every record before them was saved): run the same command again to finish; "
              f"nothing is written twice.", file=sys.stderr, flush=True)
        if not clean:  # a write still waits for Pipedrive: its intent lets the next run finish it
            sys.stdout.flush()
            os._exit(exc.exit_code)
        sys.exit(exc.exit_code)


INTERRUPT_GRACE_S = 5.0  # how long writes already sent may take to come back after a signal
