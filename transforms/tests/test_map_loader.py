"""Loading the map: the packaged one is valid; a broken one fails with file, line and reason;
an edited one changes the output without any code change."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cliniko_map import Map, MapError, default_map_path
from cliniko_map.names import CLINIKO_STREAMS, CONTRACT

NOW = datetime(2024, 8, 12, tzinfo=UTC)
TEXT = default_map_path().read_text(encoding="utf-8")

PATIENT = {"id": "7", "first_name": "Ann", "last_name": "Lee", "preferred_first_name": None, "label": "Ann Lee",
           "email": "ann@x.example", "invoice_email": None, "date_of_birth": "1980-02-01", "referral_source": "GP",
           "patient_phone_numbers": [{"number": "0400 000 001", "normalized_number": "+61400000001",
                                      "phone_type": "Mobile"}],
           "created_at": "2020-01-01T00:00:00Z", "deleted_at": None, "archived_at": None, "merged_at": None,
           "custom_fields": None, "notes": None, "appointment_notes": None}


def edited(old: str, new: str, text: str = TEXT) -> str:
    assert text.count(old) == 1, f"edit anchor not unique: {old!r}"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def load_error(text: str) -> MapError:
    with pytest.raises(MapError) as info:
        Map.from_text(text, file="my-map.yaml")
    return info.value


def person(m: Map) -> dict[str, object]:
    return next(r for s, r in m.apply("patients", dict(PATIENT)) if s == "persons")


def test_the_packaged_map_loads_and_covers_every_tap_stream() -> None:
    m = Map.load(now=NOW)
    assert set(m.spec.streams) == set(CLINIKO_STREAMS)
    assert m.external_id_label == "Cliniko ID"
    assert m.confirmed is False and m.confirmed_plan is None
    assert len(m.digest) == 64
    definitions = m.definitions()
    assert {s for s, _ in definitions} == {"custom_fields"}
    labels = [r["label"] for _, r in definitions]
    assert len(labels) == len(set(labels))
    assert "Date of birth" in labels and "Outstanding balance" in labels


def test_loading_a_file_path_and_a_missing_file(tmp_path: Path) -> None:
    copy = tmp_path / "clinic-map.yaml"
    copy.write_text(TEXT, encoding="utf-8")
    assert Map.load(copy).digest == Map.load().digest
    with pytest.raises(MapError, match=r"missing\.yaml: cannot read the map"):
        Map.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("old", "new", "anchor", "reason"), [
    # YAML syntax: an unclosed flow mapping
    ("  date_of_birth:      {entity: person, label: Date of birth, field_type: date}",
     "  date_of_birth:      {entity: person, label: Date of birth, field_type: date",
     "  referral_source:", "YAML syntax"),
    # the same key twice
    ("  referral_source:    {entity: person, label: Referral source, field_type: varchar}",
     "  referral_source:    {entity: person, label: Referral source, field_type: varchar}\n"
     "  referral_source:    {entity: person, label: Referral, field_type: varchar}",
     "  referral_source:    {entity: person, label: Referral, field_type", "key 'referral_source' is given twice"),
    ("          phones: {fn: phones, args: [patient_phone_numbers], with: {labels: {policy: phone_labels}}}",
     "          phones: {fn: phone_numbers, args: [patient_phone_numbers]}",
     "          phones: {fn: phone_numbers", "unknown function 'phone_numbers'"),
    ("          phones: {fn: phones, args: [patient_phone_numbers], with: {labels: {policy: phone_labels}}}",
     "          phones: {fn: phones, args: [patient_phone_numbers], with: {colour: red}}",
     "          phones: {fn: phones, args: [patient_phone_numbers], with: {colour",
     "unexpected keyword argument 'colour'"),
    ("          add_time: {fn: utc_timestamp, args: [created_at]}\n        custom_fields:\n          date_of_birth",
     "          birth_date: {fn: iso_date, args: [date_of_birth]}\n        custom_fields:\n          date_of_birth",
     "          birth_date:", "'birth_date' is not a field of persons"),
    ("  insurance_group:    {entity: person, label: Insurance group, field_type: varchar}\n",
     "", "          insurance_group: {fn: cf_value", "'insurance_group' is not defined under custom_fields"),
    ("  deleted_patients: skip ", "  deleted_patients: delete ", "  deleted_patients: delete",
     "policy deleted_patients must be one of migrate, skip"),
    ("  invalid_emails: keep ", "  invalid_emails: keep\n  colour_scheme: dark\n ", "  colour_scheme: dark",
     "unknown policy 'colour_scheme'"),
    ("  individual_appointments:\n    rollup", "  individual_appointment:\n    rollup", "  individual_appointment:\n",
     "unknown Cliniko stream 'individual_appointment'"),
    ("          type: {var: type_name}\n          due_date: {fn: utc_due_date, args: [starts_at]}",
     "          type: {var: type_nme}\n          due_date: {fn: utc_due_date, args: [starts_at]}",
     "          type: {var: type_nme}", "var 'type_nme' is not defined here"),
    ("    remember: [email, first_name, last_name, active]", "    remember: [first_name, last_name, active]",
     "            args: [{lookup: users, by: {var: practitioner.user_id}, field: email}]\n            with: "
     "{unattributed: {policy: unattributed_practitioner}}\n          person_source_key",
     "does not remember field 'email'"),
    ("      - to: activity_types\n", "      - to: activity_type\n", "      - to: activity_type\n",
     "'activity_type' is not a target-pipedrive stream"),
    ("  contacts:\n    remember: [first_name, last_name, preferred_name, company_name, title, type]\n"
     "    skip: referring doctors and third-party payers are named on patients, not created as persons\n",
     "  contacts:\n    remember: [first_name, last_name, preferred_name, company_name, title, type]\n",
     "  contacts:\n", "every record must end somewhere"),
    ("  cliniko_status:     {entity: person, label: Cliniko status, field_type: enum,",
     "  cliniko_status:     {entity: person, label: Cliniko status, field_type: varchar,",
     "  cliniko_status:     {entity: person", "only enum and set fields have options"),
    ("  occupation:         {entity: person, label: Occupation, field_type: varchar}",
     "  occupation:         {entity: person, label: Referral source, field_type: varchar}",
     "  occupation:         {entity: person, label: Referral source",
     "label 'Referral source' is already used by custom_fields.referral_source"),
    ("  confirmed: false", "  confirmed: yes please", "  confirmed: yes please", "confirmed must be true or false"),
    ("      fn: invoice_summary\n", "      fn: communications_csv\n", "      fn: communications_csv\n",
     "(parts arrive as invoices, invoice_items): communications_csv() missing a required argument"),
    # one-to-many references: the field must be remembered, `by` is required, rollup parts cannot watch
    ("args: [{rows: appointment_type_billable_items, where: appointment_type_id, by: id}, billable_item_id]",
     "args: [{rows: appointment_type_billable_items, where: type_id, by: id}, billable_item_id]",
     "            args: [{rows: appointment_type_billable_items, where: type_id",
     "stream 'appointment_type_billable_items' does not remember field 'type_id'"),
    ("args: [{rows: appointment_type_billable_items, where: appointment_type_id, by: id}, billable_item_id]",
     "args: [{rows: appointment_type_billable_items, where: appointment_type_id}, billable_item_id]",
     "            args: [{rows: appointment_type_billable_items, where: appointment_type_id}",
     "rows needs 'by' (the value its 'appointment_type_id' must equal)"),
    ("          - {table: appointment_type_billable_items, where: appointment_type_id, by: id}\n",
     "          - {table: appointment_type_billable_items, where: cost, by: id}\n",
     "          - {table: appointment_type_billable_items, where: cost",
     "stream 'appointment_type_billable_items' does not remember field 'cost'"),
    ("        needs: [{table: invoices, by: invoice_id}]\n",
     "        needs: [{table: invoices, by: invoice_id, where: patient_id}]\n",
     "        needs: [{table: invoices, by: invoice_id, where", "needs: unknown key 'where' (allowed: table, by)"),
])
def test_a_broken_map_fails_with_file_line_and_reason(old: str, new: str, anchor: str, reason: str) -> None:
    text = edited(old, new)
    error = load_error(text)
    assert reason in error.reason
    assert error.file == "my-map.yaml"
    assert error.line == line_of(text, anchor)
    assert str(error).startswith(f"my-map.yaml:{error.line}: ")


def test_not_a_mapping_and_wrong_version() -> None:
    assert "must be a mapping" in load_error("- just\n- a list\n").reason
    error = load_error(edited("version: 1\n", "version: 2\n"))
    assert (error.reason, error.line) == ("version must be 1", line_of(TEXT, "version: 1"))


def test_renaming_a_custom_field_label_changes_the_output() -> None:
    before = person(Map.load(now=NOW))
    assert before["custom_fields"]["Date of birth"] == "1980-02-01"
    m = Map.from_text(edited("label: Date of birth,", "label: Birthday (Cliniko),"), now=NOW)
    after = person(m)
    assert "Date of birth" not in after["custom_fields"]
    assert after["custom_fields"]["Birthday (Cliniko)"] == "1980-02-01"
    assert ("custom_fields", {"source_key": "cliniko:custom_field:person:date_of_birth", "entity": "person",
                              "label": "Birthday (Cliniko)", "field_type": "date"}) in m.definitions()


def test_dropping_a_field_changes_the_output() -> None:
    assert "phones" in person(Map.load(now=NOW))
    phones = "          phones: {fn: phones, args: [patient_phone_numbers], with: {labels: {policy: phone_labels}}}\n"
    text = edited(phones, "")
    text = edited("          referral_source: {fn: clean, args: [referral_source]}\n", "", text)
    after = person(Map.from_text(text, now=NOW))
    assert "phones" not in after
    assert "Referral source" not in after["custom_fields"]


def test_changing_a_rule_changes_the_output() -> None:
    text = edited("  preferred_name: in_brackets ", "  preferred_name: replace_first ")
    text = edited("Mobile: mobile,", "Mobile: cell,", text)
    text = edited("with: {labels: [home, other], invalid:", "with: {labels: [work, other], invalid:", text)
    got = person(Map.from_text(text, now=NOW))
    record = dict(PATIENT, preferred_first_name="Annie")
    assert next(r for s, r in Map.from_text(text, now=NOW).apply("patients", record) if s == "persons")["name"] == \
        "Annie Lee"
    assert got["phones"][0]["label"] == "cell"
    assert got["emails"][0]["label"] == "work"


def test_the_digest_follows_rules_not_the_confirmation() -> None:
    base = Map.load().digest
    assert Map.from_text(edited("  confirmed: false", "  confirmed: true")).digest == base
    assert Map.from_text(edited("  draft_notes: migrate ", "  draft_notes: skip ")).digest != base


def test_policy_overrides_are_checked_and_change_the_digest() -> None:
    base = Map.load()
    strict = Map.load(policies={"exclude_clinical": True})
    assert strict.policies["exclude_clinical"] is True and strict.digest != base.digest
    with pytest.raises(MapError, match=r"policy draft_notes must be one of migrate, skip \(given as an override\)"):
        Map.load(policies={"draft_notes": "maybe"})


def test_policies_set_in_a_copy_of_the_map_keep_its_comments_and_load_as_given() -> None:
    from cliniko_map.policies import set_in_text

    text = default_map_path().read_text(encoding="utf-8")
    choices = {"history_cutoff": "2023-01-01", "history_notes": True, "treatment_notes_on_appointments": True}
    edited_text = set_in_text(text, choices)
    changed = [(a, b) for a, b in zip(text.splitlines(), edited_text.splitlines(), strict=True) if a != b]
    assert len(changed) == 3 and all(a.split("#", 1)[1] == b.split("#", 1)[1] for a, b in changed)
    assert changed[0][1].startswith('  history_cutoff: "2023-01-01"  ') and changed[0][1].index("#") == \
        changed[0][0].index("#")  # the comment stays in its column
    loaded = Map.from_text(edited_text)
    assert {name: loaded.policies[name] for name in choices} == choices
    assert set_in_text(text, {}) == text
    with pytest.raises(ValueError, match="unknown policy 'history_cut'"):
        set_in_text(text, {"history_cut": "2023-01-01"})
    with pytest.raises(ValueError, match="no line for history_notes"):
        set_in_text(text.replace("  history_notes:", "  # history_notes:"), {"history_notes": True})


def test_a_function_failing_on_a_record_names_the_line_not_the_value() -> None:
    from cliniko_map import MapRuntimeError

    record = dict(PATIENT, patient_phone_numbers="0400 SECRET 99")  # a string where Cliniko sends a list
    with pytest.raises(MapRuntimeError) as info:
        Map.load(now=NOW).apply("patients", record)
    assert str(info.value) == (f"{default_map_path()}:{line_of(TEXT, '          phones: {fn: phones')}: "
                               "phones() failed with AttributeError")
    assert "SECRET" not in str(info.value)


def test_vocabularies_match_the_tap_and_the_target() -> None:
    from map_contract import STREAMS, properties

    from tap_cliniko.streams import STREAM_TYPES

    assert set(CLINIKO_STREAMS) == {s.name for s in STREAM_TYPES}
    assert set(CONTRACT) == set(STREAMS)
    for stream, fields in CONTRACT.items():
        assert fields == properties(stream), stream
