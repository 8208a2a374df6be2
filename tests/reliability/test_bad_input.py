"""Bad input from Cliniko: every record migrates correctly or is audited with a reason; the run never
crashes, never hangs and never writes half a record.

The Cliniko sandbox serves the corruption over real HTTP (raw fields on rows, rewritten
answers: see sandbox/cliniko/corrupt.py); tap-cliniko and target-pipedrive run as real
processes joined by a pipe; what Pipedrive holds is read back from its sandbox.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import audit, live, run_pipeline, tap_config, target_config

MB = 1024 * 1024
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LIVE_TAGS = re.compile(r"<\s*(script|img|iframe)", re.IGNORECASE)
SETTLED = ("migrated", "failed", "skipped", "held")


@dataclass
class Corpus:
    cliniko: Any
    keys: dict[str, str] = field(default_factory=dict)  # case name -> source key

    def add(self, case: str, resource: str, values: dict[str, Any], raw: dict[str, Any] | None = None,
            drop: list[str] | None = None) -> str:
        row = self.cliniko.admin("POST", f"/_admin/records/{resource}", values)
        if raw or drop:
            self.cliniko.admin("POST", "/_admin/raw", {"resource": resource, "id": row["id"], "set": raw or {},
                                                       "drop": drop or []})
        kind = resource.removesuffix("s") if resource != "patient_cases" else "patient_case"
        self.keys[case] = f"cliniko:{kind}:{(raw or {}).get('id', row['id'])}"
        return str(row["id"])


def base_rows(cliniko: Any) -> dict[str, str]:
    """A business, a practitioner with a user and an appointment type: what appointments point at."""
    user = cliniko.admin("GET", "/_admin/records/users")["users"][0]
    business = cliniko.admin("POST", "/_admin/records/businesses", {
        "business_name": "Harbour", "time_zone_identifier": "Australia/Sydney"})
    practitioner = cliniko.admin("POST", "/_admin/records/practitioners", {
        "first_name": "Sam", "last_name": "Lee", "user_id": user["id"], "active": True})
    kind = cliniko.admin("POST", "/_admin/records/appointment_types", {"name": "Consult", "duration_in_minutes": 30})
    return {"business_id": business["id"], "practitioner_id": practitioner["id"], "appointment_type_id": kind["id"]}


def patient(corpus: Corpus, case: str, first: str = "Pat", raw: dict[str, Any] | None = None,
            drop: list[str] | None = None, **values: Any) -> str:
    return corpus.add(case, "patients", {"first_name": first, "last_name": "Case", **values}, raw, drop)


def persons_by_key(pipedrive: Any) -> dict[str, list[dict[str, Any]]]:
    labels = {f["key"]: f["name"] for f in live(pipedrive, "field") if f["entity"] == "person"}
    out: dict[str, list[dict[str, Any]]] = {}
    for person in live(pipedrive, "person"):
        custom = {labels.get(k, k): v for k, v in (person.get("custom_fields") or {}).items() if v is not None}
        person["by_label"] = custom
        out.setdefault(str(custom.get("Cliniko ID")), []).append(person)
    return out


def texts_by_ref(pipedrive: Any) -> dict[str, list[str]]:
    """Notes and activities by the `[ref:<source key>]` marker the target writes into them."""
    out: dict[str, list[str]] = {}
    for kind, text in (("note", "content"), ("activity", "note")):
        for obj in live(pipedrive, kind):
            body = str(obj.get(text) or "")
            for key in re.findall(r"\[ref:([^\]]+)\]", body):
                out.setdefault(key, []).append(body)
    return out


def check_settled(keys: dict[str, str], rows: dict[str, dict[str, Any]], persons: dict[str, list[dict[str, Any]]],
                  texts: dict[str, list[str]]) -> None:
    """Each record: migrated once, or audited with a reason and nothing of it in Pipedrive."""
    for case, key in keys.items():
        row = rows.get(key)
        assert row is not None, f"{case}: {key} is not in the audit log"
        assert row["status"] in SETTLED, (case, row)
        written = len(persons.get(key, [])) + len(texts.get(key, []))
        if row["status"] == "migrated":
            assert written == 1, f"{case}: migrated but {written} objects in Pipedrive"
        else:
            assert row["message"], f"{case}: {row['status']} without a reason"
            assert written == 0, f"{case}: {row['status']} but half of it is in Pipedrive"
        if row["status"] in ("failed", "held"):
            assert row["error_code"], (case, row)


def test_corrupt_records_each_migrate_or_fail_with_a_reason(tmp_path: Path, empty_clinic: Any,
                                                            pipedrive_sandbox: Any) -> None:
    cliniko, corpus = empty_clinic, Corpus(empty_clinic)
    links = base_rows(cliniko)
    # patients: every kind of bad value Cliniko should never send
    patient(corpus, "dob_malformed", date_of_birth="31/02/1990")
    patient(corpus, "dob_impossible", date_of_birth="1990-02-31")
    patient(corpus, "created_garbage", raw={"created_at": "yesterday"})
    patient(corpus, "stamps_null", raw={"created_at": None, "updated_at": None})
    patient(corpus, "names_null", raw={"first_name": None, "last_name": None})
    patient(corpus, "megabyte_fields", notes="n" * MB, occupation="o" * MB)
    patient(corpus, "megabyte_name", first="N" * MB)
    patient(corpus, "lone_surrogates", raw={"first_name": "Ann\ud800e", "last_name": "\udfff"})
    patient(corpus, "emoji", first="Zoë 😀", last_name="🦷 Smile")
    patient(corpus, "rtl", first="\u202eRTL", last_name="محمد שלום")
    patient(corpus, "control_chars", first="Bo\x00b\x07\x1b[31m", last_name="Tab\tNew\nLine\r\x7f")
    patient(corpus, "html_everywhere", first=HOSTILE, last_name=HOSTILE, notes=HOSTILE, appointment_notes=HOSTILE,
            occupation=HOSTILE, address_1=HOSTILE, city=HOSTILE, email=f"{HOSTILE}@example.com",
            referral_source=HOSTILE, emergency_contact=HOSTILE, medicare=HOSTILE)
    patient(corpus, "unknown_fields", raw={"x_future": {"nested": [1, 2]}, "another_field": "v"})
    patient(corpus, "wrong_scalars", raw={"first_name": 42, "last_name": ["a"], "date_of_birth": 19900101})
    patient(corpus, "wrong_phones", raw={"patient_phone_numbers": "0400 000 000", "custom_fields": "oops"})
    patient(corpus, "wrong_nested", raw={"patient_phone_numbers": [{"number": 400}, "x"], "email": 5, "notes": {}})
    patient(corpus, "archived_not_a_date", raw={"archived_at": True})
    patient(corpus, "id_text", raw={"id": "abc"})
    null_id = patient(corpus, "id_null", raw={"id": None})
    corpus.keys.pop("id_null")  # no id: audited under cliniko:patient:None (checked below)
    original = patient(corpus, "duplicate_first", first="Dup", last_name="One", occupation="first")
    patient(corpus, "duplicate_second", first="Dup", last_name="Two", occupation="second", raw={"id": original})
    corpus.keys.pop("duplicate_second")  # the same key as duplicate_first (checked below)

    # records that point at rows that do not exist, or carry broken values
    ok_patient = patient(corpus, "plain", first="Plain")
    corpus.add("appt_missing_patient", "individual_appointments", {**links, "patient_id": "999999999999",
               "starts_at": "2025-01-01T00:00:00Z", "ends_at": "2025-01-01T00:30:00Z"})
    corpus.add("appt_missing_refs", "individual_appointments", {
        "patient_id": ok_patient, "practitioner_id": "999999999998", "appointment_type_id": "999999999997",
        "business_id": "999999999996", "starts_at": "2025-01-02T00:00:00Z", "ends_at": "2025-01-02T00:30:00Z"})
    corpus.add("appt_bad_times", "individual_appointments", {**links, "patient_id": ok_patient},
               raw={"starts_at": "soon", "ends_at": None})
    corpus.add("appt_html_notes", "individual_appointments", {
        **links, "patient_id": ok_patient, "notes": HOSTILE, "starts_at": "2025-01-03T00:00:00Z",
        "ends_at": "2025-01-03T00:30:00Z"})
    corpus.add("note_missing_patient", "treatment_notes", {"patient_id": "999999999995", "title": "T",
               "practitioner_id": links["practitioner_id"]})
    corpus.add("note_html_answers", "treatment_notes", {
        "patient_id": ok_patient, "practitioner_id": links["practitioner_id"], "title": HOSTILE,
        "content": {"sections": [{"name": HOSTILE, "questions": [
            {"name": HOSTILE, "type": "text", "answer": HOSTILE},
            {"name": "Pain", "type": "checkboxes", "answers": [{"value": HOSTILE, "selected": True}]}]}]}})
    corpus.add("note_content_wrong_type", "treatment_notes", {"patient_id": ok_patient, "title": "T2"},
               raw={"content": "plain text instead of sections"})
    corpus.add("alert_html", "medical_alerts", {"patient_id": ok_patient, "name": HOSTILE})

    target = target_config(pipedrive_sandbox, tmp_path)
    run = run_pipeline(tmp_path, tap_config(cliniko), target)
    assert "Traceback" not in run.output, run.output[-3000:]
    assert run.tap_code == 0, run.tap_stderr[-2000:]
    assert run.target_code in (0, 1), run.target_stderr[-2000:]  # 1: some records failed, as reported

    rows, persons, texts = audit(target, tmp_path), persons_by_key(pipedrive_sandbox), texts_by_ref(pipedrive_sandbox)
    check_settled(corpus.keys, rows, persons, texts)
    assert rows["cliniko:patient:None"]["status"] in ("skipped", "failed") and rows["cliniko:patient:None"]["message"]
    assert not any(null_id in key for key in persons)

    def name(case: str) -> str:
        return persons[corpus.keys[case]][0]["name"]

    # what did migrate is right: text kept as typed, garbage left out, never a control character
    assert name("emoji") == "Zoë 😀 🦷 Smile"
    assert name("rtl") == "\u202eRTL محمد שלום"
    assert name("lone_surrogates") == "Ann\ufffde \ufffd"
    assert name("control_chars") == "Bob[31m Tab New Line"
    assert name("html_everywhere") == f"{HOSTILE} {HOSTILE}"  # plain text in Pipedrive: shown, never run
    assert name("names_null") == "Unnamed patient"
    assert name("wrong_scalars") == "42"
    for case in ("dob_malformed", "dob_impossible", "wrong_scalars"):
        assert "Date of birth" not in persons[corpus.keys[case]][0]["by_label"], case
    for key, found in persons.items():
        for person in found:
            assert not CONTROL.search(person["name"]), key
            for label, value in person["by_label"].items():
                assert not CONTROL.search(str(value)), (key, label)
                if "date" in label.lower():
                    assert ISO_DATE.match(str(value)), (key, label, value)
    # one person for the duplicated id, wholly one of the two records, never a mix of both
    duplicate = persons[corpus.keys["duplicate_first"]][0]
    assert (duplicate["name"], duplicate["by_label"].get("Occupation")) in (("Dup One", "first"), ("Dup Two", "second"))
    # HTML fields of Pipedrive (notes, activity notes) carry the hostile text escaped, never as live tags
    for key, bodies in texts.items():
        for body in bodies:
            assert not LIVE_TAGS.search(body), key
    for case in ("note_html_answers", "alert_html", "appt_html_notes"):
        assert rows[corpus.keys[case]]["status"] == "migrated", (case, rows[corpus.keys[case]])
        assert "&lt;script&gt;" in texts[corpus.keys[case]][0], case
    # a value that cannot be read fails its record with the map line, never a silently wrong record
    for case in ("appt_bad_times", "wrong_phones", "wrong_nested", "note_content_wrong_type"):
        assert rows[corpus.keys[case]]["status"] == "failed", (case, rows[corpus.keys[case]])
    assert rows[corpus.keys["appt_missing_refs"]]["status"] == "migrated"  # owner: the fallback user
    for case in ("appt_missing_patient", "note_missing_patient"):
        assert rows[corpus.keys[case]]["status"] in ("held", "failed"), rows[corpus.keys[case]]


# -- corrupt pages: the answer itself is broken ------------------------------------------------------------
PATIENTS = 5


def paged_clinic(cliniko: Any) -> list[str]:
    return [cliniko.admin("POST", "/_admin/records/patients", {"first_name": f"Page{i}", "last_name": "Case"})["id"]
            for i in range(PATIENTS)]


def migrated_patients(pipedrive: Any) -> set[str]:
    return {key.rsplit(":", 1)[1] for key, found in persons_by_key(pipedrive).items()
            if key.startswith("cliniko:patient:") and len(found) == 1}


def run_paged(tmp_path: Path, cliniko: Any, pipedrive: Any) -> Any:
    target = target_config(pipedrive, tmp_path)
    run = run_pipeline(tmp_path, tap_config(cliniko, page_size=2), target, timeout=45)
    assert "Traceback" not in run.output, run.output[-3000:]
    return run


def test_broken_pages_in_a_row_are_read_again(tmp_path: Path, empty_clinic: Any, pipedrive_sandbox: Any) -> None:
    """Truncated JSON, then a proxy's HTML page, then an empty page that still says `next`: each is a
    glitch the tap reads again, and every patient arrives, once."""
    ids = paged_clinic(empty_clinic)
    for after, corruption in enumerate(({"body": '{"patients": [{"id": "1", "first_na'},
                                         {"body": "<html><body>502 Bad Gateway</body></html>"},
                                         {"empty": True}), start=2):
        empty_clinic.admin("POST", "/_admin/responses", {"path": "/v1/patients", "after": after, "times": 1,
                                                         **corruption})
    target = target_config(pipedrive_sandbox, tmp_path)
    run = run_pipeline(tmp_path, tap_config(empty_clinic, page_size=2, max_retries=4), target, timeout=45)
    assert "Traceback" not in run.output, run.output[-3000:]
    assert (run.tap_code, run.target_code) == (0, 0), run.output[-3000:]
    assert migrated_patients(pipedrive_sandbox) == set(ids)
    assert len(live(pipedrive_sandbox, "person")) == PATIENTS
    assert [r["served"] for r in empty_clinic.admin("GET", "/_admin/responses")["rewrites"]] == [1, 1, 1]


def test_a_page_broken_for_good_stops_the_pipeline_with_one_sentence(tmp_path: Path, empty_clinic: Any,
                                                                     pipedrive_sandbox: Any) -> None:
    ids = paged_clinic(empty_clinic)
    empty_clinic.admin("POST", "/_admin/responses", {"path": "/v1/patients", "after": 2, "times": None,
                                                     "body": '{"patients": [{"id": "1", "first_na'})
    run = run_paged(tmp_path, empty_clinic, pipedrive_sandbox)
    assert run.tap_code != 0
    message = [line for line in run.tap_stderr.splitlines() if line.startswith("tap-cliniko: ")]
    assert len(message) == 1 and "/patients" in message[0] and "not valid JSON" in message[0], run.tap_stderr[-2000:]
    # the first page (two patients) was read and written whole; nothing else, nothing half
    migrated = migrated_patients(pipedrive_sandbox)
    assert len(migrated) == 2 and migrated < set(ids), migrated
    assert len(live(pipedrive_sandbox, "person")) == 2


@pytest.mark.parametrize(("corruption", "says"), [
    ({"empty": True}, "empty page"),
    ({"replay": True}, "loops"),  # the server keeps answering with page one: a `next` link that loops
])
def test_pages_that_never_advance_end_the_tap_in_time(tmp_path: Path, empty_clinic: Any, corruption: dict[str, Any],
                                                      says: str) -> None:
    from tap_helpers import run_tap

    paged_clinic(empty_clinic)
    empty_clinic.admin("POST", "/_admin/responses", {"path": "/v1/patients", "after": 2, "times": None,
                                                     **corruption})
    run = run_tap(tmp_path, tap_config(empty_clinic, page_size=2), timeout=30)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    message = [line for line in run.stderr.splitlines() if line.startswith("tap-cliniko: ")]
    assert len(message) == 1 and "/patients" in message[0] and says in message[0], run.stderr[-2000:]


def test_an_empty_page_without_a_next_link_that_counts_rows_is_refused(tmp_path: Path, empty_clinic: Any) -> None:
    """Three patients share one second and two the next: page 2 (the rest of the tie) is one row and has no
    `next` link. Served empty, only its count (`total_entries`) says a row was withheld; taking it as the
    end would lose three patients without a word."""
    from tap_helpers import run_tap

    ids = paged_clinic(empty_clinic)
    for n, pid in enumerate(sorted(ids, key=int)):
        stamp = "2024-05-01T10:00:00Z" if n < 3 else "2024-05-01T10:00:01Z"
        empty_clinic.admin("POST", "/_admin/mutate", {"resource": "patients", "id": pid, "set": {},
                                                      "updated_at": stamp})
    empty_clinic.admin("POST", "/_admin/responses", {"path": "/v1/patients", "after": 2, "times": None,
                                                     "empty": True})
    run = run_tap(tmp_path, tap_config(empty_clinic, page_size=2), timeout=30)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    message = [line for line in run.stderr.splitlines() if line.startswith("tap-cliniko: ")]
    assert len(message) == 1 and "/patients" in message[0] and "empty page" in message[0], run.stderr[-2000:]


def test_invalid_utf8_and_duplicate_ids_across_pages(tmp_path: Path, empty_clinic: Any, pipedrive_sandbox: Any
                                                     ) -> None:
    """Bytes that are not UTF-8 become U+FFFD; a row served again under another row's id, two pages on,
    leaves one person that is wholly one of the two, never a mix."""
    ids = paged_clinic(empty_clinic)
    twin = empty_clinic.admin("POST", "/_admin/records/patients", {"first_name": "Twin", "last_name": "Other",
                                                                   "occupation": "twin"})
    empty_clinic.admin("POST", "/_admin/raw", {"resource": "patients", "id": twin["id"], "set": {"id": ids[0]}})
    first = empty_clinic.get("patients", per_page=2, sort="updated_at,id").json()["patients"][0]
    page = empty_clinic.get("patients", per_page=2, sort="updated_at,id").content
    broken = page.replace(f'"{first["first_name"]}"'.encode(), b'"Pa\xff\xfege"')
    assert broken != page
    empty_clinic.admin("POST", "/_admin/responses", {"path": "/v1/patients", "after": 1, "times": 1,
                                                     "body_base64": base64.b64encode(broken).decode()})
    run = run_paged(tmp_path, empty_clinic, pipedrive_sandbox)
    assert run.tap_code == 0 and run.target_code in (0, 1), run.output[-3000:]
    persons = persons_by_key(pipedrive_sandbox)
    assert migrated_patients(pipedrive_sandbox) == set(ids)
    assert persons[f"cliniko:patient:{first['id']}"][0]["name"] == "Pa\ufffd\ufffdge Case"
    twin_or_not = persons[f"cliniko:patient:{ids[0]}"][0]
    assert (twin_or_not["name"], twin_or_not["by_label"].get("Occupation")) in (
        ("Page0 Case", None), ("Twin Other", "twin"))


def test_the_target_fails_a_record_with_invalid_unicode_instead_of_crashing(tmp_path: Path,
                                                                            pipedrive_sandbox: Any) -> None:
    """Another tap (or an old tap-cliniko) may pass Cliniko's lone surrogates on: one record fails, with a reason."""
    from pd_helpers import run_target

    lines = [{"type": "SCHEMA", "stream": "patients", "key_properties": ["id"],
              "schema": {"type": "object", "properties": {"id": {"type": "string"}}}}]
    for pid, first in (("101", "Ann\ud800e"), ("102", "Plain")):
        lines.append({"type": "RECORD", "stream": "patients",
                      "record": {"id": pid, "first_name": first, "last_name": "Case",
                                 "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}})
    text = "".join(json.dumps(line) + "\n" for line in lines)  # ensure_ascii: the surrogate travels as \ud800
    target = target_config(pipedrive_sandbox, tmp_path)
    run = run_target(target, text, tmp_path, timeout=60)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 1, run.stderr[-2000:]
    rows = audit(target, tmp_path)
    assert rows["cliniko:patient:101"]["status"] == "failed" and "Unicode" in rows["cliniko:patient:101"]["message"]
    assert rows["cliniko:patient:102"]["status"] == "migrated"
    assert set(persons_by_key(pipedrive_sandbox)) == {"cliniko:patient:102"}
