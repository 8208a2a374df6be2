"""The report page renderer: every value is inert text, the page is self-contained, and nothing breaks it."""

from __future__ import annotations

import datetime as dt
import math
import os
import stat
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from target_pipedrive.workflow.html import CSP, BarChart, Paragraph, Table, render, write_page

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "' onmouseover='alert(1)",
    '" onfocus="alert(1)" autofocus="',
    "</style><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "</textarea><iframe srcdoc='<script>alert(1)</script>'>",
    "<!-- <script>alert(1)</script> -->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<a href=javascript:alert(1)>x</a>",
    "<meta http-equiv=refresh content='0;url=data:text/html,x'>",
    "<base href=//evil.example/>",
]
# Everything the renderer itself may emit; a hostile value that became markup would add to these.
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "p", "span", "table", "caption", "thead",
                "tbody", "tr", "th", "td", "figure", "figcaption", "ul", "li", "svg", "rect"}
ALLOWED_ATTRS = {"lang", "charset", "http-equiv", "content", "name", "class", "dir", "scope", "colspan", "width",
                 "height", "viewbox", "preserveaspectratio", "aria-hidden", "x", "y", "fill"}


class Page(HTMLParser):
    """The parsed page: every element with its attributes and its whole text (entities decoded)."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "base"})

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.elements: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.open: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            element: tuple[str, dict[str, str | None], list[str]] = (tag, dict(attrs), [])
            self.elements.append(element)
            self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.elements.append((tag, dict(attrs), []))

    def handle_endtag(self, tag: str) -> None:
        if any(t == tag for t, _, _ in self.open):
            while self.open.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        for _, _, text in self.open:
            text.append(data)

    def text_in(self, tag: str, cls: str | None = None) -> list[str]:
        """The text of each `tag` element (optionally only those of class `cls`), in page order."""
        return ["".join(text) for t, attrs, text in self.elements
                if t == tag and (cls is None or attrs.get("class") == cls)]

    def names(self) -> set[str]:
        return {t for t, _ in self.tags}


def _everywhere(value: object) -> str:
    """A page with `value` in every slot a caller can fill."""
    return render(str(value), [
        Paragraph(str(value)),
        Paragraph(str(value), tone="bad"),
        Table(str(value), [str(value), "b"], [[value, 1], {str(value): value, "b": value}]),
        BarChart(str(value), {str(value): {str(value): 3, "other": 1}}),
    ], generated_at=str(value))


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_text_not_markup(value: str) -> None:
    page_html = _everywhere(value)
    page = Page(page_html)
    assert page.names() <= ALLOWED_TAGS
    attrs = {a for _, attributes in page.tags for a in attributes}
    assert attrs <= ALLOWED_ATTRS, attrs - ALLOWED_ATTRS
    assert "<script" not in page_html.lower()
    assert "<img" not in page_html.lower() and "<iframe" not in page_html.lower()
    assert page_html.lower().count("</style") == 1
    # Each slot shows the value verbatim once decoded: title, heading, generated line, paragraphs,
    # caption, header, cells, chart caption, category, series (legend, numbers, bar tooltip).
    assert page.text_in("title") == [value, f"{value}: 3", "other: 1"]  # the page's, then the bars' tooltips
    assert page.text_in("h1") == [value]
    assert page.text_in("p") == [f"Generated {value}", value, f"\u2717 {value}"]
    assert page.text_in("caption") == [value]
    assert page.text_in("th") == [value, "b", value]  # column, column, chart category
    assert page.text_in("td", "numbers") == [f"{value} 3 · other 1 — total 4"]
    assert page.text_in("td") [:4] == [value, "1", value, value]
    assert page.text_in("figcaption") == [value]
    assert page.text_in("li") == [f" {value}", " other"]


def test_escaping_covers_both_quote_kinds_and_ampersands() -> None:
    out = render("t", [Paragraph("""a"b'c&d<e>f""")])
    assert "a&quot;b&#x27;c&amp;d&lt;e&gt;f" in out
    assert "&amp;lt;script" in render("t", [Paragraph("&lt;script")])


def test_page_is_self_contained_and_script_free() -> None:
    out = render("Audit", [
        Paragraph("Counts reconcile: 12 source = 10 migrated + 1 skipped + 1 failed", tone="ok"),
        Table("Records", ["stream", "count"], [["patients", 10], ["notes", 2]]),
        BarChart("By stream", {"patients": {"migrated": 10, "failed": 1}}),
    ], generated_at="2026-11-24T04:00:00Z")
    assert out.startswith("<!doctype html>\n")
    lowered = out.lower()
    for forbidden in ("http://", "https://", "<script", "javascript:", "<link", "@import", "url(", " src=", " href=",
                      "<iframe", "<object", "<embed", "<form"):
        assert forbidden not in lowered, forbidden
    csp = [a["content"] for t, a in Page(out).tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [CSP]
    assert CSP == "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    # The CSP must come before anything it is meant to govern.
    assert lowered.index("content-security-policy") < lowered.index("<style") < lowered.index("<body")


def test_a_url_in_a_value_stays_plain_text() -> None:
    page = Page(render("t", [Table("c", ["link"], [["https://evil.example/x?a=1&b=<2>"]])]))
    assert "https://evil.example/x?a=1&b=<2>" in page.text_in("td")
    assert not any("href" in a or "src" in a for _, a in page.tags)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("boom")

    def __repr__(self) -> str:
        raise RuntimeError("boom")


class BadStr:
    def __str__(self) -> str:
        raise ValueError("no")

    def __repr__(self) -> str:
        return "BadStr()"


WEIRD = [None, 0, -1, 10**30, 1.5, math.nan, math.inf, -math.inf, Decimal("12.50"), True, False, {"a": [1, None]},
         [1, "x"], (), b"\xff\xfe bytes", bytearray(b"ok"), dt.date(2026, 1, 2),
         dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC), Unprintable(), BadStr(), "\ud800 lone", "\udfff",
         "\x00nul\x07bel\x1besc\x7fdel\x85nel", "\ufffe\uffff\U0001fffe", "שלום עולם", "مرحبا \u202eevil\u202c",
         "😀👩‍⚕️🏳️‍🌈", "x" * 200_000, "", "   ", "line1\nline2\r\n\ttab", object()]


def test_any_value_renders_as_valid_utf8_text() -> None:
    out = render("\ud800 title \x00", [
        Paragraph(WEIRD),  # type: ignore[arg-type]
        Table("weird", ["value"], [[v] for v in WEIRD]),
        Table("dict rows", ["value", "missing"], [{"value": v} for v in WEIRD]),
        BarChart("weird", {"c": {f"s{i}": v for i, v in enumerate(WEIRD)}}),
    ], generated_at="\udc80")
    out.encode("utf-8")  # strict: no lone surrogate survived
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out)
    assert not any(ord(c) < 0x20 and c not in "\t\n\r" for c in out)
    assert not any(0x7F <= ord(c) <= 0x9F for c in out)
    cells = Page(out).text_in("td")
    # Visible stand-ins for what cannot be shown, and everything else verbatim.
    assert "\ufffd lone" in cells and "\ufffd" in cells
    assert "\u2400nul\u2407bel\u241besc\u2421del\ufffdnel" in cells
    assert "\ufffd\ufffd\ufffd" in cells
    for verbatim in ("שלום עולם", "مرحبا \u202eevil\u202c", "😀👩‍⚕️🏳️‍🌈", "x" * 200_000, "line1\nline2\n\ttab",
                     "12.50", "nan", "inf", str(10**30), "yes", "no", '{"a": [1, null]}', '[1, "x"]',
                     "2026-01-02", "2026-01-02T03:04:00+00:00", "BadStr()", "<unprintable Unprintable>",
                     "\ufffd\ufffd bytes", "ok"):
        assert verbatim in cells, verbatim[:40]
    assert cells.count("") >= 1 + len(WEIRD)  # None, and the missing dict key in every dict row


def test_numbers_are_right_aligned_cells_and_booleans_are_not_numbers() -> None:
    page = Page(render("t", [Table("c", ["a", "b", "c", "d"], [[7, 2.5, True, "7"]])]))
    classes = [a.get("class") for t, a in page.tags if t == "td"]
    assert classes == ["num", "num", None, None]


def test_rows_longer_or_shorter_than_the_columns_lose_nothing() -> None:
    page = Page(render("t", [Table("c", ["a", "b"], [["only"], ["1", "2", "extra"], "whole string", None])]))
    rows = [r for r in page.tags if r[0] == "tr"]
    assert len(rows) == 5  # header + 4
    assert page.text_in("td") == ["only", "", "", "1", "2", "extra", "whole string", "", "", "", "", ""]
    assert len([t for t, _ in page.tags if t == "th"]) == 3


@pytest.mark.parametrize(("max_rows", "shown", "note"), [
    (None, 5, None),
    (5, 5, None),
    (10, 5, None),
    (2, 2, "showing 2 of 5 rows — see the CSV"),
    (0, 0, "showing 0 of 5 rows — see the CSV"),
])
def test_truncation_says_how_many_rows_are_shown(max_rows: int | None, shown: int, note: str | None) -> None:
    page = Page(render("t", [Table("c", ["n"], [[f"row{i}"] for i in range(5)], max_rows=max_rows)]))
    assert page.text_in("td") == [f"row{i}" for i in range(shown)]
    notes = [d for d in page.text_in("p") if "showing" in d]
    assert notes == ([note] if note else [])


def test_truncation_counts_use_thousands_separators() -> None:
    out = render("t", [Table("c", ["n"], [[i] for i in range(12_345)], max_rows=1_000)])
    assert "showing 1,000 of 12,345 rows — see the CSV" in out
    assert out.count("<tr>") == 1 + 1_000


def test_empty_table_and_chart_say_so() -> None:
    page = Page(render("t", [Table("c", ["a"], []), BarChart("b", {})]))
    assert page.text_in("td") == ["No rows.", "No data."]


def _bars(out: str) -> list[tuple[str, float, float]]:
    return [(a["fill"] or "", float(a["x"] or 0), float(a["width"] or 0))
            for t, a in Page(out).tags if t == "rect" and "x" in a]


def test_chart_writes_every_number_as_text_and_scales_bars_to_the_largest_total() -> None:
    out = render("t", [BarChart("Outcome by stream", {
        "patients": {"migrated": 30, "skipped": 6, "failed": 4},
        "notes": {"migrated": 20},
        "files": {"failed": Decimal("2.5"), "skipped": 0.5},
    })])
    page = Page(out)
    assert page.text_in("td", "numbers") == [
        "migrated 30 · skipped 6 · failed 4 — total 40",
        "migrated 20",
        "failed 2.5 · skipped 0.5 — total 3.0",
    ]
    assert page.text_in("th") == ["patients", "notes", "files"]
    assert page.text_in("li") == [" migrated", " skipped", " failed"]
    assert page.text_in("figcaption") == ["Outcome by stream"]
    bars = _bars(out)
    blue, orange, green = "#0072B2", "#E69F00", "#009E73"
    assert bars == [(blue, 0, 300), (orange, 300, 60), (green, 360, 40),  # total 40 of 40 -> full width
                    (blue, 0, 200),                                        # 20 of 40 -> half
                    (green, 0, 25), (orange, 25, 5)]                       # series keep their colour
    # Each bar carries its series and value as text too (tooltip).
    assert [t for t in page.text_in("rect") if t] == ["migrated: 30", "skipped: 6", "failed: 4", "migrated: 20",
                                                      "failed: 2.5", "skipped: 0.5"]


def test_chart_survives_values_it_cannot_draw() -> None:
    out = render("t", [BarChart("odd", {
        "negative": {"a": -5, "b": 5}, "nan": {"a": math.nan}, "inf": {"a": math.inf}, "text": {"a": "lots"},
        "none": {"a": None}, "flat": 7, "zero": {"a": 0},  # type: ignore[dict-item]
    })])
    bars = _bars(out)
    assert bars == [("#E69F00", 0, 285.71), ("#009E73", 0, 400)]  # b 5 and value 7 of the largest, 7
    numbers = Page(out).text_in("td", "numbers")
    assert numbers == ["a -5 · b 5 — total 0", "a nan", "a inf", "a lots", "a ", "value 7", "a 0"]
    assert "nan" not in "".join(str(b) for b in bars)


def test_all_zero_chart_draws_no_bars_and_no_division_error() -> None:
    out = render("t", [BarChart("zero", {"a": {"x": 0}, "b": {"x": 0}})])
    assert _bars(out) == []
    assert Page(out).text_in("td", "numbers") == ["x 0", "x 0"]


def test_tones_carry_a_symbol_not_only_a_colour() -> None:
    page = Page(render("t", [Paragraph("fine", "ok"), Paragraph("hmm", "warn"), Paragraph("broken", "bad"),
                             Paragraph("plain"), Paragraph("odd", "<script>")]))
    classes = [a.get("class") for t, a in page.tags if t == "p"]
    assert classes == ["tone-ok", "tone-warn", "tone-bad", "tone-plain", "tone-plain"]
    assert page.text_in("span") == ["\u2713", "\u26a0", "\u2717"]


def test_unknown_block_renders_as_text() -> None:
    page = Page(render("t", ["<b>raw</b>", {"k": "<i>"}]))  # type: ignore[list-item]
    assert page.text_in("p") == ["<b>raw</b>", '{"k": "<i>"}']
    assert "b" not in page.names() and "i" not in page.names()


def test_generated_line_is_optional() -> None:
    assert "Generated" not in render("t", [])
    assert Page(render("t", [], generated_at="2026-11-24 04:00 UTC")).text_in("p") == ["Generated 2026-11-24 04:00 UTC"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_page_is_owner_only_and_creates_private_parents(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        target = tmp_path / "shared" / "run 1" / "reports" / "audit.html"
        (tmp_path / "shared").mkdir(mode=0o755)
        assert write_page(target, "Audit <x>", [Paragraph("é \ud800")], generated_at="now") == target
    finally:
        os.umask(old)
    assert _mode(target) == 0o600
    assert _mode(target.parent) == 0o700 and _mode(target.parent.parent) == 0o700
    assert _mode(tmp_path / "shared") == 0o755  # an existing directory keeps its mode
    assert target.read_bytes().decode("utf-8") == render("Audit <x>", [Paragraph("é \ud800")], generated_at="now")
    assert [p.name for p in target.parent.iterdir()] == ["audit.html"]  # no temporary file left


def test_write_page_replaces_a_world_readable_file_and_does_not_follow_a_symlink(tmp_path: Path) -> None:
    existing = tmp_path / "diff.html"
    existing.write_text("old")
    existing.chmod(0o644)
    write_page(existing, "Diff", [])
    assert _mode(existing) == 0o600 and "<title>Diff</title>" in existing.read_text()

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "plan.html"
    link.symlink_to(victim)
    write_page(link, "Plan", [])
    assert victim.read_text() == "keep me"
    assert not link.is_symlink() and _mode(link) == 0o600
