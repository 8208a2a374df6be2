"""Plain, self-contained HTML pages for the reports people read (audit, diff, plan).

The pages hold patient data and are opened from disk, so they must be inert: every value is
escaped text, there is no JavaScript and nothing loads from anywhere (a CSP meta forbids it
as a second line of defence), and any value at all renders without breaking the page.

    write_page(out / "audit.html", "Audit", [
        Paragraph("Counts reconcile: 12 = 10 migrated + 1 skipped + 1 failed", tone="ok"),
        BarChart("Outcome by stream", {"patients": {"migrated": 10, "failed": 1}}),
        Table("Records", COLUMNS, rows, max_rows=500),  # rows: sequences, or mappings keyed by column
    ], generated_at=now)
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

# base-uri and form-action do not fall back to default-src, so they are closed explicitly.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
TONES = ("plain", "ok", "warn", "bad")
# The tone's meaning as a symbol, so it never rests on colour alone.
_TONE_MARK = {"ok": "\u2713", "warn": "\u26a0", "bad": "\u2717"}
# Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_BAR_WIDTH = 400
_BAR_HEIGHT = 16
_LONG_CELL = 60


@dataclass(frozen=True)
class Paragraph:
    """A line of text; `tone` styles it (e.g. the reconciliation line): plain | ok | warn | bad."""

    text: str
    tone: str = "plain"


@dataclass(frozen=True)
class Table:
    """Rows under column headings; rows may be sequences or mappings keyed by column name."""

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    max_rows: int | None = None


@dataclass(frozen=True)
class BarChart:
    """Horizontal stacked bars, {category: {series: value}}, with every number also written as text."""

    caption: str
    data: Mapping[str, Mapping[str, int | float]]


@dataclass(frozen=True)
class Heading:
    """A section title (h2)."""

    text: str


@dataclass(frozen=True)
class Link:
    """A table cell that links to a web page (an object in Pipedrive's web app); only http(s) addresses link."""

    text: Any
    href: str | None


Block = Paragraph | Table | BarChart | Heading

# C0 controls other than tab/newline/CR, DEL, C1 controls, lone surrogates and noncharacters:
# invalid or invisible in HTML text, so they are shown as a visible stand-in instead.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def _stand_in(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␀ ␇ ␛ ...
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"


def _clean(text: str) -> str:
    """Text that encodes as UTF-8 and is legal in HTML, with line breaks as a browser would read them."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _BAD_CHARS.search(text):
        text = _BAD_CHARS.sub(_stand_in, text)
    if not text.isascii():
        text = "".join("\ufffd" if (ord(c) & 0xFFFE) == 0xFFFE else c for c in text)
    return text


def as_text(value: Any) -> str:
    """Any value as display text, never raising: the page must survive whatever a record holds."""
    try:
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, str):
            text = value
        elif isinstance(value, bytes | bytearray | memoryview):
            text = bytes(value).decode("utf-8", "replace")
        elif isinstance(value, dt.date | dt.time):
            text = value.isoformat()
        elif isinstance(value, Mapping | list | tuple):
            text = json.dumps(value, ensure_ascii=False, default=str)
        else:
            text = str(value)
    except Exception:  # a broken __str__/__repr__ in someone's value must not cost the page
        try:
            text = repr(value)
        except Exception:
            text = f"<unprintable {type(value).__name__}>"
    return _clean(text)


def esc(value: Any) -> str:
    """Escaped for element content and for double- or single-quoted attributes."""
    return html.escape(as_text(value), quote=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _items(value: Any) -> list[Any]:
    """A sequence as a list; a lone string or scalar is one item, not a row of characters."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _cells(row: Any, columns: Sequence[Any]) -> list[Any]:
    if isinstance(row, Mapping):
        return [row.get(c) for c in columns]
    if row is None:
        return [None]
    return _items(row)


def _paragraph(block: Paragraph) -> str:
    tone = block.tone if block.tone in TONES else "plain"
    mark = _TONE_MARK.get(tone)
    prefix = f'<span class="mark">{mark}</span> ' if mark else ""
    return f'<p class="tone-{tone}" dir="auto">{prefix}{esc(block.text)}</p>'


def _link(value: Link) -> str:
    href = as_text(value.href)
    text = as_text(value.text)
    long = ' class="long"' if len(text) > _LONG_CELL else ""  # as for any cell: see _cell
    shown = html.escape(text)
    if href.startswith(("https://", "http://")):
        shown = f'<a href="{esc(href)}" rel="noreferrer noopener">{shown}</a>'
    return f'<td dir="auto"{long}>{shown}</td>'


def _cell(value: Any) -> str:
    if isinstance(value, Link):
        return _link(value)
    text = as_text(value)
    if _is_number(value):
        return f'<td class="num">{html.escape(text)}</td>'
    # Only long values may break anywhere: were every cell allowed to, the table would squeeze
    # its short columns to one character wide next to a long note.
    long = ' class="long"' if len(text) > _LONG_CELL else ""
    return f'<td dir="auto"{long}>{html.escape(text)}</td>'


def _table(block: Table) -> str:
    keys = _items(block.columns)
    columns = [as_text(c) for c in keys]
    rows = _items(block.rows)
    total = len(rows)
    shown = [_cells(r, keys) for r in (rows if block.max_rows is None else rows[: max(0, block.max_rows)])]
    width = max([len(columns), *(len(r) for r in shown)])
    head = "".join(f'<th scope="col" dir="auto">{esc(c)}</th>' for c in columns + [""] * (width - len(columns)))
    body = []
    for row in shown:
        cells = row + [None] * (width - len(row))
        body.append("<tr>" + "".join(
            _cell(v) for v in cells
        ) + "</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{max(width, 1)}" class="empty">No rows.</td></tr>')
    note = f'<p class="note">showing {len(shown):,} of {total:,} rows — see the CSV</p>' if len(shown) < total else ""
    return (f'<table><caption dir="auto">{esc(block.caption)}</caption><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>{note}')


def _series(data: Mapping[Any, Any]) -> dict[Any, dict[Any, Any]]:
    out: dict[Any, dict[Any, Any]] = {}
    for category, values in data.items():
        out[category] = dict(values) if isinstance(values, Mapping) else {"value": values}
    return out


def _bar_length(value: Any) -> float:
    """Only finite positive numbers draw; anything else still shows as text."""
    if not _is_number(value):
        return 0.0
    number = float(value)
    return number if math.isfinite(number) and number > 0 else 0.0


def _total(values: Iterable[Any]) -> Any:
    try:
        return sum(values)
    except TypeError:  # Decimal and float do not add; the text total is then a float
        return sum(float(v) for v in values)


def _swatch(colour: str) -> str:
    return (f'<svg class="swatch" width="12" height="12" aria-hidden="true">'
            f'<rect width="12" height="12" fill="{colour}"/></svg>')


def _chart(block: BarChart) -> str:
    data = _series(block.data) if isinstance(block.data, Mapping) else {}
    names: list[Any] = []
    for values in data.values():
        for name in values:
            if name not in names:
                names.append(name)
    colour = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    scale = max([sum(_bar_length(v) for v in values.values()) for values in data.values()] + [0.0])
    rows = []
    for category, values in data.items():
        x = 0.0
        rects = []
        for name, value in values.items():
            length = _bar_length(value) / scale * _BAR_WIDTH if scale else 0.0
            if length > 0:
                rects.append(f'<rect x="{x:.2f}" y="0" width="{length:.2f}" height="{_BAR_HEIGHT}" '
                             f'fill="{colour[name]}"><title>{esc(name)}: {esc(value)}</title></rect>')
            x += length
        numbers = " · ".join(f"{esc(name)} {esc(value)}" for name, value in values.items())
        if len(values) > 1 and all(_is_number(v) for v in values.values()):
            numbers += f" — total {esc(_total(values.values()))}"
        svg = (f'<svg width="{_BAR_WIDTH}" height="{_BAR_HEIGHT}" viewBox="0 0 {_BAR_WIDTH} {_BAR_HEIGHT}" '
               f'preserveAspectRatio="none" aria-hidden="true">{"".join(rects)}</svg>')
        rows.append(f'<tr><th scope="row" dir="auto">{esc(category)}</th><td class="bar">{svg}</td>'
                    f'<td class="numbers" dir="auto">{numbers}</td></tr>')
    if not rows:
        rows.append('<tr><td class="empty">No data.</td></tr>')
    legend = "".join(f'<li>{_swatch(colour[n])} {esc(n)}</li>' for n in names)
    return (f'<figure class="chart"><figcaption dir="auto">{esc(block.caption)}</figcaption>'
            f'<ul class="legend">{legend}</ul><table class="chart">{"".join(rows)}</table></figure>')


def _block(block: Any) -> str:
    if isinstance(block, Heading):
        return f'<h2 dir="auto">{esc(block.text)}</h2>'
    if isinstance(block, Paragraph):
        return _paragraph(block)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, BarChart):
        return _chart(block)
    return _paragraph(Paragraph(as_text(block)))


_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;background:#fff;
margin:2rem auto;max-width:72rem;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .25rem}
h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.generated{color:#555;margin:0 0 1.5rem}
p,caption,figcaption,li{overflow-wrap:anywhere;white-space:pre-wrap}
td,th{overflow-wrap:break-word;white-space:pre-wrap}
td.long{overflow-wrap:anywhere;min-width:16rem}
p.tone-ok,p.tone-warn,p.tone-bad{padding:.4rem .6rem;border-left:4px solid;font-weight:600}
p.tone-ok{border-color:#009E73;background:#e8f6f1}
p.tone-warn{border-color:#E69F00;background:#fdf4e3}
p.tone-bad{border-color:#D55E00;background:#fbebe3}
table{border-collapse:collapse;margin:1rem 0;max-width:100%}
td a{color:#0058a0}
caption,figcaption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:start;vertical-align:top}
thead th{background:#f2f2f2}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.empty{color:#555;font-style:italic}
.note{color:#555;font-style:italic}
figure{margin:1.5rem 0}
table.chart td,table.chart th{border:none}
td.bar{padding-right:0}
td.bar svg{width:min(400px,40vw);height:16px}
.legend{list-style:none;padding:0;margin:.25rem 0}
.legend li{display:inline-block;margin-right:1rem}
@media print{body{margin:0;max-width:none}}
"""


def render(title: str, blocks: Sequence[Block], *, generated_at: str | None = None) -> str:
    """A complete, inert HTML page: inline CSS only, no script, nothing fetched."""
    body = "\n".join(_block(b) for b in (blocks or ()))
    generated = f'<p class="generated">Generated {esc(generated_at)}</p>' if generated_at is not None else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{_STYLE}</style></head>\n"
        f'<body><h1 dir="auto">{esc(title)}</h1>\n{generated}\n{body}\n</body></html>\n'
    )


def _make_private_dirs(directory: Path) -> None:
    """Create missing directories owner-only; existing ones keep their mode (they may be shared)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)  # mkdir's mode is masked by the umask


def write_page(path: Path, title: str, blocks: Sequence[Block], **kw: Any) -> Path:
    """Write the page owner-only (0600), atomically, so a reader never sees half a page."""
    path = Path(path)
    _make_private_dirs(path.parent)
    data = render(title, blocks, **kw).encode("utf-8", "replace")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
