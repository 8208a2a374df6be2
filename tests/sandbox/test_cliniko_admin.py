"""Cliniko sandbox admin routes: counts, records, create, mutate, archive/cancel/delete, reset, hooks."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import requests

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _post(sandbox, path, body):
    return requests.post(f"{sandbox.url}/_admin/{path}", json=body, timeout=30)


def test_counts_include_hidden_rows(cliniko_sandbox):
    counts = cliniko_sandbox.admin("GET", "counts")
    assert counts["patients"] == {"total": 50, "archived": 2, "deleted": 1, "visible": 47}
    assert counts["practitioners"] == {"total": 5, "inactive": 1, "visible": 4}
    appointments = counts["individual_appointments"]
    assert set(appointments) == {"total", "archived", "cancelled", "deleted", "visible"}
    assert appointments["cancelled"] > 0 and appointments["visible"] < appointments["total"]
    for name, entry in counts.items():
        assert entry["visible"] == cliniko_sandbox.get(name).json()["total_entries"], name


def test_records_lists_everything_rendered_like_the_api(cliniko_sandbox):
    data = cliniko_sandbox.admin("GET", "records/patients")
    assert data["total_entries"] == len(data["patients"]) == 50
    merged = next(p for p in data["patients"] if p["id"] == cliniko_sandbox.edge("patient_merged"))
    survivor = cliniko_sandbox.edge("patient_merge_survivor")
    assert merged["merged_with_patient"]["links"]["self"] == f"{cliniko_sandbox.base_url}/patients/{survivor}"
    assert merged["archived_at"] and merged["merged_at"]
    api = cliniko_sandbox.get(f"patients/{survivor}").json()
    assert next(p for p in data["patients"] if p["id"] == survivor) == api
    assert requests.get(cliniko_sandbox.url + "/_admin/records/bookings", timeout=10).status_code == 404


def test_create_assigns_id_and_timestamps(cliniko_sandbox):
    before = _now()
    created = cliniko_sandbox.admin("POST", "records/patients", {"first_name": "New", "last_name": "Person",
                                                                  "email": "new.person@example.com"})
    assert re.fullmatch(r"\d{18,19}", created["id"]) and int(created["id"]) > 2**53
    assert created["created_at"] == created["updated_at"] and before <= created["created_at"] <= _now()
    assert created["first_name"] == "New" and created["archived_at"] is None
    listed = cliniko_sandbox.list_all("patients", q=["email:=new.person@example.com"])
    assert [p["id"] for p in listed] == [created["id"]]
    alert = cliniko_sandbox.admin("POST", "records/medical_alerts", {"name": "Bee sting", "patient_id": created["id"]})
    assert alert["patient"]["links"]["self"].endswith(f"/patients/{created['id']}")
    found = cliniko_sandbox.get("medical_alerts", q=[f"patient_id:={created['id']}"]).json()["medical_alerts"]
    assert [a["id"] for a in found] == [alert["id"]]
    again = cliniko_sandbox.admin("POST", "records/patients", {"first_name": "Second"})
    assert again["id"] != created["id"]


def test_create_attachment_with_content(cliniko_sandbox):
    patient = cliniko_sandbox.edge("patient_no_email")
    created = cliniko_sandbox.admin("POST", "records/patient_attachments", {
        "patient_id": patient, "filename": "note.txt", "content_type": "text/plain", "content_base64": "aGVsbG8=",
    })
    assert created["size"] == 5 and created["content"]["links"]["self"].endswith(f"/{created['id']}/content")
    assert cliniko_sandbox.get(f"patient_attachments/{created['id']}/content").content == b"hello"


@pytest.mark.parametrize(("path", "body", "status"), [
    ("records/patients", {"favourite_colour": "blue"}, 400),
    ("records/patients", {"merged_with_patient_id": "not-an-id"}, 400),
    ("records/patients", {"created_at": "yesterday"}, 400),
    ("records/patients", ["not", "an", "object"], 400),
    ("records/bookings", {}, 404),
    ("records/patient_attachments", {"content_base64": "%%%"}, 400),
    ("mutate", {"resource": "patients"}, 400),
    ("mutate", {"resource": "patients", "id": "1", "set": {}}, 404),
    ("mutate", {"resource": "patients", "id": "abc", "set": {}}, 400),
    ("mutate", {"resource": "nope", "id": "1", "set": {}}, 404),
    ("archive", {"resource": "users", "id": "1"}, 400),
    ("cancel", {"resource": "patients", "id": "1"}, 400),
    ("reset", {"size": "enormous"}, 400),
    ("reset", {"seed": "abc"}, 400),
    ("on_request", {"after": 0, "mutate": {"resource": "patients", "id": "1"}}, 400),
    ("on_request", {"after": 1, "path_prefix": "v1", "mutate": {"resource": "patients", "id": "1"}}, 400),
    ("on_request", {"after": 1, "mutate": {"resource": "patients"}}, 400),
    ("on_request", {"after": 1}, 400),
    ("on_request", {"after": 1, "faults": "everything"}, 400),
])
def test_bad_admin_requests_are_refused(cliniko_sandbox, path, body, status):
    response = _post(cliniko_sandbox, path, body)
    assert response.status_code == status, response.text
    assert "error" in response.json()


def test_mutate_bumps_updated_at_and_moves_the_record(cliniko_sandbox):
    rows = cliniko_sandbox.list_all("patients", sort="updated_at", per_page=100)
    first = rows[0]
    assert first["id"] != rows[-1]["id"]
    before = _now()
    changed = cliniko_sandbox.admin("POST", "mutate", {"resource": "patients", "id": first["id"],
                                                       "set": {"first_name": "Renamed"}})
    assert changed["first_name"] == "Renamed" and STAMP.match(changed["updated_at"])
    assert before <= changed["updated_at"] <= _now() and changed["updated_at"] > first["updated_at"]
    assert changed["created_at"] == first["created_at"]
    after = cliniko_sandbox.list_all("patients", sort="updated_at", per_page=100)
    assert after[-1]["id"] == first["id"] and after[0]["id"] != first["id"]
    since = cliniko_sandbox.list_all("patients", q=[f"updated_at:>={before}"])
    assert [p["id"] for p in since] == [first["id"]]


def test_mutate_with_explicit_time_and_relations(cliniko_sandbox):
    appointment = cliniko_sandbox.get("individual_appointments", per_page=1).json()["individual_appointments"][0]
    target = cliniko_sandbox.edge("patient_rtl_hebrew")
    changed = cliniko_sandbox.admin("POST", "mutate", {
        "resource": "individual_appointments", "id": appointment["id"], "updated_at": "2030-01-02T03:04:05Z",
        "set": {"patient_id": target, "notes": "moved"},
    })
    assert changed["updated_at"] == "2030-01-02T03:04:05Z"
    assert changed["patient"]["links"]["self"].endswith(f"/patients/{target}")
    mine = cliniko_sandbox.list_all("individual_appointments", q=[f"patient_id:={target}"])
    assert appointment["id"] in {a["id"] for a in mine}


def test_archive_cancel_delete(cliniko_sandbox):
    patient = cliniko_sandbox.edge("patient_cjk_name")
    archived = cliniko_sandbox.admin("POST", "archive", {"resource": "patients", "id": patient})
    assert archived["archived_at"] == archived["updated_at"] and STAMP.match(archived["archived_at"])
    assert cliniko_sandbox.get(f"patients/{patient}").status_code == 404
    appointment = cliniko_sandbox.get("individual_appointments", per_page=1).json()["individual_appointments"][0]
    cancelled = cliniko_sandbox.admin("POST", "cancel", {"resource": "individual_appointments",
                                                         "id": appointment["id"]})
    assert cancelled["cancelled_at"] and cancelled["cancellation_reason"] == 50
    assert cancelled["cancellation_reason_description"] == "Other"
    contact = cliniko_sandbox.get("contacts", per_page=1).json()["contacts"][0]
    cliniko_sandbox.admin("POST", "delete", {"resource": "contacts", "id": contact["id"]})
    assert contact["id"] not in {c["id"] for c in cliniko_sandbox.list_all("contacts", q=["archived_at:*"])}
    counts = cliniko_sandbox.admin("GET", "counts")
    assert counts["patients"]["archived"] == 3 and counts["contacts"]["deleted"] == 2


def test_appointment_type_billable_items_and_their_true_delete(cliniko_sandbox):
    """Every generated type has one row in the current relation: its own billable item (the one its
    deprecated `billable_item` link names), once; deleting a row removes it, as Cliniko does."""
    types = cliniko_sandbox.admin("GET", "records/appointment_types")["appointment_types"]
    rows = cliniko_sandbox.list_all("appointment_type_billable_items")
    assert len(rows) == len(types) == 6
    for atype in types:
        mine = cliniko_sandbox.list_all("appointment_type_billable_items", q=[f"appointment_type_id:={atype['id']}"])
        assert [r["billable_item"] for r in mine] == [atype["billable_item"]]
        assert mine[0]["quantity"] == "1.0" and mine[0]["appointment_type"] == {"links": atype["links"]}
        assert atype["appointment_type_billable_items"]["links"]["self"].endswith(
            f"/appointment_type_billable_items?q%5B%5D=appointment_type_id%3A%3D{atype['id']}")
    gone = cliniko_sandbox.admin("POST", "delete", {"resource": "appointment_type_billable_items", "id": rows[0]["id"]})
    assert gone["id"] == rows[0]["id"]
    assert cliniko_sandbox.get(f"appointment_type_billable_items/{rows[0]['id']}").status_code == 404
    assert cliniko_sandbox.admin("GET", "counts")["appointment_type_billable_items"] == {"total": 5, "visible": 5}
    refused = _post(cliniko_sandbox, "delete", {"resource": "patient_cases", "id": rows[1]["id"]})
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("patient_cases cannot be deleted (only patients, businesses, ")


def test_reset_regenerates(cliniko_sandbox):
    original = cliniko_sandbox.admin("GET", "records/patients")["patients"]
    empty = cliniko_sandbox.admin("POST", "reset", {"size": "none"})
    assert empty["counts"]["patients"]["total"] == 0 and empty["counts"]["users"]["total"] == 1
    assert cliniko_sandbox.get("user").status_code == 200
    assert cliniko_sandbox.get("settings").json()["patient_custom_fields_definition"]["sections"]
    other = cliniko_sandbox.admin("POST", "reset", {"size": "small", "seed": 7})
    assert other["seed"] == 7
    reseeded = cliniko_sandbox.admin("GET", "records/patients")["patients"]
    assert {p["id"] for p in reseeded}.isdisjoint({p["id"] for p in original})
    cliniko_sandbox.admin("POST", "reset", {"size": "small", "seed": 42})
    assert cliniko_sandbox.admin("GET", "records/patients")["patients"] == original
    assert cliniko_sandbox.admin("GET", "clinic")["size"] == "small"


def test_on_request_hook_changes_a_record_mid_sync(cliniko_sandbox):
    pages = cliniko_sandbox.get("patients", per_page=10).json()
    victim = pages["patients"][0]
    cliniko_sandbox.admin("POST", "on_request", {"after": 2, "path_prefix": "/v1/patients", "mutate": {
        "resource": "patients", "id": victim["id"], "set": {"last_name": "Changed"}}})
    cliniko_sandbox.get("practitioners")  # other paths do not count
    page1 = cliniko_sandbox.get("patients", per_page=10).json()
    assert page1["patients"][0]["last_name"] == victim["last_name"]
    page2 = cliniko_sandbox.get("patients", per_page=10, page=2).json()  # 2nd match: fires after answering
    assert victim["id"] not in {p["id"] for p in page2["patients"]}
    now = cliniko_sandbox.get(f"patients/{victim['id']}").json()
    assert now["last_name"] == "Changed" and now["updated_at"] > victim["updated_at"]
    hooks = cliniko_sandbox.admin("GET", "on_request")["hooks"]
    assert hooks[0]["fired"] and hooks[0]["seen"] == 2 and hooks[0]["error"] is None
    cliniko_sandbox.get("patients")
    assert cliniko_sandbox.admin("GET", "on_request")["hooks"][0]["seen"] == 2  # fires once
    cliniko_sandbox.admin("DELETE", "on_request")
    assert cliniko_sandbox.admin("GET", "on_request")["hooks"] == []


def test_on_request_hook_can_archive_and_ignores_failed_requests(cliniko_sandbox):
    victim = cliniko_sandbox.get("patients", per_page=1).json()["patients"][0]
    cliniko_sandbox.admin("POST", "on_request", {"after": 1, "path_prefix": "/v1/patients",
                                                 "mutate": {"resource": "patients", "id": victim["id"],
                                                            "action": "archive"}})
    assert cliniko_sandbox.get("patients", q=["bogus:=1"]).status_code == 400  # not counted
    assert victim["id"] in {p["id"] for p in cliniko_sandbox.get("patients", per_page=100).json()["patients"]}
    assert victim["id"] not in {p["id"] for p in cliniko_sandbox.get("patients", per_page=100).json()["patients"]}


def test_on_request_hook_switches_faults_on_mid_sync(cliniko_sandbox):
    cliniko_sandbox.admin("POST", "on_request", {"after": 2, "path_prefix": "/v1/patients",
                                                 "faults": {"error_rate": 1.0}})
    assert cliniko_sandbox.get("patients").status_code == 200
    assert cliniko_sandbox.get("patients").status_code == 200  # the 2nd is answered, then faults begin
    assert cliniko_sandbox.get("patients").status_code == 503
    assert cliniko_sandbox.admin("GET", "faults")["error_rate"] == 1.0
    assert cliniko_sandbox.admin("GET", "on_request")["hooks"][0]["error"] is None
