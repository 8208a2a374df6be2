"""Bad input, bad config and rejected records: audited, clear, non-zero, and nothing leaks (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pd_helpers import (
    base_config,
    clinic,
    messages,
    objects,
    run_admin,
    run_target,
    schema,
    to_text,
)

SECRET_NAME = "Zebedee Quixotic-Secretname"
SECRET_EMAIL = "zebedee.secret@private.example"


def test_failed_records_are_audited_the_run_continues_and_exits_non_zero(pipedrive_sandbox: Any,
                                                                        tmp_path: Path) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path)
    data = clinic(tmp_path / "files", n_persons=2, n_files=1)
    bad = [
        {"source_key": "bad:no-name", "emails": [{"value": SECRET_EMAIL}]},  # contract: name missing
        {"source_key": "bad:hex", "name": SECRET_NAME, "custom_fields": {"0" * 40: "x"}},  # a key, not a label
        {"source_key": "bad:option", "name": SECRET_NAME, "emails": [{"value": SECRET_EMAIL}],
         "custom_fields": {"Referral source": "Carrier pigeon"}},  # no such option
        {"source_key": "bad:field", "name": SECRET_NAME, "custom_fields": {"Shoe size": "44"}},  # no such field
        {"source_key": "bad:api", "name": SECRET_NAME, "visible_to": 1,
         "custom_fields": {"Date of birth": "1990-02-30"}},  # Pipedrive rejects the date
    ]
    data["persons"] = data["persons"][:1] + bad + data["persons"][1:]
    data["files"].append({**data["files"][0], "source_key": "bad:file", "sha256": "0" * 64})
    run = run_target(cfg, messages(data, state_every=2), tmp_path)
    assert run.returncode == 1
    assert "FAILED 6 record(s)" in run.stderr
    for code in ("invalid_record 2", "unknown_option 1", "unknown_field 1", "ERR_SCHEMA_VALIDATION_FAILED 1",
                 "checksum_mismatch 1"):
        assert code in run.stderr, code
    assert SECRET_NAME not in run.stderr and SECRET_EMAIL not in run.stderr and "Carrier" not in run.stderr
    assert sb.api_token not in run.stderr and sb.api_token not in run.stdout
    # the good records all landed, and STATE kept flowing past the failures
    assert len(objects(sb, "person")) == 2 and len(objects(sb, "file")) == 1
    assert run.states[-1]["bookmarks"]["done"] is True
    report = run_admin(cfg, ["report", "--out-dir", str(tmp_path / "r")], tmp_path)
    assert report.returncode == 0
    document = json.loads((tmp_path / "r" / "audit.json").read_text())
    rows = {r["source_key"]: r for r in document["records"]}
    assert rows["bad:no-name"]["error_code"] == "invalid_record"
    assert "missing required property name" in rows["bad:no-name"]["message"]
    assert rows["bad:option"]["error_code"] == "unknown_option" and rows["bad:file"]["error_code"] == \
        "checksum_mismatch"
    assert rows["bad:api"]["error_code"] == "ERR_SCHEMA_VALIDATION_FAILED"
    assert rows["cliniko:patient:1"]["status"] == "migrated" and rows["cliniko:patient:1"]["pipedrive_id"]
    assert document["counts"]["failed"] == 6
    csv_text = (tmp_path / "r" / "audit.csv").read_text()
    assert SECRET_NAME not in csv_text and SECRET_EMAIL not in csv_text
    # a fixed record succeeds on the next run; the report then shows it migrated
    data["persons"] = [p for p in data["persons"] if p["source_key"] != "bad:option"] + [
        {"source_key": "bad:option", "name": SECRET_NAME, "custom_fields": {"Referral source": "GP"}}]
    run_target(cfg, messages(data), tmp_path)
    run_admin(cfg, ["report", "--out-dir", str(tmp_path / "r2")], tmp_path)
    fixed = {r["source_key"]: r for r in json.loads((tmp_path / "r2" / "audit.json").read_text())["records"]}
    assert fixed["bad:option"]["status"] == "migrated"


def test_config_and_input_errors_end_with_one_clear_sentence(pipedrive_sandbox: Any, tmp_path: Path) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path)
    persons = messages({"persons": [{"source_key": "p1", "name": "A"}]})
    insecure = run_target({**cfg, "base_url": "http://pipedrive.example.com"}, persons, tmp_path)
    assert insecure.returncode != 0
    assert "base_url must use https://" in insecure.stderr
    wrong_token = run_target({**cfg, "api_token": "not-the-token"}, persons, tmp_path)
    assert wrong_token.returncode == 2
    assert "Pipedrive rejected the API token (HTTP 401)" in wrong_token.stderr
    assert "Traceback" not in wrong_token.stderr and "not-the-token" not in wrong_token.stderr
    unknown = run_target(cfg, [schema("leads")], tmp_path)
    assert unknown.returncode == 2
    assert "Stream 'leads' is not part of the input contract" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    ignored = run_target({**cfg, "ignore_unknown_streams": True}, [schema("leads")], tmp_path)
    assert ignored.returncode == 0
    # a Cliniko stream goes through the map, which must be confirmed before anything is written
    unconfirmed = run_target(cfg, [schema("patients")], tmp_path)
    assert unconfirmed.returncode == 2
    assert "is not confirmed, so nothing was written" in unconfirmed.stderr
    assert "confirm-map" in unconfirmed.stderr and "Traceback" not in unconfirmed.stderr


def test_admin_commands_refuse_bad_arguments(pipedrive_sandbox: Any, tmp_path: Path) -> None:
    cfg = base_config(pipedrive_sandbox, tmp_path)
    assert run_target(cfg, messages({"persons": [{"source_key": "p1", "name": "A"}]}), tmp_path).returncode == 0
    neither = run_admin(cfg, ["rollback"], tmp_path)
    assert neither.returncode == 2 and "either --run" in neither.stderr
    unknown = run_admin(cfg, ["rollback", "--run", "no-such-run"], tmp_path)
    assert unknown.returncode == 2 and "unknown run id" in unknown.stderr
    runs = run_admin(cfg, ["runs"], tmp_path)
    assert runs.returncode == 0 and " apply " in runs.stdout


@pytest.mark.parametrize(("broken", "says"), [
    (lambda line: line[: len(line) // 2] + "\n", "is not valid JSON"),  # cut off mid-record
    (lambda line: json.dumps({"type": "RECORD", "record": json.loads(line)["record"]}) + "\n",
     "is a Singer message without its stream"),
    (lambda line: json.dumps([json.loads(line)["record"]["name"]]) + "\n", "is not a Singer message"),
    (lambda line: json.dumps({**json.loads(line), "record": {k: v for k, v in json.loads(line)["record"].items()
                                                            if k != "source_key"}}) + "\n",
     "is a RECORD without its stream's key properties"),
])
def test_a_broken_input_line_ends_the_run_without_quoting_it_and_keeps_what_came_before(
        pipedrive_sandbox: Any, tmp_path: Path, broken: Any, says: str) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path)
    secret = {"source_key": "p2", "name": SECRET_NAME, "emails": [{"value": SECRET_EMAIL}]}
    lines = to_text(messages({"persons": [{"source_key": "p1", "name": "Before Break"}, secret,
                                          {"source_key": "p3", "name": "After Break"}]})).splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if SECRET_NAME in line)
    run = run_target(cfg, "".join(lines[:at]) + broken(lines[at]) + "".join(lines[at + 1:]), tmp_path)
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"input line {at + 1} {says}" in run.stderr, run.stderr[-500:]
    assert "Traceback" not in run.stderr and SECRET_NAME not in run.stderr and SECRET_EMAIL not in run.stderr
    assert [p["name"] for p in objects(sb, "person")] == ["Before Break"]  # written before the break; nothing after


def test_a_lone_surrogate_escape_fails_its_record_only(pipedrive_sandbox: Any, tmp_path: Path) -> None:
    """The fast parser refuses `\\ud800`; the line is read again by the json module, so the contract check
    fails that record alone (as before) instead of the run."""
    sb = pipedrive_sandbox
    text = to_text(messages({"persons": [{"source_key": "p1", "name": "Broken \ud800 text"},
                                         {"source_key": "p2", "name": "Fine"}]}))
    assert "\\ud800" in text
    run = run_target(base_config(sb, tmp_path), text, tmp_path)
    assert run.returncode == 1, run.stderr[-2000:]
    assert [p["name"] for p in objects(sb, "person")] == ["Fine"]


def test_the_report_tells_a_child_held_for_a_failed_person_from_one_whose_person_never_came(
        pipedrive_sandbox: Any, tmp_path: Path) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path)
    failed_person = {"source_key": "cliniko:patient:9", "emails": [{"value": SECRET_EMAIL}]}  # no name: fails
    notes = [{"source_key": "note:of-failed", "content": "<p>a</p>", "person_source_key": "cliniko:patient:9"},
             {"source_key": "note:of-absent", "content": "<p>b</p>", "person_source_key": "cliniko:patient:77"}]
    run = run_target(cfg, messages({"persons": [failed_person], "notes": notes}), tmp_path)
    assert run.returncode == 1, run.stderr[-2000:]
    for args, folder in (([], "now"), (["--run", _last_run(cfg)], "run")):
        assert run_admin(cfg, ["report", "--out-dir", str(tmp_path / folder), *args], tmp_path).returncode == 0
        rows = {r["source_key"]: r for r in json.loads((tmp_path / folder / "audit.json").read_text())["records"]}
        assert (rows["note:of-failed"]["status"], rows["note:of-failed"]["error_code"]) == ("held", "parent_failed")
        assert (rows["note:of-absent"]["status"], rows["note:of-absent"]["error_code"]) == ("held", "parent_missing")


def _last_run(cfg: dict[str, Any]) -> str:
    import sqlite3

    with sqlite3.connect(cfg["crosswalk_url"].removeprefix("sqlite:///")) as db:
        return str(db.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0])


def test_a_config_file_removed_before_it_is_read_is_one_sentence(tmp_path: Path) -> None:
    """Meltano removes a run's config files when it stops the run; stopped while the target starts, the file
    can be gone before the target reads it."""
    gone = tmp_path / "target.0123.config.json"
    run = subprocess.run([sys.executable, "-c", "from target_pipedrive.entry import target; target()",
                          "--config", str(gone)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip() == (f"target-pipedrive: its config file {gone} was removed before it was read (a run "
                                  "stopped while it started); nothing was read or written.")
