"""verify: the normalisation rules and verdicts, and the diff of a real migration read back over HTTP."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from pd_helpers import base_config, clinic, custom_key, messages, objects, option_id, run_admin, run_inproc

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.pipedrive.client import PipedriveClient
from target_pipedrive.settings import Settings
from target_pipedrive.workflow import normalize as n
from target_pipedrive.workflow import verify
from target_pipedrive.write.kinds import Api

CTX = n.Context(field_names={"k1": "Referral source", "k2": "Concerns", "k3": "Balance", "k4": "History"},
                field_types={"k1": "enum", "k2": "set", "k3": "monetary", "k4": "text"},
                options={"k1": {1: "GP", 2: "Website"}, "k2": {7: "Back", 8: "Neck"}},
                users={5: "sam@clinic.example"}, activity_types={"follow_up": "Follow-up"},
                persons={9: "cliniko:patient:9"})


def verdict(name: str, expected: Any, actual: Any) -> str:
    return n.compare_field(name, expected, actual, CTX).verdict


# -- normalisation and verdicts ----------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected", "actual"), [
    ("phones", [{"value": "+61400000001", "label": "mobile"}], [{"value": "+61 400 000 001", "label": "Mobile",
                                                                 "primary": True}]),
    ("phones", [{"value": "(02) 9000-0000"}], [{"value": "02 9000 0000", "primary": True}]),
    ("emails", [{"value": "Ana@Mail.Example ", "label": "home"}], [{"value": "ana@mail.example", "label": "home"}]),
    ("content", "<p>Pain&nbsp;<b>better</b></p>\n<p>[ref:x]</p>", "<div>Pain better</div><div>[ref:x]</div>"),
    ("note", "Tom &amp; Jerry", "Tom & Jerry"),
    ("name", "Zo\u00eb  Smith", "Zoe\u0308 Smith"),  # NFC vs NFD, doubled space
    ("due_time", "09:30", "09:30:00"),
    ("due_time", "9:30", "09:30:00"),
    ("add_time", "2024-05-01T10:00:00+10:00", "2024-05-01 00:00:00"),  # v1 times are UTC
    ("due_date", "2024-05-01", "2024-05-01T00:00:00Z"),
    ("tax", "12.50", 12.5),
    ("visible_to", 3, "3"),
    ("done", True, 1),
    ("pinned_to_person_flag", "1", True),
    ("custom_fields.k3", {"value": "10.50", "currency": "aud"}, {"value": 10.5, "currency": "AUD"}),
    ("custom_fields.k3", 10.5, {"value": 10.5, "currency": "AUD"}),  # currency compared only when both have one
    ("custom_fields.k1", 1, {"id": 1, "label": "GP"}),
    ("custom_fields.k1", "1", 1),
    ("custom_fields.k2", [8, 7], "7,8"),
    ("custom_fields.k4", "<p>2 invoices</p>", "2 invoices"),
    ("prices", [{"currency": "AUD", "price": "20", "cost": None}], [{"currency": "aud", "price": 20.0, "cost": 0,
                                                                     "product_id": 1}]),
    ("participants", [{"person_id": 9, "primary": True}], [{"person_id": "9", "primary": 1}]),
    ("postal_address", {"value": "1 Main St, Sydney"}, {"value": "1 main st,  sydney", "locality": "Sydney"}),
    ("location", {"formatted_address": "1 Main St"}, {"value": "1 Main St", "formatted_address": None}),
    ("options", [{"id": 1, "label": "GP"}], [{"id": 1, "label": "GP"}, {"id": 3, "label": "Added later"}]),
    ("owner_id", 5, {"id": 5, "email": "sam@clinic.example"}),
    ("name", None, ""),
    ("custom_fields.k2", [], None),
    ("unknown_field", {"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}),
])
def test_values_that_mean_the_same_match(name: str, expected: Any, actual: Any) -> None:
    assert verdict(name, expected, actual) == n.MATCH


@pytest.mark.parametrize(("name", "expected", "actual"), [
    ("phones", [{"value": "0400 000 001"}], [{"value": "+61 400 000 001"}]),  # no country code is invented
    ("phones", [{"value": "+61400000001", "label": "mobile"}], [{"value": "+61400000001", "label": "work"}]),
    ("emails", [{"value": "a@x.example"}, {"value": "b@x.example", "primary": True}],
     [{"value": "a@x.example", "primary": True}, {"value": "b@x.example"}]),  # the primary changed
    ("content", "<p>Pain better</p>", "<p>Pain worse</p>"),
    ("name", "Zo\u00eb", "Zoe"),
    ("name", "Ana", "ana"),  # text keeps case; only e-mails are case-folded
    ("due_time", "09:30", "09:45:00"),
    ("add_time", "2024-05-01T10:00:00+10:00", "2024-05-01 10:00:00"),
    ("tax", "12.50", "12.51"),
    ("tax", "twelve", 12),
    ("done", True, False),
    ("custom_fields.k3", {"value": 10.5, "currency": "AUD"}, {"value": 10.5, "currency": "NZD"}),
    ("custom_fields.k1", 1, 2),
    ("custom_fields.k2", [7], [7, 8]),
    ("participants", [{"person_id": 9, "primary": True}], [{"person_id": 9, "primary": False}]),
    ("options", [{"id": 1, "label": "GP"}, {"id": 2, "label": "Website"}], [{"id": 1, "label": "GP"}]),
    ("name", None, "Someone"),  # we wrote nothing (a clear), Pipedrive has a value
    ("unknown_field", [1, 2], [2, 1]),
])
def test_values_that_differ_are_mismatches(name: str, expected: Any, actual: Any) -> None:
    assert verdict(name, expected, actual) == n.MISMATCH


@pytest.mark.parametrize(("name", "expected", "actual"), [
    ("name", "Ana", None), ("name", "Ana", "  "), ("emails", [{"value": "a@x.example"}], []),
    ("custom_fields.k3", {"value": 0, "currency": "AUD"}, None), ("custom_fields.k2", [7], []),
    ("content", "<p>x</p>", "<p> </p>"), ("done", False, None),
])
def test_a_value_pipedrive_lost_is_missing_in_pipedrive(name: str, expected: Any, actual: Any) -> None:
    assert verdict(name, expected, actual) == n.MISSING


@pytest.mark.parametrize("odd", [None, "", [], {}, 0, -1.5, True, "nan", "Infinity", "\u0000\ud7ff", "<p><b>",
                                 [None, {"value": None}], {"value": {"nested": [1]}}, "1e400", object()])
def test_odd_values_on_either_side_get_a_verdict_never_an_exception(odd: Any) -> None:
    for name in ("name", "phones", "emails", "content", "due_time", "add_time", "tax", "done", "participants",
                 "prices", "postal_address", "options", "owner_id", "custom_fields.k1", "custom_fields.k2",
                 "custom_fields.k3", "custom_fields.k4", "custom_fields.unknown", "unknown_field"):
        for expected, actual in ((odd, "x"), ("x", odd), (odd, odd)):
            result = n.compare_field(name, expected, actual, CTX)
            assert result.verdict in n.VERDICTS and isinstance(result.expected, str) and isinstance(result.actual, str)


def test_ids_are_shown_by_name_and_custom_fields_by_label() -> None:
    enum = n.compare_field("custom_fields.k1", 1, 2, CTX)
    assert (enum.field, enum.expected, enum.actual, enum.verdict) == ("custom_fields.Referral source", "GP",
                                                                      "Website", n.MISMATCH)
    assert n.compare_field("custom_fields.k2", [7, 8], "7,8", CTX).actual == "Back; Neck"
    assert n.compare_field("owner_id", 5, 6, CTX).expected == "sam@clinic.example"
    assert n.compare_field("owner_id", 5, 6, CTX).actual == "6"  # unknown user: the id
    assert n.compare_field("type", "follow_up", "call", CTX).expected == "Follow-up"
    assert n.compare_field("participants", [{"person_id": 9, "primary": True}], None, CTX).expected == \
        "cliniko:patient:9 (primary)"
    gone = n.compare_field("custom_fields.deadbeef", "x", None, CTX)
    assert (gone.field, gone.verdict) == ("custom_fields.deadbeef", n.MISSING)


def test_compare_object_skips_our_bookkeeping_and_reports_a_missing_object_once() -> None:
    image = {"name": "scan.txt", "_sha256": "abc", "custom_fields": {"k1": 1, "k4": "notes"}}
    results = n.compare_object(image, {"name": "scan.txt", "custom_fields": {"k1": 1}}, CTX)
    assert [(r.field, r.verdict) for r in results] == [
        ("name", n.MATCH), ("custom_fields.Referral source", n.MATCH), ("custom_fields.History", n.MISSING)]
    assert [(r.field, r.verdict) for r in n.compare_object(image, None, CTX)] == [("(object)", n.OBJECT_MISSING)]
    adopted = n.compare_object({"_entity": "person"}, {"name": "Follow-up"}, CTX)  # nothing written: exists only
    assert [(r.field, r.expected, r.actual, r.verdict) for r in adopted] == [("(object)", "present", "present",
                                                                               n.MATCH)]


def test_merge_images_keeps_the_last_value_of_each_field_and_custom_field() -> None:
    merged = n.merge_images([{"name": "A", "phones": [1], "custom_fields": {"k1": 1, "k2": [7]}}, None,
                             {"name": "B", "custom_fields": {"k1": 2}}])
    assert merged == {"name": "B", "phones": [1], "custom_fields": {"k1": 2, "k2": [7]}}


def test_summary_counts_per_object_type_and_per_field() -> None:
    row = verify.Row
    rows = [row("persons", "p1", 1, "name", "A", "A", n.MATCH), row("persons", "p1", 1, "phones", "1", "2", n.MISMATCH),
            row("persons", "p2", 2, "name", "B", "B", n.MATCH), row("notes", "n1", 3, "(object)", "present", "",
                                                                   n.OBJECT_MISSING),
            row("activity_types", "t1", 4, "(object)", "present", "present", n.MATCH)]
    summary = verify.summarize(rows)
    assert summary["objects"] == 4 and summary["fields_compared"] == 3 and summary["differences"] == 2
    assert summary["verdicts"] == {n.MATCH: 3, n.MISMATCH: 1, n.MISSING: 0, n.OBJECT_MISSING: 1}
    assert summary["by_object_type"]["activity_types"] == {"objects": 1, "all_match": 1, "with_differences": 0,
                                                           "object_missing": 0, "fields": {}}
    assert summary["by_object_type"]["persons"] == {"objects": 2, "all_match": 1, "with_differences": 1,
                                                    "object_missing": 0, "fields": {n.MATCH: 2, n.MISMATCH: 1}}
    assert summary["by_object_type"]["notes"]["object_missing"] == 1
    assert summary["by_field"] == {"persons.name": {n.MATCH: 2}, "persons.phones": {n.MISMATCH: 1}}


# -- end to end against the Pipedrive sandbox ---------------------------------------------------------
def _differences(out: Path) -> list[dict[str, str]]:
    with (out / "diff.csv").open(encoding="utf-8") as handle:
        return [r for r in csv.DictReader(handle) if r["verdict"] != n.MATCH]


def _person(sb: Any, source_key: str) -> dict[str, Any]:
    key = custom_key(sb, "person", "Cliniko ID")
    return next(p for p in objects(sb, "person") if p["custom_fields"].get(key) == source_key)


def test_verify_finds_nothing_after_a_clean_migration_then_exactly_the_value_changed_behind_its_back(
        pipedrive_sandbox: Any, tmp_path: Path, crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    data = clinic(tmp_path / "files", n_persons=3, n_files=1)
    assert run_inproc(cfg, messages(data)).returncode == 0
    data["persons"][0]["name"] = "Patient 1 Renamed"  # a second run updates: the diff follows the latest write
    data["persons"][0]["custom_fields"]["Referral source"] = "Friend"
    assert run_inproc(cfg, messages(data)).returncode == 0
    out = tmp_path / "verify"

    clean = run_admin(cfg, ["verify", "--out-dir", str(out)], tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    document = json.loads((out / "diff.json").read_text(encoding="utf-8"))
    expected_objects = sum(len(v) for v in data.values()) + 2  # + the external-id fields the target made
    assert document["summary"]["objects"] == expected_objects
    assert document["summary"]["differences"] == 0 and _differences(out) == []
    assert f"{expected_objects} objects" in clean.stdout
    rows = {(r["source_key"], r["field"]): r for r in document["rows"]}
    renamed = rows[("cliniko:patient:1", "name")]
    assert (renamed["cliniko_value"], renamed["pipedrive_value"]) == ("Patient 1 Renamed", "Patient 1 Renamed")
    assert rows[("cliniko:patient:1", "custom_fields.Referral source")]["cliniko_value"] == "Friend"
    assert rows[("cliniko:patient:2", "phones")]["cliniko_value"] == "+61400000002 (mobile, primary)"
    fields = document["summary"]["by_field"]
    assert fields["persons.custom_fields.Concerns"] == {n.MATCH: 3} and fields["notes.content"] == {n.MATCH: 3}
    for name in ("diff.csv", "diff.json", "diff.html"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    assert "everything matches" in (out / "diff.html").read_text(encoding="utf-8")

    # Pipedrive reformats a phone and re-serialises a note: same meaning, still no difference
    person2 = _person(sb, "cliniko:patient:2")
    sb.admin("PATCH", f"objects/person/{person2['id']}", {"phones": [
        {"value": "+61 400 000 002", "label": "mobile", "primary": True}]})
    note = next(x for x in objects(sb, "note") if "[ref:cliniko:treatment_note:3]" in x["content"])
    sb.admin("PATCH", f"objects/note/{note['id']}", {"content": "<div>Treatment note 3</div>"
                                                                "<div>[ref:cliniko:treatment_note:3]</div>"})
    assert run_admin(cfg, ["verify", "--out-dir", str(out)], tmp_path).returncode == 0

    # someone edits one field of one person through the API: exactly that mismatch, shown by label
    referral = custom_key(sb, "person", "Referral source")
    edited = sb.request("PATCH", f"/api/v2/persons/{person2['id']}",
                        json={"custom_fields": {referral: option_id(sb, "person", "Referral source", "GP")}})
    assert edited.status_code == 200
    changed = run_admin(cfg, ["verify", "--out-dir", str(out)], tmp_path)
    assert changed.returncode == 1
    assert _differences(out) == [{"stream": "persons", "source_key": "cliniko:patient:2",
                                  "pipedrive_id": str(person2["id"]), "field": "custom_fields.Referral source",
                                  "cliniko_value": "Friend", "pipedrive_value": "GP", "verdict": n.MISMATCH}]
    message = changed.stderr.strip()
    assert message == (f"Verify found 1 difference(s) between Pipedrive and the migration in {expected_objects} "
                       f"objects (persons 1); see {out}/diff.csv, diff.json and diff.html."), message
    assert "Friend" not in changed.stdout + changed.stderr and "Patient" not in changed.stdout + changed.stderr
    document = json.loads((out / "diff.json").read_text(encoding="utf-8"))
    assert document["summary"]["by_object_type"]["persons"]["with_differences"] == 1
    assert document["summary"]["by_field"]["persons.custom_fields.Referral source"] == {n.MATCH: 2, n.MISMATCH: 1}
    page = (out / "diff.html").read_text(encoding="utf-8")
    assert "1 difference(s)" in page and "cliniko:patient:2" in page

    # an object deleted in Pipedrive: one object_missing row for it, nothing else new
    activity = next(a for a in objects(sb, "activity") if "[ref:cliniko:appointment:3-1]" in a["note"])
    assert sb.request("DELETE", f"/api/v2/activities/{activity['id']}").status_code == 200
    gone = run_admin(cfg, ["verify", "--out-dir", str(out)], tmp_path)
    assert gone.returncode == 1 and "2 difference(s)" in gone.stderr and "activities 1" in gone.stderr
    assert [(r["stream"], r["source_key"], r["field"], r["verdict"]) for r in _differences(out)] == [
        ("persons", "cliniko:patient:2", "custom_fields.Referral source", n.MISMATCH),
        ("activities", "cliniko:appointment:3-1", "(object)", n.OBJECT_MISSING)]


def test_bulk_listing_and_reading_one_by_one_give_the_same_diff(pipedrive_sandbox: Any, tmp_path: Path,
                                                                crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    data = clinic(tmp_path / "files", n_persons=3, n_files=2)
    assert run_inproc(cfg, messages(data)).returncode == 0
    person = _person(sb, "cliniko:patient:3")
    sb.admin("PATCH", f"objects/person/{person['id']}", {"emails": [{"value": "other@mail.example",
                                                                     "label": "home", "primary": True}]})
    note = next(x for x in objects(sb, "note") if "[ref:cliniko:treatment_note:1]" in x["content"])
    assert sb.request("DELETE", f"/api/v1/notes/{note['id']}").status_code == 200
    settings = Settings.from_config(cfg)
    crosswalk = Crosswalk(settings.crosswalk_url)
    results = []
    for threshold in (verify.BULK_THRESHOLD, 1):
        client = PipedriveClient.from_settings(settings, lambda day: 0, None)
        rows, summary = verify.run(crosswalk, Api(client, dry_run=True), bulk_threshold=threshold)
        results.append((rows, summary, client.stats.requests, client.stats.writes))
    crosswalk.close()
    (one_by_one, summary, requests_each, writes_each), (listed, _, requests_listed, writes_listed) = results
    assert one_by_one == listed
    assert [(r.source_key, r.field, r.verdict) for r in one_by_one if r.verdict != n.MATCH] == [
        ("cliniko:patient:3", "emails", n.MISMATCH), ("cliniko:treatment_note:1", "(object)", n.OBJECT_MISSING)]
    assert summary["by_object_type"]["notes"] == {"objects": 3, "all_match": 2, "with_differences": 0,
                                                  "object_missing": 1, "fields": {n.MATCH: 6}}
    assert requests_listed < requests_each and writes_each == writes_listed == 0


def test_verify_of_one_run_checks_only_what_that_run_wrote(pipedrive_sandbox: Any, tmp_path: Path,
                                                           crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    # the clinic already has patient 2 (same e-mail): the migration adopts it and writes only what differs
    sb.request("POST", "/api/v2/persons", json={"name": "Patient 2 Example", "emails": [
        {"value": "patient2@mail.example", "label": "home"}], "phones": [{"value": "+61 2 0000 0000"}]})
    data = clinic(tmp_path / "files", n_persons=2, n_files=0)
    first = run_inproc(cfg, messages(data))
    assert "persons: created 1, matched 1" in first.stderr
    first_run = first.stderr.split("Run ")[1].split(":")[0]
    data["persons"].append({"source_key": "cliniko:patient:77", "name": "Late Arrival",
                            "emails": [{"value": "LATE@mail.example", "label": "home"}]})
    assert run_inproc(cfg, messages({"persons": data["persons"]})).returncode == 0
    crosswalk = Crosswalk(cfg["crosswalk_url"])
    second_run = crosswalk.runs()[-1]["run_id"]
    crosswalk.close()
    out = tmp_path / "verify"
    only = run_admin(cfg, ["verify", "--run", second_run, "--out-dir", str(out)], tmp_path)
    assert only.returncode == 0, only.stderr
    document = json.loads((out / "diff.json").read_text(encoding="utf-8"))
    assert document["run_id"] == second_run and document["summary"]["objects"] == 1
    assert {r["source_key"] for r in document["rows"]} == {"cliniko:patient:77"}
    whole = run_admin(cfg, ["verify", "--run", first_run, "--out-dir", str(out)], tmp_path)
    assert whole.returncode == 0, whole.stderr
    document = json.loads((out / "diff.json").read_text(encoding="utf-8"))
    assert document["summary"]["objects"] > 10 and document["summary"]["differences"] == 0
    adopted = {r["field"] for r in document["rows"] if r["source_key"] == "cliniko:patient:2"}
    assert {"phones", "custom_fields.Referral source"} <= adopted and "emails" not in adopted  # already equal


def test_verify_config_errors_exit_2_with_one_sentence(pipedrive_sandbox: Any, tmp_path: Path) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path)
    empty = run_admin(cfg, ["verify", "--out-dir", str(tmp_path / "empty")], tmp_path)
    assert empty.returncode == 0 and "holds no migrated record" in empty.stdout, empty.stderr
    assert (tmp_path / "empty" / "diff.csv").read_text().splitlines() == [",".join(verify.COLUMNS)]
    person = {"source_key": "cliniko:patient:1", "name": "Solo Patient"}
    assert run_inproc(cfg, messages({"persons": [person]})).returncode == 0
    unknown = run_admin(cfg, ["verify", "--run", "no-such-run", "--out-dir", str(tmp_path / "v")], tmp_path)
    assert unknown.returncode == 2 and "unknown run id: no-such-run" in unknown.stderr
    assert "Traceback" not in unknown.stderr and not (tmp_path / "v").exists()
    no_token = {k: v for k, v in cfg.items() if k != "api_token"}
    missing = run_admin(no_token, ["verify", "--out-dir", str(tmp_path / "v")], tmp_path)
    assert missing.returncode == 2 and "api_token" in missing.stderr and "Traceback" not in missing.stderr
    refused = run_admin({**cfg, "api_token": "wrong-token"}, ["verify", "--out-dir", str(tmp_path / "v")], tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "wrong-token" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
