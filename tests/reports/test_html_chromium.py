"""Report pages in a real browser: headless Chromium shows the totals and every hostile value as plain text,
and nothing in the page runs, loads or gets injected.

Two control pages prove the checks can fail: the same values pasted in raw do run in this harness, and
raw markup spliced into a rendered page is still stopped by the page's Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import chromium as harness
import pytest
from chromium import SCRIPT_MARK_JS, ChromiumMissing, Rendered, open_page, require_chromium

from target_pipedrive.workflow.html import BarChart, Paragraph, Table, render, write_page

Open = Callable[[Path], Rendered]

HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    f"<script>{SCRIPT_MARK_JS}</script>",
    f'<img src=x onerror="{SCRIPT_MARK_JS}">',
    f'"><svg onload="{SCRIPT_MARK_JS}">',
    f"' autofocus onfocus='{SCRIPT_MARK_JS}' x='",
    f"</style><script>{SCRIPT_MARK_JS}</script>",
    f"</title><script>{SCRIPT_MARK_JS}</script>",
    f"<iframe srcdoc=\"<script>parent.{SCRIPT_MARK_JS}</script>\"></iframe>",
    "<meta http-equiv=refresh content='0;url=data:text/html,gone'>",
    "<base href=\"//evil.example/\"><link rel=stylesheet href=\"//evil.example/x.css\">",
    "<style>body{display:none}</style>",
    "Zoë \u05e9\u05dc\u05d5\u05dd \u202eevil\u202c 😀 &amp; &lt;b&gt;",
]
TITLE = "Audit <script>alert(1)</script> run 42"
RECONCILE = "Counts reconcile: 1,204 source records = 1,180 migrated + 20 skipped + 4 failed"
LONG = "long-note " * 5_000


def _audit_page() -> list:
    """An audit-like page: a reconciliation line, a chart and a table of hostile patient names."""
    rows = [[i + 1, name, "migrated", 9000 + i] for i, name in enumerate(HOSTILE_NAMES)]
    rows += [[0, "control chars \x00\x07 and a lone surrogate \ud800", "failed", None], [0, LONG, "skipped", None]]
    return [
        Paragraph(RECONCILE, tone="ok"),
        BarChart("Outcome by stream", {"patients": {"migrated": 1000, "skipped": 20, "failed": 4},
                                       "notes": {"migrated": 180}}),
        Table("Patients <b>bold?</b>", ["#", "name", "status", "pipedrive id"], rows),
        Table("Largest invoices", ["patient", "total"], [[HOSTILE_NAMES[0], 1234.5]] * 30, max_rows=5),
    ]


def test_report_page_shows_totals_and_hostile_names_as_text_and_runs_nothing(tmp_path: Path, chromium: Open) -> None:
    page = write_page(tmp_path / "reports" / "audit.html", TITLE, _audit_page(), generated_at="2026-11-24 04:00 UTC")
    shown = chromium(page)

    assert not shown.script_ran
    assert shown.active_content == []
    assert shown.console == ()  # not even an attempt the CSP had to block
    tags = {t for t, _ in shown.elements}
    assert tags <= {"html", "head", "meta", "title", "style", "body", "h1", "p", "span", "table", "caption", "thead",
                    "tbody", "tr", "th", "td", "figure", "figcaption", "ul", "li", "svg", "rect"}, tags

    assert shown.title == TITLE  # unchanged by anything in the page, and shown as text
    assert RECONCILE in shown.text
    assert "migrated 1000 · skipped 20 · failed 4 — total 1024" in shown.text
    assert "migrated 180" in shown.text
    assert "showing 5 of 30 rows — see the CSV" in shown.text
    assert "Patients <b>bold?</b>" in shown.text
    for name in HOSTILE_NAMES:
        assert name in shown.text, name
    assert "control chars \u2400\u2407 and a lone surrogate \ufffd" in shown.text
    assert LONG in shown.text


def test_control_raw_values_do_run_so_the_checks_above_can_fail(tmp_path: Path, chromium: Open) -> None:
    """The same values pasted into a page unescaped and without a CSP: the harness must see them act."""
    raw = "".join(f"<p>{name}</p>" for name in HOSTILE_NAMES[1:4])
    page = tmp_path / "raw.html"
    page.write_text(f"<!doctype html><html><head><title>{TITLE[:5]}</title></head><body>{raw}</body></html>")
    shown = chromium(page)
    assert shown.script_ran
    assert "script" in shown.active_content and "img[onerror]" in shown.active_content
    assert HOSTILE_NAMES[1] not in shown.text


def test_control_markup_slipped_into_a_rendered_page_is_blocked_by_its_csp(tmp_path: Path, chromium: Open) -> None:
    """Defence in depth: were a value ever left unescaped, the page's own CSP stops it from running or loading."""
    html = render("CSP", [Paragraph("before"), Paragraph("after")])
    html = html.replace("before", "before" + "".join(HOSTILE_NAMES[1:4]) + "<img src=\"https://evil.example/x.png\">"
                        '<base href="https://evil.example/">')
    page = tmp_path / "spliced.html"
    page.write_text(html, encoding="utf-8")
    shown = chromium(page)
    assert not shown.script_ran
    assert "script" in shown.active_content  # the element got in...
    blocked = " ".join(shown.console)
    assert "Content Security Policy" in blocked  # ...and the browser refused to run or load it
    assert "Executing inline script violates" in blocked and "Executing inline event handler violates" in blocked
    assert "Loading the image 'https://evil.example/x.png' violates" in blocked
    assert "base URI to 'https://evil.example/' violates" in blocked


def test_missing_chromium_is_a_clear_error_not_a_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absent = tmp_path / "no-chromium"
    with pytest.raises(ChromiumMissing, match=r"make test.* installs it"):
        open_page(tmp_path / "x.html", chromium=absent)
    monkeypatch.setattr(harness, "CHROMIUM", absent)
    with pytest.raises(pytest.fail.Exception, match=r"Chromium is not installed at .*no-chromium"):
        require_chromium()  # what the `chromium` fixture checks before opening a page
