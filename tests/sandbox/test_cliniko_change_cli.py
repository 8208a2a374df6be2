"""`python -m sandbox cliniko change ...` against a running Cliniko sandbox: every action changes
what the API then serves (updated_at moved, so a tap reads it as a delta), and bad input (unknown
resource, record or field, malformed values, the wrong URL, no sandbox running) is one sentence on
stderr and a non-zero exit. Most calls run `main()` in this process (the sandbox is a real HTTP
server on loopback either way); a few run the real command to prove the process boundary."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from sandbox.__main__ import main


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def change(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = main(["cliniko", "change", "--url", url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_sentence(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and lines[0].endswith("."), lines[0]
    assert "Traceback" not in err
    return lines[0]


def first(sandbox: Any, resource: str, **where: Any) -> dict[str, Any]:
    rows = sandbox.admin("GET", f"records/{resource}")[resource]
    return next(r for r in rows if all(r.get(k) == v for k, v in where.items()))


def test_edit_sets_text_and_json_values_and_moves_updated_at(capsys, cliniko_sandbox) -> None:
    patient = first(cliniko_sandbox, "patients", deleted_at=None)
    before = _now()
    code, out, _ = change(capsys, cliniko_sandbox.url, "edit", "patients", patient["id"], "first_name=Robin",
                          "occupation:=null", "accepted_sms_marketing:=true")
    assert code == 0
    assert out.startswith(f"patients {patient['id']}: first_name, occupation, accepted_sms_marketing changed")
    served = cliniko_sandbox.get(f"patients/{patient['id']}").json()
    assert (served["first_name"], served["occupation"], served["accepted_sms_marketing"]) == ("Robin", None, True)
    assert served["updated_at"] >= before > patient["updated_at"]
    since = cliniko_sandbox.list_all("patients", q=[f"updated_at:>={before}"])
    assert [p["id"] for p in since] == [patient["id"]]  # what an incremental read picks up


def test_edit_a_relation_and_print_json(capsys, cliniko_sandbox) -> None:
    appointment = first(cliniko_sandbox, "individual_appointments", cancelled_at=None, deleted_at=None)
    target = cliniko_sandbox.edge("patient_rtl_hebrew")
    code, out, _ = change(capsys, cliniko_sandbox.url, "--json", "edit", "individual_appointments", appointment["id"],
                          f"patient_id={target}", "notes=Moved by reception")
    assert code == 0
    record = json.loads(out)
    assert record["patient"]["links"]["self"].endswith(f"/patients/{target}")
    assert record["notes"] == "Moved by reception"


def test_cancel_archive_delete_and_add(capsys, cliniko_sandbox) -> None:
    url = cliniko_sandbox.url
    appointment = first(cliniko_sandbox, "individual_appointments", cancelled_at=None, deleted_at=None)
    code, out, _ = change(capsys, url, "cancel", "individual_appointments", appointment["id"])
    assert code == 0 and out.startswith(f"individual_appointments {appointment['id']} cancelled at ")
    cancelled = cliniko_sandbox.list_all("individual_appointments", q=["cancelled_at:*", f"id:={appointment['id']}"])
    assert cancelled[0]["cancelled_at"] and cancelled[0]["cancellation_reason_description"] == "Other"

    patient = first(cliniko_sandbox, "patients", archived_at=None, deleted_at=None)
    assert change(capsys, url, "archive", "patients", patient["id"])[0] == 0
    assert cliniko_sandbox.get(f"patients/{patient['id']}").status_code == 404  # hidden, as Cliniko hides archived
    assert cliniko_sandbox.list_all("patients", q=["archived_at:*", f"id:={patient['id']}"])[0]["archived_at"]

    note = first(cliniko_sandbox, "treatment_notes", deleted_at=None)
    code, out, _ = change(capsys, url, "delete", "treatment_notes", note["id"])
    assert code == 0 and " deleted at " in out
    assert cliniko_sandbox.list_all("treatment_notes", q=["deleted_at:*", f"id:={note['id']}"])[0]["deleted_at"]

    row = first(cliniko_sandbox, "appointment_type_billable_items")
    code, out, _ = change(capsys, url, "delete", "appointment_type_billable_items", row["id"])
    assert code == 0 and "removed" in out
    assert cliniko_sandbox.get(f"appointment_type_billable_items/{row['id']}").status_code == 404

    code, out, _ = change(capsys, url, "add", "patients", "first_name=Ada", "last_name=Lovelace",
                          "email=ada@example.com")
    assert code == 0 and out.startswith("created patients ")
    new_id = out.split()[2]
    assert cliniko_sandbox.get(f"patients/{new_id}").json()["email"] == "ada@example.com"
    code, out, _ = change(capsys, url, "add", "medical_alerts", "name=Latex allergy", f"patient_id={new_id}")
    assert code == 0
    alerts = cliniko_sandbox.list_all("medical_alerts", q=[f"patient_id:={new_id}"])
    assert [a["name"] for a in alerts] == ["Latex allergy"]


def test_show_lists_ids_and_prints_one_record(capsys, cliniko_sandbox) -> None:
    code, out, _ = change(capsys, cliniko_sandbox.url, "show", "patients", "--limit", "3")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 4 and lines[-1] == "(3 of 50 patients; --limit 0 lists all)"
    patient_id = lines[0].split()[0]
    code, out, _ = change(capsys, cliniko_sandbox.url, "show", "patients", patient_id)
    assert code == 0 and json.loads(out) == first(cliniko_sandbox, "patients", id=patient_id)
    deleted = cliniko_sandbox.edge("patient_deleted")
    code, out, _ = change(capsys, cliniko_sandbox.url, "show", "patients", "--limit", "0")
    line = next(line for line in out.splitlines() if line.startswith(deleted))
    assert "deleted" in line.rsplit("[", 1)[-1]  # hidden rows are listed, and marked


@pytest.mark.parametrize(("args", "message", "exit_code"), [
    (("edit", "patientz", "1", "a=b"), "error: unknown resource 'patientz'; served: patients, ", 1),
    (("edit", "patients", "999", "first_name=x"), "error: no patients with id 999.", 1),
    (("edit", "patients", "abc", "first_name=x"), "error: id must be digits, got 'abc'.", 1),
    (("edit", "patients", "{patient}", "colour=blue"), "error: patients has no field 'colour'.", 1),
    (("edit", "patients", "{patient}", "first_name"), "error: expected FIELD=VALUE or FIELD:=JSON, got 'first_name'.",
     2),
    (("edit", "patients", "{patient}", "notes:={oops"), "error: the value of notes:= is not JSON (write notes=TEXT", 2),
    (("edit", "patients", "{patient}", "created_at=yesterday"),
     "error: created_at must look like 2024-01-31T23:59:59Z", 1),
    (("cancel", "patients", "{patient}"), "error: patients cannot be cancelled (only individual_appointments, "
                                          "attendees have cancelled_at).", 1),
    (("archive", "users", "{patient}"), "error: users cannot be archived (only patients, ", 1),
    (("add", "patients", "bogus=1"), "error: patients has no field(s) bogus.", 1),
    (("add", "bookings"), "error: unknown resource 'bookings'", 1),
    (("show", "patients", "999"), "error: no patients with id 999.", 1),
    (("show", "patients", "--limit", "-1"), "error: --limit must be 0 (all) or more.", 2),
])
def test_bad_input_is_one_sentence_and_a_non_zero_exit(capsys, cliniko_sandbox, args: tuple[str, ...], message: str,
                                                       exit_code: int) -> None:
    patient = cliniko_sandbox.edge("patient_cjk_name")
    before = cliniko_sandbox.admin("GET", "counts")
    code, out, err = change(capsys, cliniko_sandbox.url, *(a.replace("{patient}", patient) for a in args))
    assert code == exit_code and out == ""
    assert one_sentence(err).startswith(message)
    assert cliniko_sandbox.admin("GET", "counts") == before
    assert cliniko_sandbox.get(f"patients/{patient}").json()["first_name"] != "x"


def test_the_wrong_url_is_one_sentence(capsys, pipedrive_sandbox) -> None:
    code, _, err = change(capsys, pipedrive_sandbox.base_url, "show", "patients")
    assert code == 1
    assert one_sentence(err) == f"error: {pipedrive_sandbox.base_url} is not a Cliniko sandbox (it has no clinic at " \
                                "/_admin/clinic)."
    code, _, err = change(capsys, "ftp://127.0.0.1:8801", "show", "patients")
    assert code == 2 and "--url must be an http:// address" in one_sentence(err)


def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox", "cliniko", "change", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_the_real_command_edits_and_fails_cleanly_without_a_sandbox(cliniko_sandbox) -> None:
    patient = cliniko_sandbox.edge("patient_cjk_name")
    done = run_command("--url", cliniko_sandbox.url, "edit", "patients", patient, "occupation=Pilot")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert cliniko_sandbox.get(f"patients/{patient}").json()["occupation"] == "Pilot"

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failed = run_command("--url", f"http://127.0.0.1:{port}", "edit", "patients", patient, "occupation=Pilot")
    assert failed.returncode == 1 and failed.stdout == ""
    assert one_sentence(failed.stderr) == (f"error: no Cliniko sandbox answers at http://127.0.0.1:{port}: start one "
                                           "with `python -m sandbox cliniko --port 8801`, or give its address with "
                                           "--url.")
    unknown = run_command("--url", cliniko_sandbox.url, "rename", "patients")
    assert unknown.returncode == 2 and "invalid choice: 'rename'" in unknown.stderr


@pytest.mark.parametrize("action", ["", "edit", "cancel", "archive", "delete", "add", "show"])
def test_every_action_has_help(capsys, action: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["cliniko", "change", *([action] if action else []), "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0 and out.startswith("usage: ")
    assert ("http://127.0.0.1:8801" in out and "FIELD:=JSON" in out) if not action else len(out.splitlines()) >= 6
