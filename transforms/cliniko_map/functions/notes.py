"""Cliniko notes (treatment notes, patient notes, medical alerts, cases) as Pipedrive note HTML.

A treatment note's content is sections of questions; each question type is rendered so
a reader sees the question, the answer and which options were chosen, never markup that
could run. Bodycharts are images the API does not serve: they are listed, not lost silently.
"""

from __future__ import annotations

from typing import Any

from cliniko_map.functions.dates import iso_date, utc_timestamp
from cliniko_map.functions.html import sanitize_html, text_html
from cliniko_map.functions.text import clean


def _chosen(question: dict[str, Any]) -> list[str]:
    picked = [str(a.get("value")) for a in question.get("answers") or [] if a.get("selected") and a.get("value")]
    other = question.get("other") or {}
    if other.get("selected"):
        picked.append(f"Other: {clean(other.get('value')) or '(not specified)'}")
    return picked


def question_html(question: dict[str, Any]) -> str:
    """One question and its answer; '' when unanswered (Cliniko omits empty answers too)."""
    name = f"<b>{text_html(clean(question.get('name')) or 'Question')}:</b>"
    kind = question.get("type")
    if kind == "paragraph":
        body = sanitize_html(question.get("answer"))
        return f"<p>{name}</p><div>{body}</div>" if body else ""
    if kind == "text":
        answer = clean(question.get("answer"))
        return f"<p>{name} {text_html(answer)}</p>" if answer else ""
    if kind == "date":
        raw = question.get("answer")
        answer = iso_date(raw) or clean(raw)
        return f"<p>{name} {text_html(answer)}</p>" if answer else ""
    if kind in ("checkboxes", "radiobuttons"):
        picked = _chosen(question)
        if not picked:
            return ""
        if kind == "radiobuttons" or len(picked) == 1:
            return f"<p>{name} {text_html(picked[0])}</p>"
        items = "".join(f"<li>{text_html(p)}</li>" for p in picked)
        return f"<p>{name}</p><ul>{items}</ul>"
    if kind == "bodycharts":
        count = len(question.get("body_chart_ids") or [])
        return f"<p>{name} {count} body chart(s) drawn in Cliniko (images stay in Cliniko)</p>" if count else ""
    answer = clean(question.get("answer"))  # a type this map does not know: keep its text
    return f"<p>{name} {text_html(answer)}</p>" if answer else ""


def treatment_note_html(content: dict[str, Any] | None, title: str | None = None, author_name: str | None = None,
                        created_at: Any = None, draft: Any = None, finalized_at: Any = None,
                        practitioner: str | None = None, archived_at: Any = None) -> str:
    """The whole note: a header (title, author, original time, final/draft), then sections."""
    head = [f"<b>{text_html(clean(title) or 'Treatment note')}</b>"]
    if draft:
        head.append("<b>DRAFT</b> - not finalised in Cliniko")
    for label, value in (("Author", clean(author_name)), ("Practitioner", practitioner),
                         ("Written", utc_timestamp(created_at)), ("Finalised", utc_timestamp(finalized_at)),
                         ("Archived in Cliniko", utc_timestamp(archived_at))):
        if value:
            head.append(f"{label}: {text_html(value)}")
    parts = [f"<p>{'<br>'.join(head)}</p>"]
    sections = (content or {}).get("sections") or []
    for section in sections:
        answered = [html for html in (question_html(q) for q in section.get("questions") or []) if html]
        description = clean(section.get("description"))
        if not answered and not description:
            continue
        parts.append(f"<p><u><b>{text_html(clean(section.get('name')) or 'Section')}</b></u></p>")
        if description:
            parts.append(f"<p><i>{text_html(description)}</i></p>")
        parts.extend(answered)
    if len(parts) == 1:
        parts.append("<p>(no content)</p>")
    return "".join(parts)


def booked_notes_html(notes: list[dict[str, Any]], deleted_records: str = "skip", draft_notes: str = "migrate"
                      ) -> str | None:
    """The treatment notes of one appointment, oldest first, for its activity's note (policy
    treatment_notes_on_appointments); the notes' own skip policies apply. None when there are none."""
    kept = [n for n in notes if not (n.get("deleted_at") and deleted_records == "skip")
            and not (n.get("draft") and draft_notes == "skip")]
    kept.sort(key=lambda n: (str(utc_timestamp(n.get("created_at")) or ""), str(n.get("id"))))
    return "".join(treatment_note_html(n.get("content"), n.get("title"), n.get("author_name"), n.get("created_at"),
                                       n.get("draft"), n.get("finalized_at"), None, n.get("archived_at"))
                   for n in kept) or None


def labelled_note_html(title: str, *rows: Any, body: str | None = None, body_is_html: bool = False) -> str:
    """A short note: bold title, 'Label: value' lines (pairs in `rows`), optional body text."""
    pairs = [(rows[i], rows[i + 1]) for i in range(0, len(rows) - 1, 2)]
    lines = [f"<b>{text_html(title)}</b>"] + [f"{text_html(k)}: {text_html(v)}" for k, v in pairs
                                               if v not in (None, "", [])]
    out = f"<p>{'<br>'.join(lines)}</p>"
    if body and clean(body):
        out += f"<div>{sanitize_html(body)}</div>" if body_is_html else f"<p>{text_html(body.strip())}</p>"
    return out


def patient_notes_html(notes: str | None, appointment_notes: str | None = None) -> str | None:
    """The patient's free-text notes (may hold HTML from old imports) as one note; None if empty."""
    parts = []
    if clean(notes):
        parts.append(f"<p><b>Patient notes (Cliniko)</b></p><div>{sanitize_html(notes)}</div>")
    if clean(appointment_notes):
        parts.append(f"<p><b>Appointment notes (Cliniko)</b></p><p>{text_html(clean(appointment_notes))}</p>")
    return "".join(parts) or None


def medical_alert_html(name: str | None, archived_at: Any = None) -> str:
    """'Medical alert: Allergy: penicillin' (+ archived date)."""
    return labelled_note_html("Medical alert", "Alert", clean(name) or "(no text)",
                              "Archived in Cliniko", utc_timestamp(archived_at))


def patient_case_html(name: str | None, referral_type: str | None = None, issue_date: Any = None,
                      expiry_date: Any = None, max_sessions: Any = None, contact: str | None = None,
                      closed_at: Any = None, archived_at: Any = None, notes: str | None = None) -> str:
    """A patient case (funding/referral episode: DVA, Medicare EPC...) as a note."""
    return labelled_note_html(
        f"Patient case: {clean(name) or 'unnamed'}",
        "Referral type", (referral_type or "").upper() or None, "Issued", iso_date(issue_date),
        "Expires", iso_date(expiry_date), "Max sessions", max_sessions, "Referrer", contact,
        "Closed", utc_timestamp(closed_at), "Archived in Cliniko", utc_timestamp(archived_at), body=notes)
