"""Cliniko sandbox list envelope, pagination links and sorting."""

from __future__ import annotations

import itertools
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

ALL = ["archived_at:*", "cancelled_at:*", "deleted_at:*"]


def test_envelope_has_exactly_the_documented_keys(cliniko_sandbox):
    data = cliniko_sandbox.get("patients").json()
    assert set(data) == {"patients", "total_entries", "links"}
    assert isinstance(data["total_entries"], int)
    assert len(data["patients"]) == 47 - 0 and data["total_entries"] == 47  # 50 minus archived, merged, deleted
    assert set(data["links"]) == {"self"}  # 47 rows fit the default page of 50


def test_default_page_size_is_50(cliniko_sandbox):
    data = cliniko_sandbox.get("individual_appointments").json()
    assert data["total_entries"] > 50
    assert len(data["individual_appointments"]) == 50
    assert set(data["links"]) == {"self", "next"}
    assert parse_qs(urlsplit(data["links"]["next"]).query) == {"page": ["2"], "per_page": ["50"]}


def test_links_are_absolute_on_the_host_the_client_used(cliniko_sandbox):
    port = urlsplit(cliniko_sandbox.url).port
    for host in ("127.0.0.1", "localhost"):
        response = requests.get(f"http://{host}:{port}/v1/individual_appointments",
                                auth=(cliniko_sandbox.api_key, ""), headers={"User-Agent": cliniko_sandbox.user_agent},
                                params={"per_page": 5, "page": 2}, timeout=10)
        data = response.json()
        assert data["links"]["self"] == f"http://{host}:{port}/v1/individual_appointments?page=2&per_page=5"
        assert data["links"]["previous"].startswith(f"http://{host}:{port}/v1/individual_appointments?")
        record = data["individual_appointments"][0]
        assert record["links"]["self"] == f"http://{host}:{port}/v1/individual_appointments/{record['id']}"
        assert record["patient"]["links"]["self"].startswith(f"http://{host}:{port}/v1/patients/")


def test_following_next_visits_every_row_once(cliniko_sandbox):
    first = cliniko_sandbox.get("individual_appointments", per_page=37, q=ALL).json()
    total = first["total_entries"]
    rows = cliniko_sandbox.list_all("individual_appointments", per_page=37, q=ALL)
    ids = [r["id"] for r in rows]
    assert len(ids) == total == len(set(ids))
    assert total == cliniko_sandbox.admin("GET", "counts")["individual_appointments"]["total"]


def test_per_page_above_100_is_clamped(cliniko_sandbox):
    data = cliniko_sandbox.get("communications", per_page=500).json()
    assert len(data["communications"]) == 100 < data["total_entries"]
    assert "per_page=100" in data["links"]["next"]


@pytest.mark.parametrize(("param", "value"), [
    ("per_page", "0"), ("per_page", "-5"), ("per_page", "ten"), ("per_page", "1.5"),
    ("page", "0"), ("page", "-1"), ("page", "two"),
])
def test_bad_page_parameters_are_400_naming_the_parameter(cliniko_sandbox, param, value):
    response = cliniko_sandbox.get("patients", **{param: value})
    assert response.status_code == 400
    assert param in response.json()["errors"]


def test_page_past_the_end_is_empty_with_self_and_previous(cliniko_sandbox):
    data = cliniko_sandbox.get("patients", page=9, per_page=10).json()
    assert data["patients"] == []
    assert data["total_entries"] == 47
    assert set(data["links"]) == {"self", "previous"}
    assert "page=8" in data["links"]["previous"]


def test_first_and_last_pages_have_only_the_relevant_links(cliniko_sandbox):
    first = cliniko_sandbox.get("patients", per_page=20).json()
    assert set(first["links"]) == {"self", "next"}
    last = cliniko_sandbox.get("patients", per_page=20, page=3).json()
    assert set(last["links"]) == {"self", "previous"}
    assert len(last["patients"]) == 7
    middle = cliniko_sandbox.get("patients", per_page=20, page=2).json()
    assert set(middle["links"]) == {"self", "next", "previous"}


def test_links_keep_filters_percent_encoded(cliniko_sandbox):
    patient = cliniko_sandbox.edge("patient_dst_sydney")
    data = cliniko_sandbox.get("individual_appointments", per_page=2, q=[f"patient_id:={patient}", *ALL],
                               sort="starts_at").json()
    assert data["total_entries"] > 2
    nxt = data["links"]["next"]
    assert f"q%5B%5D=patient_id%3A%3D{patient}" in nxt
    assert "q%5B%5D=archived_at%3A%2A" in nxt and "sort=starts_at" in nxt
    rows = cliniko_sandbox.list_all("individual_appointments", per_page=2, q=[f"patient_id:={patient}", *ALL],
                                    sort="starts_at")
    assert len(rows) == data["total_entries"]
    assert all(r["patient"]["links"]["self"].endswith(f"/patients/{patient}") for r in rows)


def _key(record, field):
    return record[field], int(record["id"])


def test_default_order_is_created_at_then_id(cliniko_sandbox):
    rows = cliniko_sandbox.list_all("patients", per_page=100, q=ALL[:1])
    keys = [_key(r, "created_at") for r in rows]
    assert keys == sorted(keys)
    created = [r["created_at"] for r in rows]
    assert len(created) - len(set(created)) >= 3, "the import batch shares one created_at second (ties)"


def test_ties_are_broken_by_numeric_id_even_when_sorting_desc(cliniko_sandbox):
    rows = cliniko_sandbox.list_all("patients", sort="created_at:desc", per_page=100)
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    for a, b in itertools.pairwise(rows):
        if a["created_at"] == b["created_at"]:
            assert int(a["id"]) < int(b["id"])


def test_sort_by_several_columns_and_directions(cliniko_sandbox):
    rows = cliniko_sandbox.list_all("patients", sort="last_name,first_name:desc", per_page=100)
    keys = [(r["last_name"], r["first_name"]) for r in rows]
    for (l1, f1), (l2, f2) in itertools.pairwise(keys):
        assert l1 < l2 or (l1 == l2 and f1 >= f2)


def test_deprecated_order_parameter(cliniko_sandbox):
    rows = cliniko_sandbox.get("invoices", order="desc", per_page=100).json()["invoices"]
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    by_updated = cliniko_sandbox.get("invoices", sort="updated_at", order="desc", per_page=100).json()["invoices"]
    assert [r["updated_at"] for r in by_updated] == sorted((r["updated_at"] for r in by_updated), reverse=True)


def test_sort_by_id_is_numeric(cliniko_sandbox):
    rows = cliniko_sandbox.list_all("communications", sort="id", per_page=100)
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)


@pytest.mark.parametrize(("params", "name"), [
    ({"sort": "favourite_colour"}, "sort"), ({"sort": "created_at:sideways"}, "sort"),
    ({"sort": "appointment_type_ids"}, "sort"), ({"order": "random"}, "order"), ({"sort": ""}, None),
])
def test_bad_sort_is_400(cliniko_sandbox, params, name):
    response = cliniko_sandbox.get("businesses" if "appointment_type_ids" in str(params) else "patients", **params)
    if name is None:
        assert response.status_code == 200  # an empty sort falls back to the default
    else:
        assert response.status_code == 400
        assert name in response.json()["errors"]
