"""A patient's older appointments (and, by choice, treatment notes) as one readable CSV file.

The map's `history_cutoff` policy trades one Pipedrive activity (5 tokens) or note (10) per old
record for one file per patient (10): a clinic with a decade of history brings recent years as
native activities and the rest as this archive, days sooner on a small plan.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from cliniko_map.functions.comms import dated_csv
from cliniko_map.functions.dates import utc_timestamp

COLUMNS = ("date", "record", "type", "practitioner", "location", "status", "details")
_BREAKS = re.compile(r"<br\s*/?>|</(p|div|li|ul|ol|h\d)>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_plain(value: str | None) -> str | None:
    """Note HTML as plain text for a spreadsheet cell: line breaks kept, tags dropped, entities read."""
    if not value:
        return None
    text = unescape(_TAGS.sub("", _BREAKS.sub("\n", str(value))))
    return _BLANK_LINES.sub("\n\n", text).strip() or None


def history_csv(bom: bool = True, **parts: list[dict[str, Any]]) -> bytes:
    """CSV bytes: header + one row per kept record of every part, oldest first (ties by record, then id).

    Same rows in -> same bytes out, so an unchanged history is never uploaded again."""
    rows = [row for part in parts.values() for row in part]
    rows.sort(key=lambda r: (str(utc_timestamp(r.get("date")) or ""), str(r.get("record") or ""), str(r.get("id"))))
    return dated_csv(rows, COLUMNS, bom)
