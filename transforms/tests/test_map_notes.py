"""Treatment notes and other notes -> readable, inert Pipedrive note HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from cliniko_map.functions.html import sanitize_html, text_html
from cliniko_map.functions.notes import (
    medical_alert_html,
    patient_case_html,
    patient_notes_html,
    question_html,
    treatment_note_html,
)

HOSTILE_PARAGRAPH = ("<p>Pain 3/10 after session.</p><script>alert('xss')</script>"
                     "<img src=x onerror=\"alert(1)\"><p>BP &lt; 120 &amp; stable</p>")
HOSTILE_TEXT = "<b>not bold</b> </textarea><script>document.cookie</script>"


class _Tags(HTMLParser):
    """Collects tags and attributes, and checks every tag is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.stack: list[str] = []
        self.balanced = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False


def parsed(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    assert p.balanced and not p.stack, html
    return p


SAFE = {"p", "div", "br", "ul", "ol", "li", "blockquote", "b", "strong", "i", "em", "u", "a"}


@pytest.mark.parametrize("dirty", [
    HOSTILE_PARAGRAPH,
    "<div onclick='x()'>a<a href='javascript:alert(1)'>b</a><iframe src=//evil></iframe></div>",
    "<style>p{}</style><svg><script>1</script></svg><b>ok</b><img src=1 onerror=2>",
    "<p>unclosed <b>bold <i>both",
    "</div>stray closers</b>",
    "<SCRIPT>alert(1)</SCRIPT><P CLASS=x>Upper</P>",
    "<a href=\"https://example.com/x?a=1&b=2\" target=_blank>link</a>",
])
def test_sanitized_html_is_allowlisted_balanced_and_inert(dirty: str) -> None:
    clean = sanitize_html(dirty)
    tags = parsed(clean)
    assert set(tags.tags) <= SAFE
    assert all(name == "href" and value and value.startswith(("http://", "https://", "mailto:"))
               for name, value in tags.attrs)
    lowered = clean.lower()
    for bad in ("<script", "onerror", "onclick", "javascript:", "<img", "<iframe", "<style", "alert(1)",
                "alert('xss')"):
        assert bad not in lowered


def test_sanitizer_keeps_text_and_formatting() -> None:
    assert sanitize_html(HOSTILE_PARAGRAPH) == "<p>Pain 3/10 after session.</p><p>BP &lt; 120 &amp; stable</p>"
    assert sanitize_html("<h1>Plan</h1><ul><li>a<li>b</ul>") == "<p><b>Plan</b></p><ul><li>a</li><li>b</li></ul>"
    assert sanitize_html('<a href="https://x.example/?a=1&b=2">l</a>') == '<a href="https://x.example/?a=1&amp;b=2">l</a>'
    assert sanitize_html("<font color=red>plain</font> text") == "plain text"
    assert sanitize_html(None) == ""


def test_text_is_escaped_with_line_breaks() -> None:
    assert text_html("a < b & c\nnext") == "a &lt; b &amp; c<br>next"


@pytest.mark.parametrize(("question", "expected"), [
    ({"name": "Occupation", "type": "text", "answer": "Office worker"}, "<p><b>Occupation:</b> Office worker</p>"),
    ({"name": "Occupation", "type": "text", "answer": HOSTILE_TEXT},
     "<p><b>Occupation:</b> &lt;b&gt;not bold&lt;/b&gt; &lt;/textarea&gt;&lt;script&gt;document.cookie"
     "&lt;/script&gt;</p>"),
    ({"name": "Presenting complaint", "type": "paragraph", "answer": "<div>Manual therapy<br>Review</div>"},
     "<p><b>Presenting complaint:</b></p><div><div>Manual therapy<br>Review</div></div>"),
    ({"name": "Date of injury", "type": "date", "answer": "2020-09-30"}, "<p><b>Date of injury:</b> 2020-09-30</p>"),
    ({"name": "Aggravating factors", "type": "checkboxes",
      "answers": [{"value": "Sitting"}, {"value": "Stairs", "selected": True}, {"value": "Sleeping", "selected": True}],
      "other": {"enabled": True, "selected": True, "value": "Carrying toddler"}},
     "<p><b>Aggravating factors:</b></p><ul><li>Stairs</li><li>Sleeping</li><li>Other: Carrying toddler</li></ul>"),
    ({"name": "Aggravating factors", "type": "checkboxes", "answers": [{"value": "Sitting", "selected": True}],
      "other": {"enabled": True, "selected": False}}, "<p><b>Aggravating factors:</b> Sitting</p>"),
    ({"name": "Pain severity", "type": "radiobuttons",
      "answers": [{"value": "Mild"}, {"value": "Moderate", "selected": True}, {"value": "Severe"}],
      "other": {"enabled": False, "selected": False}}, "<p><b>Pain severity:</b> Moderate</p>"),
    ({"name": "Choose one", "type": "radiobuttons", "answers": [{"value": "A"}],
      "other": {"enabled": True, "selected": True, "value": "Something <else>"}},
     "<p><b>Choose one:</b> Other: Something &lt;else&gt;</p>"),
    ({"name": "Body chart", "type": "bodycharts", "body_chart_ids": ["1", "2"]},
     "<p><b>Body chart:</b> 2 body chart(s) drawn in Cliniko (images stay in Cliniko)</p>"),
    ({"name": "Unanswered question", "type": "text"}, ""),
    ({"name": "Nothing ticked", "type": "checkboxes", "answers": [{"value": "A"}]}, ""),
    ({"name": "Signature", "type": "signature", "answer": "Signed"}, "<p><b>Signature:</b> Signed</p>"),
])
def test_every_question_type(question: dict[str, object], expected: str) -> None:
    assert question_html(question) == expected


CONTENT = {"sections": [
    {"name": "Subjective", "description": "Patient's words", "questions": [
        {"name": "Presenting complaint", "type": "paragraph", "answer": HOSTILE_PARAGRAPH},
        {"name": "Occupation", "type": "text", "answer": HOSTILE_TEXT}]},
    {"name": "Empty", "questions": [{"name": "Unanswered question", "type": "text"}]},
]}


def test_treatment_note_header_sections_and_safety() -> None:
    html = treatment_note_html(CONTENT, "Initial Consultation", "Noah Taylor", "2020-12-10T09:51:00Z", False,
                               "2020-12-10T14:00:00Z", "Noah Taylor (Cliniko practitioner 1)", None)
    assert html.startswith("<p><b>Initial Consultation</b><br>Author: Noah Taylor<br>Practitioner: Noah Taylor "
                           "(Cliniko practitioner 1)<br>Written: 2020-12-10T09:51:00Z<br>Finalised: "
                           "2020-12-10T14:00:00Z</p><p><u><b>Subjective</b></u></p><p><i>Patient's words</i></p>")
    assert "<p><u><b>Empty</b></u></p>" not in html  # a section with no answers is left out
    assert "Pain 3/10 after session." in html and "BP &lt; 120 &amp; stable" in html
    assert "<script" not in html.lower() and "onerror" not in html.lower()
    assert "DRAFT" not in html
    parsed(html)


def test_draft_and_empty_notes() -> None:
    draft = treatment_note_html(CONTENT, "Standard Consultation", "Chloe Thomas", "2021-07-29T21:54:00Z", True, None)
    assert "<b>DRAFT</b> - not finalised in Cliniko" in draft
    assert "Finalised" not in draft
    empty = treatment_note_html(None, "Standard Consultation", "Yusuf Kim", "2020-11-08T06:36:00Z", False,
                                "2020-11-08T11:06:00Z")
    assert empty.endswith("<p>(no content)</p>")


def test_patient_notes_alerts_and_cases() -> None:
    notes = patient_notes_html("<b>VIP</b> prefers mornings <script>alert('x')</script> & parking at rear",
                               "Uses a wheelchair; book ground floor room")
    assert notes == ("<p><b>Patient notes (Cliniko)</b></p><div><b>VIP</b> prefers mornings  &amp; parking at rear"
                     "</div><p><b>Appointment notes (Cliniko)</b></p><p>Uses a wheelchair; book ground floor room</p>")
    assert patient_notes_html(None, " ") is None
    assert medical_alert_html("Allergy: penicillin") == "<p><b>Medical alert</b><br>Alert: Allergy: penicillin</p>"
    assert "Archived in Cliniko: 2024-01-02T00:00:00Z" in medical_alert_html("x", "2024-01-02T00:00:00Z")
    case = patient_case_html("DVA - left knee", "dva", "2022-11-26", "2023-11-26", 12, "Dr Liam Williams", None, None,
                             "Referral <attached>")
    assert case == ("<p><b>Patient case: DVA - left knee</b><br>Referral type: DVA<br>Issued: 2022-11-26<br>"
                    "Expires: 2023-11-26<br>Max sessions: 12<br>Referrer: Dr Liam Williams</p>"
                    "<p>Referral &lt;attached&gt;</p>")
    assert re.search(r"<script", case) is None
