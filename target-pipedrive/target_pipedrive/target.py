"""TargetPipedrive: the singer-sdk Target wiring settings, sinks, the Writer and STATE handling.

STATE is relayed as soon as it arrives (every record before it is already committed to
the crosswalk, or parked there), never in plan mode (a plan must not move Meltano's
bookmarks), and the process ends with a clean one-line message and a meaningful exit
code: 0 ok, 1 some records failed or wait for a parent, 2 bad config/input/token,
75 stopped early (daily budget or Pipedrive down) — run again later to finish.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from functools import cached_property
from typing import IO, Any, ClassVar

from singer_sdk import Target
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities
from singer_sdk.sinks import Sink

from target_pipedrive import contract
from target_pipedrive.affinity import keep_on_one_cpu
from target_pipedrive.client import PipedriveClient
from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.errors import ContractError, TargetError
from target_pipedrive.mapping import MapStage, is_source_stream
from target_pipedrive.pacing import utc_day
from target_pipedrive.progress import Progress
from target_pipedrive.reader import MessageReader
from target_pipedrive.settings import CONFIG_SCHEMA, Settings
from target_pipedrive.sinks import ContractSink, IgnoredSink, MappedSink
from target_pipedrive.writer import Writer


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
        self.max_parallelism = 1  # one writer, arrival order: parents before children
        self._writer: Writer | None = None
        self._last_state: dict | None = None
        self.exit_code = 0
        self._mapping: MapStage | None = None
        self._source_shaped: dict[str, bool] = {}
        self._last_relay = time.monotonic()

    # -- configuration ---------------------------------------------------------------------------
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = super()._validate_config(raise_errors=False)
        try:
            Settings.from_config(dict(self.config))
        except ValueError as exc:
            errors.append(str(exc))
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors, schema=self.config_jsonschema)
        return errors

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_config(dict(self.config))

    @property
    def writer(self) -> Writer:
        """Created on first use, so --about/--version touch neither the crosswalk nor the API."""
        if self._writer is None:
            settings = self.settings
            crosswalk = Crosswalk(settings.crosswalk_url)
            client = PipedriveClient.from_settings(settings, crosswalk.tokens_spent(utc_day()),
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
    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)  # keeps it as the latest STATE
        if time.monotonic() - self._last_relay >= self.settings.state_interval_s:
            self._relay_state()
        # else: a later STATE (or the end of input) relays a newer one; a crash in between only
        # means the tap sends those records again, which the payload hashes skip

    def _relay_state(self) -> None:
        if self._writer is not None:
            self._writer.drain()  # every record before this STATE is committed (or parked) before it is relayed
        if self._mapping is not None:
            self._mapping.checkpoint()  # the map's memory (lookups, rollup parts) kept before the STATE moves
        self.drain_all()  # RecordSinks hold nothing: this only relays the STATE now
        self._last_relay = time.monotonic()

    def _write_state_message(self, state: dict) -> None:
        if self.settings.dry_run or state == self._last_state:
            return  # a plan must not advance Meltano's bookmarks; a repeat says nothing new
        self._last_state = state
        super()._write_state_message(state)

    # -- end of input ---------------------------------------------------------------------------------
    def process_endofpipe(self) -> None:
        try:
            if self._mapping is not None:
                self._mapping.finish()
            self.exit_code = self.writer.finish()
            super().process_endofpipe()
        finally:
            self.writer.close()
            self.writer.crosswalk.close()

    def listen(self, file_input: IO[str] | None = None) -> None:
        if self.settings.one_cpu:
            keep_on_one_cpu()  # before the writer threads start: they inherit it
        try:
            if self.config.get("map"):
                _ = self.mapping  # a configured map is checked before the first message
            super().listen(file_input)
        except TargetError as exc:
            if self._writer is not None:
                self._writer.crosswalk.finish_run(self._writer.run_id, "failed", {"error": str(exc)})
            print(f"target-pipedrive: {exc}", file=sys.stderr, flush=True)
            sys.exit(exc.exit_code)
        if self.exit_code:
            sys.exit(self.exit_code)
