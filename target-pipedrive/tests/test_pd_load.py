"""End-to-end loads against the Pipedrive sandbox over real HTTP: values, idempotency, plan mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pd_helpers import (
    assert_exact_clinic,
    base_config,
    clinic,
    custom_key,
    messages,
    objects,
    option_id,
    run_admin,
    run_inproc,
    snapshot,
)

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.pipedrive.pacing import server_day

USERS = {"sam": "sam.taylor@sandbox-clinic.example", "jordan": "jordan.lee@sandbox-clinic.example",
         "desk": "frontdesk@sandbox-clinic.example"}


def user_id(sandbox: Any, email: str) -> int:
    return next(u["id"] for u in objects(sandbox, "user") if u["email"] == email)


def by_ext(sandbox: Any, kind: str, entity: str) -> dict[str, dict[str, Any]]:
    key = custom_key(sandbox, entity, "Cliniko ID")
    return {o["custom_fields"][key]: o for o in objects(sandbox, kind)}


def test_load_creates_exactly_the_expected_objects_with_their_values(pipedrive_sandbox_factory: Any,
                                                                     pipedrive_spec_validator: Any,
                                                                     tmp_path: Path) -> None:
    data = clinic(tmp_path / "files")
    keys = []
    for n, seed in enumerate(("account-one", "account-two")):
        sb = pipedrive_sandbox_factory(seed_value=seed)
        # a decoy with a similar label: resolution must be by exact label, not by position or prefix
        sb.request("POST", "/api/v1/personFields", json={"name": "Date of birth (old)", "field_type": "date"})
        before = sb.admin("GET", "usage")["tokens_today"]
        cfg = base_config(sb, tmp_path / f"a{n}")
        run = run_inproc(cfg, messages(data, state_every=5))
        assert run.returncode == 0, run.stderr
        # every request the target sent is priced as Pipedrive prices it (a plan's estimate relies on it)
        crosswalk = Crosswalk(cfg["crosswalk_url"])
        assert crosswalk.tokens_spent(server_day()) == sb.admin("GET", "usage")["tokens_today"] - before
        crosswalk.close()
        assert_exact_clinic(sb, data)
        keys.append(custom_key(sb, "person", "Date of birth"))
        _check_values(sb, data)
        # STATE: every input STATE relayed once, in order, the last one last
        assert [s["bookmarks"]["n"] for s in run.states] == [5, 10, 15, 20, 25, 28]
    assert keys[0] != keys[1]  # random keys per account, resolved by label on both
    pipedrive_spec_validator.assert_clean()


def _check_values(sb: Any, data: dict[str, list[dict[str, Any]]]) -> None:
    persons = by_ext(sb, "person", "person")
    cf = {label: custom_key(sb, "person", label) for label in
          ("Date of birth", "Referral source", "Concerns", "Outstanding balance", "Invoice history")}
    for rec in data["persons"]:
        p = persons[rec["source_key"]]
        i = int(rec["source_key"].rsplit(":", 1)[1])
        assert p["name"] == rec["name"]
        assert p["emails"] == [{"value": f"patient{i}@mail.example", "primary": True, "label": "home"}]
        assert p["phones"] == [{"value": f"+6140000{i:04d}", "primary": True, "label": "mobile"}]
        assert p["add_time"] == "2021-03-04T05:06:07Z"
        assert p["owner_id"] == user_id(sb, USERS["sam"] if i % 2 else USERS["desk"])  # unknown owner -> fallback
        c = p["custom_fields"]
        assert c[cf["Date of birth"]] == rec["custom_fields"]["Date of birth"]
        assert c[cf["Referral source"]] == option_id(sb, "person", "Referral source",
                                                     rec["custom_fields"]["Referral source"])
        assert sorted(c[cf["Concerns"]]) == sorted(option_id(sb, "person", "Concerns", o)
                                                   for o in rec["custom_fields"]["Concerns"])
        assert c[cf["Outstanding balance"]] == {"value": 10.5 * i, "currency": "AUD"}
        assert c[cf["Invoice history"]] == f"{i} invoices"
    types = {t["name"]: t for t in objects(sb, "activity_type")}
    assert types["Initial consultation"]["icon_key"] == "meeting" and types["Follow-up"]["color"] == "00FF00"
    activities = objects(sb, "activity")
    for rec in data["activities"]:
        a = next(x for x in activities if f"[ref:{rec['source_key']}]" in x["note"])
        person_id = persons[rec["person_source_key"]]["id"]
        assert (a["subject"], a["type"], a["due_date"], a["due_time"], a["duration"], a["done"]) == (
            rec["subject"], types[rec["type"]]["key_string"], rec["due_date"], "09:30:00", "00:45:00", rec["done"])
        assert a["participants"] == [{"person_id": person_id, "primary": True}] and a["person_id"] == person_id
        assert a["owner_id"] == user_id(sb, USERS["jordan"]) and "<p>Booked online</p>" in a["note"]
    notes = objects(sb, "note")
    for rec in data["notes"]:
        n = next(x for x in notes if f"[ref:{rec['source_key']}]" in x["content"])
        assert n["person_id"] == persons[rec["person_source_key"]]["id"]
        assert n["add_time"] == "2024-05-01 00:00:00" and rec["content"] in n["content"]
        assert bool(n["pinned_to_person_flag"]) is bool(rec["pinned"])
    products = by_ext(sb, "product", "product")
    group = custom_key(sb, "product", "Item group")
    for rec in data["products"]:
        p = products[rec["source_key"]]
        assert (p["name"], p["code"], p["custom_fields"][group]) == (rec["name"], rec["code"], "Retail")
        assert [(x["currency"], x["price"]) for x in p["prices"]] == [("AUD", rec["prices"][0]["price"])]
    blobs = sb.admin("GET", "snapshot")["blobs"]
    for rec in data["files"]:
        f = next(x for x in objects(sb, "file") if x["name"] == rec["file_name"])
        assert f["person_id"] == persons[rec["person_source_key"]]["id"]
        assert blobs[f"file:{f['id']}"]["sha256"] == rec["sha256"]
    referral = next(f for f in objects(sb, "fields") if f["name"] == "Referral source")
    assert [o["label"] for o in referral["options"]] == ["GP", "Website", "Friend"]


def test_rerun_sends_nothing_and_one_changed_record_sends_one_update(pipedrive_sandbox: Any, tmp_path: Path,
                                                                     crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    data = clinic(tmp_path / "files")
    assert run_inproc(cfg, messages(data)).returncode == 0
    before = sb.admin("GET", "usage")
    again = run_inproc(cfg, messages(data))
    assert again.returncode == 0 and "unchanged 4" in again.stderr
    after = sb.admin("GET", "usage")
    # hashes matched: one call only, the check that the crosswalk belongs to this Pipedrive company
    assert after["requests"] == before["requests"] + 1
    assert after["by_operation"]["GET /v1/users/me"]["count"] == before["by_operation"]["GET /v1/users/me"]["count"] + 1
    data["persons"][1]["custom_fields"]["Invoice history"] = "7 invoices"
    changed = run_inproc(cfg, messages(data))
    assert changed.returncode == 0
    after = sb.admin("GET", "usage")
    new_ops = {op: v["count"] - before["by_operation"].get(op, {"count": 0})["count"]
               for op, v in after["by_operation"].items()}
    writes = {op: n for op, n in new_ops.items() if n and not op.startswith("GET")}
    assert writes == {"PATCH /v2/persons/{id}": 1}
    person = by_ext(sb, "person", "person")["cliniko:patient:2"]
    assert person["custom_fields"][custom_key(sb, "person", "Invoice history")] == "7 invoices"
    assert_exact_clinic(sb, data)


def ops_since(sb: Any, before: dict[str, Any]) -> dict[str, int]:
    after = sb.admin("GET", "usage")["by_operation"]
    return {op: v["count"] - before.get(op, {"count": 0})["count"] for op, v in after.items()
            if v["count"] > before.get(op, {"count": 0})["count"]}


def test_an_update_of_a_person_this_run_wrote_is_not_read_back_but_one_from_an_earlier_run_is(
        pipedrive_sandbox: Any, tmp_path: Path, crosswalk_url: str) -> None:
    """A rollup arrives as the person's record again: this run's create says what Pipedrive holds (a GET
    would spend a token). A person written by an earlier run may have been edited since: it is read."""
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    data = clinic(tmp_path / "files")
    rolled = {**data["persons"][0], "custom_fields": {**data["persons"][0]["custom_fields"],
                                                      "Invoice history": "9 invoices"}}
    same = dict(data["persons"][1])  # its rollup changed nothing: no PATCH either
    before = sb.admin("GET", "usage")["by_operation"]
    run = run_inproc(cfg, messages({**data, "persons": [*data["persons"], rolled, same]}))
    assert run.returncode == 0, run.stderr
    ops = ops_since(sb, before)
    assert ops["POST /v2/persons"] == 4 and ops["PATCH /v2/persons/{id}"] == 1, ops
    assert "GET /v2/persons/{id}" not in ops, ops
    history = custom_key(sb, "person", "Invoice history")
    person = by_ext(sb, "person", "person")["cliniko:patient:1"]
    assert person["custom_fields"][history] == "9 invoices"

    # someone edits the person in Pipedrive; the next run's change is diffed against Pipedrive, not our memory
    sb.request("PATCH", f"/api/v2/persons/{person['id']}", json={"custom_fields": {history: "edited by hand"}})
    before = sb.admin("GET", "usage")["by_operation"]
    rolled["custom_fields"]["Invoice history"] = "9 invoices"  # unchanged from what we wrote, but not from Pipedrive
    rolled["name"] = "Renamed Patient"
    run = run_inproc(cfg, messages({**data, "persons": [*data["persons"][1:], rolled]}))
    assert run.returncode == 0, run.stderr
    ops = ops_since(sb, before)
    assert ops["GET /v2/persons/{id}"] == 1 and ops["PATCH /v2/persons/{id}"] == 1, ops
    person = by_ext(sb, "person", "person")["cliniko:patient:1"]
    assert (person["name"], person["custom_fields"][history]) == ("Renamed Patient", "9 invoices")


def test_plan_mode_writes_nothing_and_reports_what_apply_would_do(pipedrive_sandbox: Any, pipedrive_spec_validator: Any,
                                                                 tmp_path: Path, crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    data = clinic(tmp_path / "files")
    initial = snapshot(sb)
    plan = run_inproc({**cfg, "mode": "plan"}, messages(data, state_every=4))
    assert plan.returncode == 0, plan.stderr
    assert snapshot(sb) == initial
    assert plan.states == []  # a plan must not move Meltano's bookmarks
    assert "PLAN (nothing was written to Pipedrive)" in plan.stderr
    for line in ("persons: created 4", "activities: created 8", "notes: created 4", "files: created 2",
                 "custom_fields: created 8", "activity_types: created 2"):
        assert line in plan.stderr
    assert "would send 30 write requests" in plan.stderr
    run_id = plan.stderr.split("PLAN (nothing was written to Pipedrive) ")[1].split(":")[0]
    report = run_admin(cfg, ["report", "--run", run_id, "--out-dir", str(tmp_path / "plan-report")], tmp_path)
    assert report.returncode == 0 and "planned 30" in report.stdout
    # the plan left the crosswalk alone: apply still creates everything
    apply = run_inproc(cfg, messages(data))
    assert apply.returncode == 0 and "persons: created 4" in apply.stderr
    assert_exact_clinic(sb, data)
    replan = run_inproc({**cfg, "mode": "plan"}, messages(data))
    assert "persons: unchanged 4" in replan.stderr and "would send 0 write requests" in replan.stderr
    pipedrive_spec_validator.assert_clean()


def test_children_wait_for_their_parent_and_are_reported_until_it_comes(pipedrive_sandbox: Any,
                                                                        tmp_path: Path) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path)
    data = clinic(tmp_path / "files", n_persons=2, n_files=1)
    reordered = {"custom_fields": data["custom_fields"], "activity_types": data["activity_types"],
                 "notes": data["notes"], "activities": data["activities"], "persons": data["persons"],
                 "files": data["files"], "products": data["products"]}
    run = run_inproc(cfg, messages(reordered))  # children first: held, then released by their person
    assert run.returncode == 0, run.stderr
    assert_exact_clinic(sb, data)
    orphan = {"source_key": "cliniko:treatment_note:99", "content": "<p>x</p>",
              "person_source_key": "cliniko:patient:99"}
    held = run_inproc(cfg, messages({"notes": [orphan]}))
    assert held.returncode == 1 and "HELD 1 record(s)" in held.stderr
    report = run_admin(cfg, ["report", "--out-dir", str(tmp_path / "r")], tmp_path)
    assert "held 1" in report.stdout
    assert "waiting for persons:cliniko:patient:99" in (tmp_path / "r" / "audit.csv").read_text()
    parent = {**data["persons"][0], "source_key": "cliniko:patient:99", "name": "Late Parent",
              "emails": [{"value": "late@mail.example"}]}
    late = run_inproc(cfg, messages({"persons": [parent]}))
    assert late.returncode == 0, late.stderr
    note = next(n for n in objects(sb, "note") if "[ref:cliniko:treatment_note:99]" in n["content"])
    assert note["person_id"] == next(p["id"] for p in objects(sb, "person") if p["name"] == "Late Parent")


def test_existing_persons_are_matched_by_external_id_then_email_and_ambiguity_is_reported(
        pipedrive_sandbox: Any, tmp_path: Path) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path)
    field = sb.request("POST", "/api/v1/personFields", json={"name": "Cliniko ID", "field_type": "varchar"}).json()
    ext = field["data"]["key"]

    def person(name: str, email: str, **custom: Any) -> int:
        body = {"name": name, "emails": [{"value": email}], "custom_fields": custom}
        return sb.request("POST", "/api/v2/persons", json=body).json()["data"]["id"]

    by_ext_id = person("Old Name", "other@x.example", **{ext: "cliniko:patient:1"})
    by_email = person("Patient 2 Example", "PATIENT2@mail.example")
    twin_a = person("Patient 3 Example", "patient3@mail.example")
    twin_b = person("Patient 3 Example", "patient3@mail.example")
    family = person("Parent Of Four", "patient4@mail.example")  # same e-mail, another name: not the same person
    data = clinic(tmp_path / "files", n_persons=4)
    only = {"custom_fields": data["custom_fields"], "persons": data["persons"]}
    run = run_inproc(cfg, messages(only))
    assert run.returncode == 1
    assert "ambiguous_match 1" in run.stderr and "matched 2" in run.stderr
    live = {p["id"]: p for p in objects(sb, "person")}
    assert live[by_ext_id]["name"] == "Patient 1 Example"  # adopted and updated
    assert live[by_email]["custom_fields"][ext] == "cliniko:patient:2"
    assert not live[twin_a]["custom_fields"].get(ext) and not live[twin_b]["custom_fields"].get(ext)
    assert live[family]["name"] == "Parent Of Four"
    assert len(live) == 6  # five pre-existing + patient 4; no duplicate of 1, 2 or 3
    report = run_admin(cfg, ["report", "--out-dir", str(tmp_path / "r")], tmp_path)
    csv_text = (tmp_path / "r" / "audit.csv").read_text()
    assert "cliniko:patient:3,failed,,,ambiguous_match" in csv_text and "email_shared" in csv_text
    assert report.returncode == 0


def test_a_lost_crosswalk_does_not_duplicate_anything(pipedrive_sandbox: Any, tmp_path: Path) -> None:
    sb = pipedrive_sandbox
    data = clinic(tmp_path / "files")
    assert run_inproc(base_config(sb, tmp_path / "first"), messages(data)).returncode == 0
    fresh = run_inproc(base_config(sb, tmp_path / "second"), messages(data))  # an empty crosswalk
    assert fresh.returncode == 0, fresh.stderr
    assert "created" not in fresh.stderr.split("Run ")[1]  # everything adopted: external ids, markers, names
    assert "persons: matched 4" in fresh.stderr and "notes: matched 4" in fresh.stderr
    assert_exact_clinic(sb, data)
