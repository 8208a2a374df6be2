"""Sinks: thin adapters that hand each record to the target's shared Writer.

RecordSink, not BatchSink: records must be written in arrival order (parents before
children) and each must be durable in the crosswalk before the next STATE is emitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk.sinks import RecordSink

from target_pipedrive.input.values import plain

if TYPE_CHECKING:
    from target_pipedrive.target import TargetPipedrive


class ContractSink(RecordSink):
    """A stream of the input contract (persons, activities, ...)."""

    def __init__(self, target: TargetPipedrive, stream_name: str, schema: dict[str, Any],
                 key_properties: list[str] | None) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.pipedrive_target = target

    def get_validator(self) -> None:
        """No SDK validator: the contract validation in the Writer replaces it (the SDK's would log the
        offending values - patient data - and costs seconds per run)."""
        return None

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        # Singer metadata columns (add_record_metadata) are not part of the contract
        contract_record = {k: v for k, v in record.items() if not k.startswith("_sdc_")}
        self.pipedrive_target.writer.submit(self.stream_name, plain(contract_record))


class MappedSink(ContractSink):
    """A Cliniko stream: each record goes through the map, its results to the Writer."""

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        source_record = {k: v for k, v in record.items() if not k.startswith("_sdc_")}
        self.pipedrive_target.mapping.apply(self.stream_name, source_record)


class IgnoredSink(RecordSink):
    """A stream outside the contract, skipped because `ignore_unknown_streams` is set."""

    def setup(self) -> None:
        self.logger.warning("Stream '%s' is not part of the input contract; its records are ignored",
                            self.stream_name)

    def get_validator(self) -> None:
        return None

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        """Nothing to write."""
