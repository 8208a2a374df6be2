"""Sinks: thin adapters that hand each record to the target's shared Writer.

RecordSink, not BatchSink: records must be written in arrival order (parents before
children) and each must be durable in the crosswalk before the next STATE is emitted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from singer_sdk.sinks import RecordSink

if TYPE_CHECKING:
    from target_pipedrive.target import TargetPipedrive


class ContractSink(RecordSink):
    """A stream of the input contract (persons, activities, ...)."""

    def __init__(self, target: TargetPipedrive, stream_name: str, schema: dict[str, Any],
                 key_properties: list[str] | None) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self._target = target

    def _validate_and_parse(self, record: dict[str, Any]) -> dict[str, Any]:
        """Skip the SDK's check: the contract validation in the Writer replaces it.

        The SDK would log the offending values (patient data) on failure and turn date
        strings into datetime objects, which would change the payload hash.
        """
        return record

    def get_validator(self) -> None:
        """No SDK validator: its schema check alone costs seconds per run, and it is never used."""
        return None

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        # Singer metadata columns (add_record_metadata) are not part of the contract
        contract_record = {k: v for k, v in record.items() if not k.startswith("_sdc_")}
        self._target.writer.submit(self.stream_name, plain(contract_record))


class MappedSink(ContractSink):
    """A Cliniko stream: each record goes through the map, its results to the Writer."""

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        source_record = {k: v for k, v in record.items() if not k.startswith("_sdc_")}
        self._target.mapping.apply(self.stream_name, source_record)


class IgnoredSink(RecordSink):
    """A stream outside the contract, skipped because `ignore_unknown_streams` is set."""

    def setup(self) -> None:
        self.logger.warning("Stream '%s' is not part of the input contract; its records are ignored",
                            self.stream_name)

    def _validate_and_parse(self, record: dict[str, Any]) -> dict[str, Any]:
        return record

    def get_validator(self) -> None:
        return None

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        """Nothing to write."""


_SCALARS = frozenset({str, int, float, bool, type(None)})  # exact types that are already plain


def plain(value: Any) -> Any:
    """The SDK reads JSON numbers as Decimal; the API and the crosswalk want int/float.

    Every record passes here (a mapped one twice): plain scalars are kept without a call.
    """
    if isinstance(value, Decimal):
        return int(value) if value.as_tuple().exponent >= 0 else float(value)  # type: ignore[operator]
    if isinstance(value, dict):
        return {k: v if type(v) in _SCALARS else plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in _SCALARS else plain(v) for v in value]
    return value
