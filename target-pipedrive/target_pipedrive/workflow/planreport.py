"""The plan report (plan.json + plan.html): what a migration will do, before it does anything.

Built from the latest plan run in the crosswalk (its summary, its audit rows and the details
planrun.py stored) and from reads of Pipedrive as it is now (custom fields, users, activity
types). Nothing here writes to Pipedrive. Patient data never appears: patients are named by
source key only.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from target_pipedrive.crosswalk import Crosswalk, now_iso
from target_pipedrive.errors import TargetError
from target_pipedrive.pipedrive.client import PipedriveClient
from target_pipedrive.settings import Settings
from target_pipedrive.workflow import choices, estimate, html

SIMILAR = 0.75  # a different name at least this similar is reported as a possible match
FIELD_PATHS = {"person": "/personFields", "product": "/productFields"}
DETAILS_KEY = "plan_details:"  # + run id: what planrun.py keeps of a plan run


def details_key(run_id: str) -> str:
    return DETAILS_KEY + run_id


class PlanMissing(TargetError):
    """No usable plan run in the crosswalk."""


def latest_plan(crosswalk: Crosswalk, run_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The newest finished plan run (or `run_id`) that stored its details, and those details."""
    for run in reversed(crosswalk.runs()):
        if run["kind"] != "plan" or run["status"] == "running" or run_id not in (None, run["run_id"]):
            continue
        details = crosswalk.get_value(details_key(run["run_id"]))
        if details is None:
            continue
        if not any(sum(c.values()) for c in ((run.get("summary") or {}).get("sources") or {}).values()):
            raise PlanMissing(f"the latest plan run ({run['run_id']}) received no Cliniko records, so there is "
                              "nothing to report (did the extractor fail?): run the plan again.")
        return run, details
    raise PlanMissing("no plan run in the crosswalk: run `meltano run tap-cliniko target-pipedrive--plan` first "
                      "(without Meltano: `tap-cliniko --config TAP.json | target-pipedrive-plan --config "
                      "TARGET.json`).")


def external_id_definitions(settings: Settings) -> list[dict[str, Any]]:
    """The external-id fields the target creates on first use (same records as the Writer's)."""
    return [{"source_key": f"target-pipedrive:external-id:{entity}", "entity": entity,
             "label": settings.external_id_field, "field_type": "varchar"} for entity in ("person", "product")]


def schema_records(settings: Settings, details: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(stream, record) of every definition the migration needs, custom fields first."""
    out = [("custom_fields", r) for r in external_id_definitions(settings)]
    out += [(d["stream"], d["record"]) for d in details["definitions"] if d["stream"] == "custom_fields"]
    out += [(d["stream"], d["record"]) for d in details["definitions"] if d["stream"] == "activity_types"]
    return out


def normalized(name: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", name.casefold()).split())


def similarity(a: str, b: str) -> float:
    """0..1: how alike two labels are once case, spaces and punctuation are ignored."""
    return round(difflib.SequenceMatcher(None, normalized(a), normalized(b)).ratio(), 2)


def best_match(label: str, candidates: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, float]:
    scored = [(similarity(label, str(c.get("name") or "")), c) for c in candidates]
    if not scored:
        return None, 0.0
    score, found = max(scored, key=lambda s: (s[0], -int(s[1].get("id") or 0)))
    return found, score


class PipedriveNow:
    """What the Pipedrive account holds now (reads only)."""

    def __init__(self, client: PipedriveClient) -> None:
        self.fields = {entity: [f for f in client.list_all("v1", path) if f.get("key")]
                       for entity, path in FIELD_PATHS.items()}
        self.users = [u for u in client.get("v1", "/users").get("data") or []
                      if u.get("email") and u.get("active_flag", True) and not u.get("is_deleted")]
        self.activity_types = [t for t in client.get("v1", "/activityTypes").get("data") or []
                               if t.get("active_flag", True)]

    def custom_fields(self, entity: str) -> list[dict[str, Any]]:
        return [f for f in self.fields[entity] if f.get("edit_flag")]

    def user(self, email: str | None) -> dict[str, Any] | None:
        wanted = (email or "").strip().casefold()
        return next((u for u in self.users if str(u["email"]).casefold() == wanted), None) if wanted else None


# -- sections -------------------------------------------------------------------------------------
def counts(summary: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for stream, statuses in sorted((summary.get("sources") or {}).items()):
        out.append({"cliniko_object": stream, "records": sum(statuses.values()), **statuses})
    return out


def schema(records: list[tuple[str, dict[str, Any]]], now: PipedriveNow) -> dict[str, list[dict[str, Any]]]:
    fields, types = [], []
    for stream, record in records:
        if stream == "custom_fields":
            entity, label = record["entity"], record["label"]
            same = [f for f in now.custom_fields(entity) if str(f.get("name") or "").casefold() == label.casefold()]
            options = list(record.get("options") or [])
            row = {"entity": entity, "label": label, "field_type": record["field_type"], "options": options}
            if len(same) > 1:
                row["action"] = f"ambiguous: {len(same)} Pipedrive fields have this name"
            elif not same:
                row["action"] = "create"
            elif same[0].get("field_type") != record["field_type"]:
                row["action"] = f"conflict: exists as {same[0].get('field_type')}"
            else:
                have = {str(o.get("label")).casefold() for o in same[0].get("options") or []}
                missing = [o for o in options if o.casefold() not in have]
                row["action"] = f"add options: {', '.join(missing)}" if missing else "exists"
            fields.append(row)
        else:
            name = record["name"]
            same = [t for t in now.activity_types if str(t.get("name") or "").casefold() == name.casefold()]
            types.append({"name": name, "icon_key": record.get("icon_key"), "color": record.get("color"),
                          "action": "exists (adopted as it is)" if same else "create"})
    return {"custom_fields": fields, "activity_types": types}


def field_matches(records: list[tuple[str, dict[str, Any]]], now: PipedriveNow) -> list[dict[str, Any]]:
    """Each field the map writes against the closest existing Pipedrive custom field."""
    out = []
    for stream, record in records:
        if stream != "custom_fields":
            continue
        found, score = best_match(record["label"], now.custom_fields(record["entity"]))
        exact = found is not None and str(found.get("name")).casefold() == record["label"].casefold()
        if exact:
            verdict = "used as is" if found.get("field_type") == record["field_type"] else "type conflict"
        elif found is not None and score >= SIMILAR:
            verdict = "similar name: a new field is created unless you rename it in the map"
        else:
            verdict = "no match: created"
        out.append({"entity": record["entity"], "label": record["label"], "field_type": record["field_type"],
                    "pipedrive_field": found.get("name") if found is not None and score >= SIMILAR else None,
                    "pipedrive_field_type": found.get("field_type") if found is not None and score >= SIMILAR
                    else None, "similarity": score if found is not None else 0.0, "verdict": verdict})
    return out


def clinic_fields(details: dict[str, Any], now: PipedriveNow) -> list[dict[str, Any]]:
    """The proposed map for the clinic's own patient custom fields (Cliniko settings)."""
    targets = details.get("clinic_field_targets") or []
    named = [t for t in targets if not t.get("catch_all")]
    catch_all = next((t for t in targets if t.get("catch_all")), None)
    out = []
    for section in (details.get("clinic_custom_fields") or {}).get("sections") or []:
        section_name = str(section.get("name") or "")
        for item in section.get("fields") or []:
            name = str(item.get("name") or "")
            target = next((t for t in named if t["field"].casefold() == name.casefold()
                           and (t.get("section") or section_name).casefold() == section_name.casefold()), None)
            if target is not None:
                proposed = target["label"]
            elif catch_all is not None and section_name.casefold() not in {
                    s.casefold() for s in catch_all["exclude_sections"]} and name.casefold() not in {
                    f.casefold() for f in catch_all["exclude_fields"]}:
                proposed = f"{catch_all['label']} (as 'Section / Field: value' text)"
            else:
                proposed = "not migrated"
            found, score = best_match(name, now.custom_fields("person"))
            out.append({"section": section_name, "field": name, "cliniko_type": item.get("type"),
                        "options": [str(o.get("name")) for o in item.get("options") or [] if o.get("name")],
                        "archived": bool(item.get("archived")), "proposed": proposed,
                        "closest_pipedrive_field": found.get("name") if found is not None else None,
                        "similarity": score})
    return out


def practitioners(details: dict[str, Any], now: PipedriveNow, settings: Settings) -> dict[str, Any]:
    fallback_user = now.user(settings.fallback_user_email)
    if settings.fallback_user_email and fallback_user is not None:
        fallback = f"fallback_user_email: {fallback_user['name']} (user {fallback_user['id']})"
    elif settings.fallback_user_email:
        fallback = "the API token's user (fallback_user_email matches no active Pipedrive user)"
    else:
        fallback = "the API token's user (fallback_user_email is not set)"
    matched, unmatched = [], []
    for p in details.get("practitioners") or []:
        user = now.user(p.get("email"))
        base = {"cliniko_id": p["cliniko_id"], "name": p["name"], "status": "active" if p["active"] else "inactive"}
        if user is not None:
            matched.append({**base, "pipedrive_user_id": user["id"], "pipedrive_user": user.get("name")})
        else:
            reason = "no Pipedrive user has this e-mail" if p.get("email") else "no e-mail in Cliniko"
            unmatched.append({**base, "reason": reason, "owner_instead": fallback})
    return {"matched": matched, "unmatched": unmatched, "fallback": fallback}


def privacy(details: dict[str, Any]) -> dict[str, Any]:
    policies = details.get("policies") or {}
    leaving, staying = [], []
    for entry in details.get("privacy") or []:
        if entry.get("to") is None:
            staying.append({"cliniko_object": entry["cliniko_stream"], "why": entry.get("reason")})
            continue
        clinical_fields = set(entry.get("clinical_fields") or [])
        excluded = bool(policies.get("exclude_clinical"))
        sent = bool(entry.get("sent", True)) and not (entry.get("clinical") and excluded)
        fields = [f for f in entry.get("reads") or [] if not (excluded and f in clinical_fields)]
        (leaving if sent else staying).append(
            {"cliniko_object": entry["cliniko_stream"], "becomes": entry["to"], "clinical": bool(entry.get("clinical")),
             "cliniko_fields": fields if sent else [], **({} if sent else {"why": "exclude_clinical is on"})})
    return {"exclude_clinical": bool(policies.get("exclude_clinical")), "leaving_cliniko": leaving,
            "not_sent": staying}


def warnings(run: dict[str, Any], details: dict[str, Any], audit: list[dict[str, Any]],
             document: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(code: str, message: str, keys: list[str] | None = None, count: int | None = None) -> None:
        out.append({"code": code, "count": count if count is not None else len(keys or []), "message": message,
                    "source_keys": keys or []})

    large = [r["source_key"] for r in audit if r["code"] == "file_too_large"]
    if large:
        add("file_too_large", "files over the upload limit (max_file_size_mb): attach them by hand", large)
    for group in details.get("duplicate_emails") or []:
        add("duplicate_email", "patients sharing one e-mail address (each becomes its own person)", group)
    if details.get("no_contact_total"):
        add("no_contact_detail", "patients with no e-mail, phone or postal address", details.get("no_contact"),
            details["no_contact_total"])
    for row in document["field_matches"]:
        if row["verdict"].startswith(("similar", "type")):
            add("ambiguous_field_match", f"{row['entity']} field '{row['label']}' vs Pipedrive's "
                                         f"'{row['pipedrive_field']}' ({row['verdict']})", count=1)
    for row in document["schema"]["custom_fields"]:
        if row["action"].startswith(("ambiguous", "conflict")):
            add("field_conflict", f"{row['entity']} field '{row['label']}': {row['action']}", count=1)
    unmatched = document["practitioners"]["unmatched"]
    if unmatched:
        add("practitioner_unmatched", f"practitioners without a Pipedrive user: their records are owned by "
                                      f"{document['practitioners']['fallback']}",
            [f"cliniko:practitioner:{p['cliniko_id']}" for p in unmatched])
    summary = run.get("summary") or {}
    if run.get("status") == "stopped":
        add("plan_stopped", f"the plan run stopped early ({summary.get('stopped')}): counts and estimates cover "
                            "only what it reached; run the plan again", count=1)
    for code, n in sorted((summary.get("failed") or {}).items()):
        add(f"failed:{code}", "records the plan could not map or validate (details: report --run "
                              f"{run['run_id']})", count=n)
    for code, n in sorted((summary.get("warnings") or {}).items()):
        add(f"warning:{code}", "warnings of the plan run (details: report --run " f"{run['run_id']})", count=n)
    if summary.get("held"):
        add("held", "records waiting for a parent that did not arrive", count=int(summary["held"]))
    return out


def build(crosswalk: Crosswalk, client: PipedriveClient, settings: Settings,
          run_id: str | None = None) -> dict[str, Any]:
    run, details = latest_plan(crosswalk, run_id)
    summary = run.get("summary") or {}
    now = PipedriveNow(client)
    records = schema_records(settings, details)
    document: dict[str, Any] = {
        "generated_at": now_iso(), "plan_run": run["run_id"], "plan_run_finished_at": run.get("finished_at"),
        "map": {"file": details.get("map_file") or "the packaged map", "digest": details.get("map_digest")},
        "counts": counts(summary),
        "schema": schema(records, now),
        "field_matches": field_matches(records, now),
        "clinic_custom_fields": clinic_fields(details, now),
        "practitioners": practitioners(details, now, settings),
        "privacy": privacy(details),
        "estimate": estimate.of_plan(summary, settings, crosswalk.tokens_spent),
        "planned": {"by_stream": summary.get("streams") or {}, "persons_from_patients": details.get("persons", 0)},
    }
    audit = crosswalk.audit_rows(run["run_id"])
    document["choices"] = {"history": choices.history(details, document["counts"], audit),
                           "notes_on_appointments": choices.notes_on_appointments(details, audit)}
    document["warnings"] = warnings(run, details, audit, document)
    return document


# -- output ---------------------------------------------------------------------------------------------
def write(document: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = out_dir / "plan.json"
    target.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    target.chmod(0o600)
    html.write_page(out_dir / "plan.html", "Migration plan: Cliniko to Pipedrive", blocks(document),
                    generated_at=document["generated_at"])


def summary_line(document: dict[str, Any], out_dir: Path) -> str:
    est, schema = document["estimate"], document["schema"]
    creates = sum(1 for f in schema["custom_fields"] if f["action"] == "create")
    types = sum(1 for t in schema["activity_types"] if t["action"] == "create")
    return (f"Plan {document['plan_run']}: {sum(c['records'] for c in document['counts'])} Cliniko records; "
            f"{creates} custom field(s) and {types} activity type(s) to create; ~{est['tokens']} API tokens, "
            f"~{est['expected_seconds'] / 60:.1f} min at the rate limits, {est['days']} budget day(s) "
            f"(finish {est['schedule']['finish'] or 'in more than ten years'}); "
            f"{len(document['warnings'])} warning(s). Wrote {out_dir}/plan.json and plan.html.")


def finish_text(plan: dict[str, Any]) -> str:
    top_up = plan["top_up_tokens_for_one_day"]
    return (f"Starting {plan['start']}, it would finish {plan['finish'] or 'in more than ten years'}, spending "
            f"tokens on {plan['budget_days']} budget day(s) (Pipedrive resets the budget at midnight "
            f"{plan['budget_timezone']}; set budget_timezone to your server's). "
            + (f"{top_up} top-up tokens bought on the first day would let the budget finish it that day."
               if top_up else "The first day's budget covers it."))


def blocks(d: dict[str, Any]) -> list[html.Block]:
    est, people, priv = d["estimate"], d["practitioners"], d["privacy"]
    created = [f for f in d["schema"]["custom_fields"] if f["action"] == "create"]
    new_types = [t for t in d["schema"]["activity_types"] if t["action"] == "create"]
    minutes = est["expected_seconds"] / 60
    out: list[html.Block] = [
        html.Paragraph(f"Plan run {d['plan_run']} of {d['map']['file']} (map hash {d['map']['digest']}). "
                       "Nothing was written to Pipedrive."),
        html.Paragraph(f"About {est['tokens']} API tokens ({est['write_tokens']} for "
                       f"{est['pipedrive_write_requests']} writes, {est['read_tokens']} for reads) against a daily "
                       f"budget of {est['daily_token_budget']} ({est['days']} day(s)); about {minutes:.1f} minutes "
                       f"(Pipedrive {est['pipedrive_seconds']} s at {est['rate_limit_burst_per_2s']} requests per 2 s, "
                       f"Cliniko {est['cliniko_seconds']} s for {est['cliniko_requests']} requests at "
                       f"{est['cliniko_requests_per_minute']} a minute)."),
        html.Paragraph(finish_text(est["schedule"])),
        html.Paragraph(choices.history_text(d["choices"]["history"])),
        html.Paragraph(choices.notes_on_appointments_text(d["choices"]["notes_on_appointments"])),
        html.Paragraph(f"Verify checks against Cliniko that every record arrived: {est['verify_cliniko_requests']} "
                       "Cliniko requests (a count per list), and at most "
                       f"{est['verify_cliniko_requests_at_most']} if every count differed (then the ids are listed, "
                       "100 a request)."),
        html.Paragraph(f"To create: {len(created)} custom field(s), {len(new_types)} activity type(s). "
                       f"Practitioners: {len(people['matched'])} matched to a Pipedrive user, "
                       f"{len(people['unmatched'])} not matched.",
                       "warn" if people["unmatched"] else "ok"),
        html.Paragraph(f"{len(d['warnings'])} warning(s).", "warn" if d["warnings"] else "ok"),
    ]
    out.append(html.Table("The same migration on each Pipedrive plan (same seats, same start)", [
        "tier", "daily_token_budget", "rate_limit_burst_per_2s", "budget_days", "finish", "top_up_tokens"],
        est["schedule"]["per_tier"]))
    statuses = sorted({k for r in d["counts"] for k in r} - {"cliniko_object", "records"})
    count_cols = ["cliniko_object", "records", *statuses]
    out.append(html.Table("Records per Cliniko object (what the migration would do with them)", count_cols,
                          d["counts"]))
    out.append(html.BarChart("Records per Cliniko object", {
        r["cliniko_object"]: {k: v for k, v in r.items() if k not in ("cliniko_object", "records")}
        for r in d["counts"]}))
    out.append(html.Table("Custom fields", ["entity", "label", "field_type", "options", "action"],
                          [{**f, "options": ", ".join(f["options"])} for f in d["schema"]["custom_fields"]]))
    out.append(html.Table("Activity types", ["name", "icon_key", "color", "action"], d["schema"]["activity_types"]))
    out.append(html.Table("Existing Pipedrive fields matched by name", ["entity", "label", "field_type",
                          "pipedrive_field", "pipedrive_field_type", "similarity", "verdict"], d["field_matches"]))
    out.append(html.Table("The clinic's own patient custom fields: proposed map", [
        "section", "field", "cliniko_type", "options", "archived", "proposed", "closest_pipedrive_field",
        "similarity"], [{**r, "options": ", ".join(r["options"])} for r in d["clinic_custom_fields"]]))
    out.append(html.Paragraph(f"Practitioners without a Pipedrive user are owned by {people['fallback']}."))
    out.append(html.Table("Practitioners matched to Pipedrive users", ["cliniko_id", "name", "status",
                          "pipedrive_user_id", "pipedrive_user"], people["matched"]))
    out.append(html.Table("Practitioners not matched", ["cliniko_id", "name", "status", "reason", "owner_instead"],
                          people["unmatched"]))
    out.append(html.Paragraph(f"Privacy: exclude_clinical is {'on' if priv['exclude_clinical'] else 'off'}; these "
                              "Cliniko fields leave Cliniko.", "ok" if priv["exclude_clinical"] else "warn"))
    out.append(html.Table("Cliniko fields that leave Cliniko", ["cliniko_object", "becomes", "clinical",
                          "cliniko_fields"], [{**r, "cliniko_fields": ", ".join(r["cliniko_fields"])}
                                              for r in priv["leaving_cliniko"]]))
    out.append(html.Table("Not sent to Pipedrive", ["cliniko_object", "why"], priv["not_sent"]))
    out.append(html.Table("Warnings", ["code", "count", "message", "source_keys"],
                          [{**w, "source_keys": ", ".join(w["source_keys"][:50])} for w in d["warnings"]]))
    return out
