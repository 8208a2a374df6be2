"""Names, e-mails, phones, addresses, owners: Cliniko patient/practitioner fields -> Pipedrive."""

from __future__ import annotations

import pytest

from cliniko_map.functions.contact import emails, is_valid_email, phones, postal_address
from cliniko_map.functions.people import (
    owner_email,
    parent_skipped,
    practitioner_label,
    record_status,
    skip_by_policy,
    surviving_patient,
)
from cliniko_map.functions.text import clean, omit_if, person_name


@pytest.mark.parametrize(("first", "last", "preferred", "style", "expected"), [
    ("Rebecca", "Roberts", "Bec 🌸", "in_brackets", "Rebecca (Bec 🌸) Roberts"),
    ("Rebecca", "Roberts", "Bec 🌸", "replace_first", "Bec 🌸 Roberts"),
    ("Rebecca", "Roberts", "Bec 🌸", "ignore", "Rebecca Roberts"),
    ("محمد", "العلي", "مو", "in_brackets", "محمد (مو) العلي"),
    ("נועה", "כהן", None, "in_brackets", "נועה כהן"),
    ("  Anne ", "Lee  ", None, "in_brackets", "Anne Lee"),
    ("小明", "王", None, "in_brackets", "小明 王"),
    ("D'Arcy", "D'Angelo-Smith", None, "in_brackets", "D'Arcy D'Angelo-Smith"),
    ("Sam", "Ng", "sam", "in_brackets", "Sam Ng"),          # preferred = first: shown once
    (None, "Ng", "Bo", "in_brackets", "Bo Ng"),              # no first name: the preferred one stands in
    ("Ann\u00a0Marie", "O'Brien", None, "in_brackets", "Ann Marie O'Brien"),
])
def test_person_name(first: str | None, last: str, preferred: str | None, style: str, expected: str) -> None:
    assert person_name(first, last, preferred, style=style) == expected


def test_person_name_falls_back_to_label_then_placeholder() -> None:
    assert person_name(None, None, None, label="  Kim  ") == "Kim"
    assert person_name(" ", "", None) == "Unnamed patient"
    with pytest.raises(ValueError, match="style"):
        person_name("a", "b", style="shout")


def test_emails_keep_order_dedupe_and_label() -> None:
    got = emails("Ann@X.example", "ann@x.example", "accounts@x.example", labels=["home", "home", "other"])
    assert got == [{"value": "Ann@X.example", "label": "home", "primary": True},
                   {"value": "accounts@x.example", "label": "other", "primary": False}]


def test_missing_email_gives_empty_list() -> None:
    assert emails(None, "  ") == []


@pytest.mark.parametrize("address", ["john..smith@example.com", ".jane@example.com", "tom@-clinic.com.au",
                                     "no-at-sign", "a@b", "x@y.c0m"])
def test_invalid_emails_are_kept_or_dropped_by_policy(address: str) -> None:
    assert not is_valid_email(address)
    assert emails(address) == [{"value": address, "label": "home", "primary": True}]
    assert emails(address, "ok@clinic.example", invalid="drop") == [
        {"value": "ok@clinic.example", "label": "home", "primary": True}]


@pytest.mark.parametrize("address", ["the.jones.family@example.com", "o'brien+tag@mail.example.co.uk", "a@b.io"])
def test_valid_emails(address: str) -> None:
    assert is_valid_email(address)


def test_every_phone_type_gets_its_label() -> None:
    numbers = [{"number": "(718) 011-0866", "normalized_number": "+17180110866", "phone_type": "Mobile"},
               {"number": "(718) 011-1657", "normalized_number": "+17180111657", "phone_type": "Home"},
               {"number": "(718) 011-2449", "normalized_number": "+17180112449", "phone_type": "Work"},
               {"number": "(718) 011-3241", "normalized_number": "+17180113241", "phone_type": "Fax"},
               {"number": "(718) 011-4033", "normalized_number": "+17180114033", "phone_type": "Other"},
               {"number": "718 011 4033", "normalized_number": "+17180114033", "phone_type": "Home"}]  # duplicate
    got = phones(numbers)
    assert [(p["value"], p["label"], p["primary"]) for p in got] == [
        ("(718) 011-0866", "mobile", True), ("(718) 011-1657", "home", False), ("(718) 011-2449", "work", False),
        ("(718) 011-3241", "other", False), ("(718) 011-4033", "other", False)]
    assert phones(numbers[:1], prefer="normalized")[0]["value"] == "+17180110866"
    assert phones(numbers[3:4], labels={"Fax": "fax"})[0]["label"] == "fax"
    assert phones(None) == [] and phones([]) == []


def test_postal_address() -> None:
    got = postal_address("387 Pitt St", "Unit 2", None, "Sydney", "NSW", "2000", "Australia", "AU")
    assert got == {"value": "387 Pitt St, Unit 2, Sydney NSW 2000, Australia", "route": "387 Pitt St, Unit 2",
                   "locality": "Sydney", "admin_area_level_1": "NSW", "postal_code": "2000", "country": "Australia"}
    assert postal_address(None, " ", None, None, None, None, None, None) is None
    assert postal_address(city="Auckland", country_code="NZ") == {"value": "Auckland", "locality": "Auckland",
                                                                  "country": "NZ"}


def test_owner_email_is_normalised_and_unattributed_follows_policy() -> None:
    assert owner_email("  Noah.Taylor@HarbourPhysio.example ") == "noah.taylor@harbourphysio.example"
    assert owner_email(None) is None
    assert owner_email(None, unattributed="Reception@Clinic.example") == "reception@clinic.example"


def test_practitioner_label_keeps_name_id_and_status() -> None:
    row = {"display_name": "Yusuf Kim", "designation": "Remedial Massage Therapist", "active": False}
    assert practitioner_label(row, "106") == ("Yusuf Kim, Remedial Massage Therapist "
                                              "(Cliniko practitioner 106, inactive)")
    assert practitioner_label(None, "77") == "Unknown practitioner (Cliniko practitioner 77)"
    assert practitioner_label(None, None) is None


def test_record_status_and_skip_rules() -> None:
    assert record_status() == "Active"
    assert record_status(archived_at="2024-01-01T00:00:00Z") == "Archived"
    assert record_status(archived_at="x", merged_at="y") == "Merged"
    assert record_status(archived_at="x", deleted_at="y") == "Deleted"
    assert skip_by_policy("2024-01-01", "skip", "deleted") == "deleted"
    assert skip_by_policy("2024-01-01", "migrate", "deleted") is None
    assert skip_by_policy(None, "skip", "deleted") is None
    assert parent_skipped("deleted in Cliniko") == "patient not migrated (deleted in Cliniko)"
    assert parent_skipped(None) is None


def test_merged_patients_records_follow_the_survivor() -> None:
    assert surviving_patient("7", "9") == "9"
    assert surviving_patient("7", "9", merged_policy="migrate") == "7"
    assert surviving_patient("7", None) == "7"


def test_clean_drops_control_characters_and_values_that_are_not_text() -> None:
    assert clean("Bo\x00b\x07\x1b[31m\x7f") == "Bob[31m"
    assert clean("Tab\tNew\nLine") == "Tab New Line"
    assert clean(["a"]) is None and clean({"a": 1}) is None and clean(True) is None
    assert clean(42) == "42" and clean("\u202eRTL محمد") == "\u202eRTL محمد"


def test_omit_if_leaves_a_field_out_when_its_policy_says_so() -> None:
    assert omit_if("booking notes", True) is None
    assert omit_if("booking notes", False) == "booking notes"
