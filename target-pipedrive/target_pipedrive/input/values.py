"""How values arrive from the SDK, and how the target keeps them as sent.

The contract's validation (contract.py) and the payload hashes need each value exactly as the
tap wrote it: numbers as int/float, dates as the strings they were.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

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


def as_sent(schema: dict[str, Any]) -> dict[str, Any]:
    """The stream's schema as the sinks get it: without string formats, so the SDK keeps a date-time as
    the text it was (parsed into a datetime, it would change the payload hash) and additional properties
    allowed (the contract, not the SDK, judges a record's fields - without logging their values)."""
    properties = {name: {k: v for k, v in prop.items() if k != "format"} if isinstance(prop, dict) else prop
                  for name, prop in (schema.get("properties") or {}).items()}
    return {**schema, "properties": properties, "additionalProperties": True}
