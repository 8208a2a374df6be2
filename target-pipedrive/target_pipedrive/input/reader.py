"""Singer messages from stdin: parsed with msgspec, and refused without quoting the line.

The SDK's reader parses with the json module (a tenth of the target's CPU per record) and,
on a line it cannot parse, logs the whole line: a patient's record in the logs. This one
names the line by its number only and ends the run like any other input error (exit 2).

STATE messages go to the target's own handler (`on_state`), not to the SDK's: the SDK
relays the latest STATE whenever it drains (every 5 minutes, on a signal), which for this
target may be before the records it covers are durable. Handed over here, the SDK never
holds a STATE, so only the target's checkpoints relay one.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import IO, Any

import msgspec
from singer_sdk.singerlib import SingerMessageType
from singer_sdk.singerlib.encoding.base import GenericSingerReader

from target_pipedrive.errors import ContractError

# numbers as the SDK's reader gives them (Decimal for non-integers), so payload hashes do not change
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


class InputLineError(ContractError):
    """A line of the input is not a Singer message."""


class MessageReader(GenericSingerReader[str]):
    default_input = sys.stdin

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line_number = 0
        self.records_seen = 0
        self.on_state: Callable[[dict], None] | None = None  # set by the target

    def process_lines(self, file_input: IO[str] | None, callbacks: dict[str, Callable[[dict], None]]) -> Counter[str]:
        on_record = callbacks[SingerMessageType.RECORD]

        def record(message: dict) -> None:
            on_record(message)
            self.records_seen += 1

        routed = {**callbacks, SingerMessageType.RECORD: record}
        if self.on_state is not None:
            routed[SingerMessageType.STATE] = self.on_state
        return super().process_lines(file_input, routed)

    def deserialize_json(self, line: str) -> dict:
        self.line_number += 1
        try:
            value = _DECODER.decode(line)
        except msgspec.DecodeError:
            # what msgspec refuses and the json module reads: lone surrogate escapes (the contract
            # check fails that record alone) and NaN
            try:
                value = json.loads(line, parse_float=Decimal)
            except ValueError:
                raise InputLineError(f"input line {self.line_number} is not valid JSON (a truncated or corrupted "
                                     "Singer message); the records before it are kept: fix the input and run "
                                     "again") from None
        if not isinstance(value, dict):
            raise InputLineError(f"input line {self.line_number} is not a Singer message (not a JSON object)")
        return value

    def assert_line_requires(self, line_dict: dict, requires: set[str]) -> None:
        """As the SDK's check, without the message's values in the error."""
        missing = requires.difference(line_dict)
        if missing:
            raise InputLineError(f"input line {self.line_number} is a Singer message without its "
                                 f"{', '.join(sorted(missing))} key(s)")
