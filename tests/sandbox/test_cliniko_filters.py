"""Cliniko sandbox `q[]` filters: every operator family, bad filters, default hiding, relations."""

from __future__ import annotations

import pytest

from sandbox.cliniko import filters, resources
from sandbox.cliniko.errors import ApiError

ALL = ["archived_at:*", "cancelled_at:*", "deleted_at:*"]
PATIENTS = resources.get("patients")


def ids(rows):
    return {r["id"] for r in rows}


def total(sandbox, resource, *q, **params):
    response = sandbox.get(resource, q=list(q), **params)
    assert response.status_code == 200, response.text
    return response.json()["total_entries"]


# -- parsing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "op", "value"), [
    ("updated_at:>=2024-01-01T00:00:00Z", ">=", "2024-01-01T00:00:00Z"),
    ("updated_at:>2024-01-01T00:00:00Z", ">", "2024-01-01T00:00:00Z"),
    ("updated_at:<=2024-01-01T00:00:00Z", "<=", "2024-01-01T00:00:00Z"),
    ("email:!=a@b.co", "!=", "a@b.co"),
    ("email:!?", "!?", ""),
    ("email:?", "?", ""),
    ("last_name:~~%son", "~~", "%son"),
    ("last_name:~son", "~", "son"),
    ("last_name:==x", "=", "=x"),
    ("archived_at:*", "*", ""),
])
def test_two_character_operators_are_matched_before_one_character_ones(raw, op, value):
    parsed = filters.parse(raw, PATIENTS)
    assert (parsed.op, parsed.value) == (op, value)


@pytest.mark.parametrize(("raw", "reason"), [
    ("nonsense", "expected field:OPERATORvalue"),
    ("favourite_colour:=blue", "unknown filter field"),
    ("First_Name:=x", "expected field"),
    ("first_name:x", "missing operator"),
    ("first_name:>x", "not valid for string"),
    ("updated_at:=2024-01-01T00:00:00Z", "not valid for datetime"),
    ("accepted_privacy_policy:~tr", "not valid for boolean"),
    ("id:~5", "not valid for int64"),
])
def test_malformed_filters_are_rejected_with_the_reason(raw, reason):
    with pytest.raises(ApiError) as info:
        filters.build_where(PATIENTS, [raw])
    assert info.value.status == 400
    assert raw in info.value.message and reason in info.value.message


# -- over HTTP ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    "favourite_colour:=blue", "first_name", "first_name:", "updated_at:>yesterday",
    "updated_at:>2024-01-01", "updated_at:>2024-13-01T00:00:00Z", "updated_at:?now",
    "date_of_birth:>****-01-01", "date_of_birth:=2023-02-30", "date_of_birth:=01/02/2000",
    "id:=abc", "id:=1,,2", "id:>99999999999999999999", "accepted_privacy_policy:=yes",
    "archived_at:*yes", "deleted_at:>2024-01-01T00:00:00+0x:00",
])
def test_bad_filters_over_http_are_400_naming_the_filter(cliniko_sandbox, bad):
    response = cliniko_sandbox.get("patients", q=[bad])
    assert response.status_code == 400, bad
    body = response.json()
    assert "q[]" in body["errors"] and bad in body["errors"]["q[]"]
    assert bad in body["message"]


def test_filters_not_listed_for_a_resource_are_refused(cliniko_sandbox):
    assert cliniko_sandbox.get("products", q=["deleted_at:*"]).status_code == 400  # products have no deleted_at
    assert cliniko_sandbox.get("users", q=["archived_at:*"]).status_code == 400
    assert cliniko_sandbox.get("group_appointments", q=["cancelled_at:*"]).status_code == 400


def test_datetime_operators_partition_the_rows(cliniko_sandbox):
    everything = total(cliniko_sandbox, "individual_appointments", *ALL)
    cut = "2023-06-01T00:00:00Z"
    before = total(cliniko_sandbox, "individual_appointments", *ALL, f"starts_at:<{cut}")
    after = total(cliniko_sandbox, "individual_appointments", *ALL, f"starts_at:>={cut}")
    assert before > 0 and after > 0 and before + after == everything
    at_or_before = total(cliniko_sandbox, "individual_appointments", *ALL, f"updated_at:<={cut}")
    strictly_after = total(cliniko_sandbox, "individual_appointments", *ALL, f"updated_at:>{cut}")
    assert at_or_before + strictly_after == everything


def test_datetime_equal_second_boundaries(cliniko_sandbox):
    row = cliniko_sandbox.get("patients", per_page=1).json()["patients"][0]
    stamp = row["created_at"]
    same = cliniko_sandbox.list_all("patients", q=[f"created_at:>={stamp}", f"created_at:<={stamp}"])
    assert row["id"] in ids(same) and all(r["created_at"] == stamp for r in same)
    assert row["id"] not in ids(cliniko_sandbox.list_all("patients", q=[f"created_at:>{stamp}"]))
    assert row["id"] not in ids(cliniko_sandbox.list_all("patients", q=[f"created_at:<{stamp}"]))


def test_datetime_offsets_and_fractions_are_understood(cliniko_sandbox):
    z = total(cliniko_sandbox, "communications", "updated_at:>=2023-01-01T10:00:00Z")
    assert z == total(cliniko_sandbox, "communications", "updated_at:>=2023-01-01T21:00:00+11:00")
    assert z == total(cliniko_sandbox, "communications", "updated_at:>=2023-01-01T05:00:00-0500")
    # 09:59:59.5 < t  <=>  t >= 10:00:00 for second-precision data
    assert z == total(cliniko_sandbox, "communications", "updated_at:>2023-01-01T09:59:59.5Z")
    below = total(cliniko_sandbox, "communications", "updated_at:<2023-01-01T10:00:00.000Z")
    assert below + z == total(cliniko_sandbox, "communications")


def test_date_operators_and_wildcards(cliniko_sandbox):
    leap = cliniko_sandbox.edge("patient_leap_day_birthday")
    assert leap in ids(cliniko_sandbox.list_all("patients", q=["date_of_birth:=****-02-29"]))
    assert leap in ids(cliniko_sandbox.list_all("patients", q=["date_of_birth:=2000-02-29"]))
    may = cliniko_sandbox.list_all("patients", q=["date_of_birth:=****-05-**"])
    assert may and all(r["date_of_birth"][5:7] == "05" for r in may)
    older = cliniko_sandbox.list_all("patients", q=["date_of_birth:<1960-01-01"])
    assert older and all(r["date_of_birth"] < "1960-01-01" for r in older)
    unknown = cliniko_sandbox.list_all("patients", q=["date_of_birth:!?"])
    assert cliniko_sandbox.edge("patient_no_date_of_birth") in ids(unknown)
    known = total(cliniko_sandbox, "patients", "date_of_birth:?")
    assert known + len(unknown) == total(cliniko_sandbox, "patients")


def test_invoice_issue_date_range(cliniko_sandbox):
    rows = cliniko_sandbox.list_all("invoices", q=["issue_date:>=2023-01-01", "issue_date:<2024-01-01"])
    assert rows and all("2023-01-01" <= r["issue_date"] < "2024-01-01" for r in rows)


def test_numeric_operators(cliniko_sandbox):
    some = cliniko_sandbox.get("patients", per_page=3).json()["patients"]
    wanted = [r["id"] for r in some]
    assert ids(cliniko_sandbox.list_all("patients", q=[f"id:={','.join(wanted)}"])) == set(wanted)
    assert wanted[0] not in ids(cliniko_sandbox.list_all("patients", q=[f"id:!={wanted[0]}"]))
    statuses = cliniko_sandbox.list_all("invoices", q=["status:=10,40"])
    assert statuses and {r["status"] for r in statuses} == {10, 40}
    big = cliniko_sandbox.list_all("patient_attachments", q=["size:>50000000"])
    assert ids(big) == {cliniko_sandbox.edge("file_big_streamed")}
    numbers = cliniko_sandbox.list_all("invoices", q=["number:>=1010", "number:<=1020"])
    assert sorted(r["number"] for r in numbers) == list(range(1010, 1021))[: len(numbers)]
    assert total(cliniko_sandbox, "communications", "letter_id:!?") == total(cliniko_sandbox, "communications")
    assert total(cliniko_sandbox, "communications", "letter_id:?") == 0


def test_string_operators(cliniko_sandbox):
    obrien = cliniko_sandbox.edge("patient_apostrophe_last")
    assert ids(cliniko_sandbox.list_all("patients", q=["last_name:=O'Brien"])) == {obrien}
    assert obrien in ids(cliniko_sandbox.list_all("patients", q=["last_name:~BRIEN"]))  # contains, any case
    assert obrien in ids(cliniko_sandbox.list_all("patients", q=["last_name:~~o'%"]))
    assert obrien not in ids(cliniko_sandbox.list_all("patients", q=["last_name:~~brien"]))  # no implicit %
    assert ids(cliniko_sandbox.list_all("patients", q=["first_name:=محمد"])) == {cliniko_sandbox.edge(
        "patient_rtl_arabic")}
    assert cliniko_sandbox.edge("patient_rtl_hebrew") in ids(cliniko_sandbox.list_all("patients", q=["last_name:~כה"]))
    no_email = ids(cliniko_sandbox.list_all("patients", q=["email:!?"]))
    assert cliniko_sandbox.edge("patient_no_email") in no_email
    shared = cliniko_sandbox.list_all("patients", q=["email:=the.jones.family@example.com"])
    assert len(shared) == 2
    others = total(cliniko_sandbox, "patients", "email:!=the.jones.family@example.com")
    assert others + len(shared) + len(no_email) == total(cliniko_sandbox, "patients")


def test_like_metacharacters_in_values_are_literal(cliniko_sandbox):
    q = ["archived_at:*"]
    percent = cliniko_sandbox.list_all("patient_attachments", q=[*q, "filename:~100%"])
    assert ids(percent) == {cliniko_sandbox.edge("file_percent")}
    underscore = cliniko_sandbox.list_all("patient_attachments", q=[*q, "filename:~_"])
    assert all("_" in r["filename"] for r in underscore)
    traversal = cliniko_sandbox.list_all("patient_attachments", q=[*q, "filename:~../"])
    assert ids(traversal) == {cliniko_sandbox.edge("file_path_traversal")}


def test_boolean_operators(cliniko_sandbox):
    dna = cliniko_sandbox.list_all("individual_appointments", q=["did_not_arrive:=true"])
    assert dna and all(r["did_not_arrive"] is True for r in dna)
    rest = total(cliniko_sandbox, "individual_appointments", "did_not_arrive:!=true")
    assert rest + len(dna) == total(cliniko_sandbox, "individual_appointments")
    drafts = cliniko_sandbox.list_all("treatment_notes", q=["draft:=true"])
    assert drafts and all(r["draft"] is True and r["finalized_at"] is None for r in drafts)


def test_array_contains(cliniko_sandbox):
    group = cliniko_sandbox.get("group_appointments", per_page=1).json()["group_appointments"][0]
    member = group["patient_ids"][0]
    found = cliniko_sandbox.list_all("group_appointments", q=[f"patient_ids:~{member}"])
    assert group["id"] in ids(found) and all(member in r["patient_ids"] for r in found)
    type_id = cliniko_sandbox.get("appointment_types", per_page=1).json()["appointment_types"][0]["id"]
    assert total(cliniko_sandbox, "businesses", f"appointment_type_ids:~{type_id}") == 3
    assert cliniko_sandbox.get("group_appointments", q=[f"patient_ids:={member}"]).status_code == 400


def test_filters_are_anded_and_single_q_is_accepted(cliniko_sandbox):
    both = total(cliniko_sandbox, "individual_appointments", "did_not_arrive:=true", "starts_at:<2023-01-01T00:00:00Z")
    one = total(cliniko_sandbox, "individual_appointments", "did_not_arrive:=true")
    assert 0 < both < one
    single = cliniko_sandbox.session().get(f"{cliniko_sandbox.base_url}/individual_appointments",
                                           params={"q": "did_not_arrive:=true"}, timeout=10)
    assert single.json()["total_entries"] == one


# -- archived / cancelled / deleted ---------------------------------------------------------
def test_archived_and_deleted_patients_are_hidden_by_default(cliniko_sandbox):
    archived = {cliniko_sandbox.edge("patient_archived"), cliniko_sandbox.edge("patient_merged")}
    deleted = cliniko_sandbox.edge("patient_deleted")
    default = ids(cliniko_sandbox.list_all("patients"))
    assert not (archived | {deleted}) & default
    with_archived = ids(cliniko_sandbox.list_all("patients", q=["archived_at:*"]))
    assert archived <= with_archived and deleted not in with_archived
    only_archived = ids(cliniko_sandbox.list_all("patients", q=["archived_at:?"]))
    assert only_archived == archived
    assert ids(cliniko_sandbox.list_all("patients", q=["archived_at:!?"])) == default
    everyone = ids(cliniko_sandbox.list_all("patients", q=["archived_at:*", "deleted_at:*"]))
    assert len(everyone) == cliniko_sandbox.admin("GET", "counts")["patients"]["total"] == 50


def test_cancelled_appointments_need_cancelled_at_filter(cliniko_sandbox):
    cancelled = cliniko_sandbox.edge("appointment_cancelled")
    assert cancelled not in ids(cliniko_sandbox.list_all("individual_appointments", per_page=100))
    shown = cliniko_sandbox.list_all("individual_appointments", q=["cancelled_at:?"], per_page=100)
    assert cancelled in ids(shown) and all(r["cancelled_at"] for r in shown)
    assert all(r["cancellation_reason_description"] for r in shown)
    counts = cliniko_sandbox.admin("GET", "counts")["individual_appointments"]
    assert total(cliniko_sandbox, "individual_appointments", *ALL) == counts["total"]
    assert total(cliniko_sandbox, "individual_appointments") == counts["visible"]


@pytest.mark.parametrize(("resource", "key"), [
    ("contacts", "deleted_contact"), ("medical_alerts", "medical_alert_deleted"), ("invoices", "invoice_deleted"),
    ("treatment_notes", "note_deleted"), ("group_appointments", "group_appointment_deleted"),
    ("businesses", "business_deleted"), ("individual_appointments", "appointment_deleted"),
])
def test_deleted_rows_appear_only_with_a_deleted_at_filter(cliniko_sandbox, resource, key):
    row = cliniko_sandbox.edge(key)
    assert row not in ids(cliniko_sandbox.list_all(resource, per_page=100, q=["archived_at:*"]))
    assert row in ids(cliniko_sandbox.list_all(resource, per_page=100, q=["deleted_at:*"]))
    assert row in ids(cliniko_sandbox.list_all(resource, per_page=100, q=["deleted_at:>2000-01-01T00:00:00Z"]))


def test_cancelled_attendees_are_hidden_by_default(cliniko_sandbox):
    attendee = cliniko_sandbox.edge("attendee_cancelled")
    assert attendee not in ids(cliniko_sandbox.list_all("attendees"))
    assert attendee in ids(cliniko_sandbox.list_all("attendees", q=["cancelled_at:*"]))


def test_single_get_hides_soft_deleted_rows_unless_asked(cliniko_sandbox):
    archived = cliniko_sandbox.edge("patient_archived")
    assert cliniko_sandbox.get(f"patients/{archived}").status_code == 404
    found = cliniko_sandbox.get(f"patients/{archived}", q=["archived_at:*"])
    assert found.status_code == 200 and found.json()["id"] == archived
    assert cliniko_sandbox.get(f"patients/{archived}", q=["first_name:=x"]).status_code == 400
    cancelled = cliniko_sandbox.edge("appointment_cancelled")
    assert cliniko_sandbox.get(f"individual_appointments/{cancelled}").status_code == 404
    assert cliniko_sandbox.get(f"individual_appointments/{cancelled}", q=["cancelled_at:*"]).status_code == 200
    for bad in ("123", "abc", "1" * 25):
        assert cliniko_sandbox.get(f"patients/{bad}").status_code == 404


def test_practitioners_active_inactive_split(cliniko_sandbox):
    inactive = cliniko_sandbox.edge("inactive_practitioner")
    active = cliniko_sandbox.get("practitioners").json()
    assert active["total_entries"] == 4 and all(p["active"] for p in active["practitioners"])
    gone = cliniko_sandbox.get("practitioners/inactive").json()
    assert ids(gone["practitioners"]) == {inactive}
    assert gone["links"]["self"].split("?")[0].endswith("/v1/practitioners/inactive")
    assert cliniko_sandbox.get(f"practitioners/{inactive}").json()["active"] is False
    owned = total(cliniko_sandbox, "individual_appointments", f"practitioner_id:={inactive}", *ALL)
    assert owned > 0


# -- relation filters ---------------------------------------------------------------------------
@pytest.mark.parametrize(("resource", "field", "link"), [
    ("individual_appointments", "patient_id", "patient"),
    ("individual_appointments", "practitioner_id", "practitioner"),
    ("individual_appointments", "appointment_type_id", "appointment_type"),
    ("individual_appointments", "business_id", "business"),
    ("treatment_notes", "patient_id", "patient"),
    ("treatment_notes", "booking_id", "booking"),
    ("invoices", "patient_id", "patient"),
    ("invoices", "business_id", "business"),
    ("invoice_items", "invoice_id", "invoice"),
    ("patient_attachments", "patient_id", "patient"),
    ("communications", "patient_id", "patient"),
    ("medical_alerts", "patient_id", "patient"),
    ("patient_cases", "patient_id", "patient"),
    ("attendees", "booking_id", "booking"),
    ("attendees", "patient_id", "patient"),
    ("group_appointments", "practitioner_id", "practitioner"),
    ("practitioners", "user_id", "user"),
])
def test_relation_filters_follow_the_link_ids(cliniko_sandbox, resource, field, link):
    everything = cliniko_sandbox.list_all(resource, per_page=100)
    target = everything[len(everything) // 2][link]["links"]["self"].rsplit("/", 1)[1]
    expected = {r["id"] for r in everything if r[link]["links"]["self"].endswith("/" + target)}
    found = cliniko_sandbox.list_all(resource, per_page=100, q=[f"{field}:={target}"])
    assert ids(found) == expected and expected
    assert total(cliniko_sandbox, resource, f"{field}:!={target}") == len(everything) - len(expected)
