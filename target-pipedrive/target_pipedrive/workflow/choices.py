"""The map's bill-cutting choices in the plan: what each is set to and what it changes.

A clinic with years of history can move old appointments (and, by choice, their treatment notes) into
one history file per patient (the map's policies history_cutoff and history_notes), and write a treatment
note into its appointment's activity instead of a note of its own (treatment_notes_on_appointments). The
plan run already counts what that does, record by record; this says it in the plan's terms: objects not
created and tokens not spent, so a choice can be weighed before a migration starts.
"""

from __future__ import annotations

from typing import Any

from target_pipedrive.pipedrive.client import token_cost

MOVED_APPOINTMENTS = ("individual_appointments", "attendees")
MOVED_NOTES = ("treatment_notes",)
FOLDED = "written in its appointment's activity note"  # the map's skip reason for a folded note


def _rolled_up(counts: list[dict[str, Any]], streams: tuple[str, ...]) -> int:
    return sum(int(row.get("rolled_up", 0)) for row in counts if row["cliniko_object"] in streams)


def history(details: dict[str, Any], counts: list[dict[str, Any]], audit: list[dict[str, Any]]) -> dict[str, Any]:
    """history_cutoff's effect: records moved, files made, Pipedrive tokens saved (negative: spent)."""
    policies = details.get("policies") or {}
    cutoff, with_notes = policies.get("history_cutoff"), bool(policies.get("history_notes"))
    appointments = _rolled_up(counts, MOVED_APPOINTMENTS) if cutoff else 0
    notes = _rolled_up(counts, MOVED_NOTES) if cutoff and with_notes else 0
    files = len({row["source_key"] for row in audit if ":history:" in row["source_key"]
                 and row["stream"] == "files"}) if cutoff else 0
    saved = (appointments * token_cost("POST", "v2", "/activities") + notes * token_cost("POST", "v1", "/notes")
             - files * token_cost("POST", "v1", "/files"))
    return {"history_cutoff": cutoff, "history_notes": with_notes, "appointments_in_history": appointments,
            "treatment_notes_in_history": notes, "history_files": files, "tokens_saved": saved}


def history_text(effect: dict[str, Any]) -> str:
    if not effect["history_cutoff"]:
        return ("Choice history_cutoff is off: every appointment becomes an activity. A clinic with years of "
                "history can set it in the map (policies history_cutoff, history_notes) to bring older "
                "appointments as one CSV file per patient instead, for fewer tokens.")
    notes = (f" and {effect['treatment_notes_in_history']} treatment note(s)" if effect["history_notes"]
             else "; treatment notes stay notes (history_notes is off)")
    return (f"Choice history_cutoff {effect['history_cutoff']}: {effect['appointments_in_history']} appointment(s)"
            f"{notes} before it go into {effect['history_files']} history file(s) (one per patient) instead of "
            f"an activity or note each, saving about {effect['tokens_saved']} tokens; the estimate above includes "
            "this.")


def notes_on_appointments(details: dict[str, Any], audit: list[dict[str, Any]]) -> dict[str, Any]:
    """treatment_notes_on_appointments' effect: notes written into their activity (an update, after the
    activity's create: the tap sends appointments first) instead of created, and the tokens that saves."""
    on = bool((details.get("policies") or {}).get("treatment_notes_on_appointments"))
    folded = len({row["source_key"] for row in audit if row["status"] == "skipped"
                  and str(row["message"]).startswith(FOLDED)}) if on else 0
    saved = folded * (token_cost("POST", "v1", "/notes") - token_cost("PATCH", "v2", "/activities/1"))
    return {"treatment_notes_on_appointments": on, "treatment_notes_in_activities": folded, "tokens_saved": saved}


def notes_on_appointments_text(effect: dict[str, Any]) -> str:
    if not effect["treatment_notes_on_appointments"]:
        return ("Choice treatment_notes_on_appointments is off: every treatment note becomes a note of its own "
                "(10 tokens); on, a note of a migrated appointment is written in that activity (5).")
    return (f"Choice treatment_notes_on_appointments: {effect['treatment_notes_in_activities']} treatment note(s) "
            f"written in their appointment's activity instead of a note each, saving about "
            f"{effect['tokens_saved']} tokens; the estimate above includes this.")
