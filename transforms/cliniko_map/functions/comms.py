"""A patient's communications (SMS, e-mail, calls, memos) as one CSV file."""

from __future__ import annotations

import csv
import io
from typing import Any

from cliniko_map.functions.dates import utc_timestamp

COLUMNS = ("date", "direction", "type", "category", "subject", "content")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """Text for a cell; a leading formula character is neutralised with a quote, so a
    spreadsheet never runs a message's text as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA) else text


def communications_csv(communications: list[dict[str, Any]], bom: bool = True) -> bytes:
    """CSV bytes: header + one row per communication, oldest first (ties by id).

    Rows carry the kept fields `date` (UTC), `direction`, `type`, `category`, `subject`,
    `content`. UTF-8 with a BOM by default so spreadsheet apps show non-Latin names
    correctly. Same input -> same bytes, so an unchanged history is never re-uploaded.
    """
    rows = sorted(communications, key=lambda c: (str(utc_timestamp(c.get("date")) or ""), str(c.get("id", ""))))
    return dated_csv(rows, COLUMNS, bom)


def dated_csv(rows: list[dict[str, Any]], columns: tuple[str, ...], bom: bool) -> bytes:
    """Header + one line per row, in the order given: the first column (`date`) as a UTC instant, the others
    as inert cells; UTF-8, with a BOM when asked."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([utc_timestamp(row.get("date")) or "", *(csv_cell(row.get(c)) for c in columns[1:])])
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")
