"""Treatment note content: sections of questions of every type Cliniko has.

Answers follow the documented rules (empty answers omitted, `selected` only ever true,
at most one radio button). Some paragraphs carry HTML, and a few carry markup Cliniko's
whitelist would not allow (a `<script>`, an `onerror`), as imported legacy notes do:
whatever renders these must sanitise them.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

HOSTILE_PARAGRAPH = ("<p>Pain 3/10 after session.</p><script>alert('xss')</script>"
                     "<img src=x onerror=\"alert(1)\"><p>BP &lt; 120 &amp; stable</p>")
HOSTILE_TEXT = "<b>not bold</b> </textarea><script>document.cookie</script>"

COMPLAINTS = ("Lower back pain after lifting", "Right shoulder stiffness", "Left knee pain when running",
              "Neck pain from desk work", "Ankle sprain (netball)", "Post-op ACL rehabilitation")
AGGRAVATING = ("Sitting", "Bending", "Running", "Stairs", "Lifting", "Sleeping")
PAIN = ("Mild", "Moderate", "Severe")


def _checkboxes(rng: random.Random, name: str, options: tuple[str, ...], other: bool) -> dict[str, Any]:
    chosen = set(rng.sample(options, rng.randint(0, 3)))
    q: dict[str, Any] = {"name": name, "type": "checkboxes",
                         "answers": [{"value": o, **({"selected": True} if o in chosen else {})} for o in options]}
    if other:
        if rng.random() < 0.3:
            q["other"] = {"enabled": True, "selected": True, "value": "Carrying toddler"}
        else:
            q["other"] = {"enabled": True, "selected": False}
    return q


def _radio(rng: random.Random, name: str, options: tuple[str, ...]) -> dict[str, Any]:
    pick = rng.choice(options)
    return {"name": name, "type": "radiobuttons",
            "answers": [{"value": o, **({"selected": True} if o == pick else {})} for o in options],
            "other": {"enabled": False, "selected": False}}


def full_assessment(rng: random.Random, visit: date, hostile: bool = False) -> dict[str, Any]:
    """Initial assessment: text, paragraph (HTML), date, checkboxes, radiobuttons, bodycharts."""
    complaint = rng.choice(COMPLAINTS)
    paragraph = HOSTILE_PARAGRAPH if hostile else (
        f"<p>{complaint}.</p><ul><li>Onset {rng.randint(1, 12)} weeks ago</li>"
        f"<li>Worse in the <b>morning</b></li></ul><p>Goal: return to sport</p>")
    return {"sections": [
        {"name": "Subjective", "questions": [
            {"name": "Presenting complaint", "type": "paragraph", "answer": paragraph},
            {"name": "Occupation", "type": "text", "answer": HOSTILE_TEXT if hostile else "Office worker"},
            {"name": "Date of injury", "type": "date",
             "answer": (visit - timedelta(days=rng.randint(3, 90))).isoformat()},
        ]},
        {"name": "Objective", "questions": [
            _checkboxes(rng, "Aggravating factors", AGGRAVATING, other=True),
            _radio(rng, "Pain severity", PAIN),
            {"name": "Body chart", "type": "bodycharts",
             "body_chart_ids": [str(10**17 + rng.randrange(10**16)) for _ in range(rng.randint(1, 2))]},
        ]},
        {"name": "Plan", "questions": [
            {"name": "Treatment plan", "type": "paragraph",
             "answer": "<div>Manual therapy, home exercises x3/week.<br>Review in 2 weeks.</div>"},
            {"name": "Unanswered question", "type": "text"},
        ]},
    ]}


def follow_up(rng: random.Random, visit: date) -> dict[str, Any]:
    """Standard consultation: shorter, a few question types."""
    return {"sections": [
        {"name": "Progress", "questions": [
            {"name": "Patient progress report", "type": "paragraph",
             "answer": f"<p>Feeling {rng.choice(('better', 'the same', 'a bit worse'))}; "
                       f"pain {rng.randint(0, 8)}/10.</p>"},
            _radio(rng, "Pain severity", PAIN),
            {"name": "Next review", "type": "date", "answer": (visit + timedelta(days=14)).isoformat()},
        ]},
    ]}
