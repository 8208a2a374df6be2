"""Cliniko sandbox: the bad-input switches (raw fields, rewritten answers) and that they stay off by default."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests


@pytest.fixture
def two_patients(cliniko_sandbox_factory: Any) -> tuple[Any, list[str]]:
    sandbox = cliniko_sandbox_factory(size="none")
    ids = [sandbox.admin("POST", "records/patients", {"first_name": n, "last_name": "X"})["id"] for n in ("A", "B")]
    return sandbox, ids


def test_raw_fields_are_served_verbatim_while_filters_use_the_stored_row(two_patients: tuple[Any, list[str]]) -> None:
    sandbox, (first, second) = two_patients
    sandbox.admin("POST", "raw", {"resource": "patients", "id": first, "drop": ["last_name"],
                                  "set": {"first_name": "x\ud800", "id": second, "created_at": None, "extra": [1]}})
    served = sandbox.get(f"patients/{first}")
    assert served.status_code == 200 and b'"x\\ud800"' in served.content  # a lone surrogate, escaped as JSON allows
    row = served.json()
    assert (row["id"], row["created_at"], row["extra"]) == (second, None, [1]) and "last_name" not in row
    found = sandbox.get("patients", q=["first_name:=A"]).json()["patients"]
    assert [r["id"] for r in found] == [second]  # matched on the stored first name, served with the raw id
    untouched = sandbox.get(f"patients/{second}").json()
    assert untouched["first_name"] == "B" and untouched["last_name"] == "X"


def test_raw_fields_are_validated(two_patients: tuple[Any, list[str]]) -> None:
    sandbox, (first, _) = two_patients
    for body in ({"resource": "patients"}, {"resource": "patients", "id": first, "set": [1]},
                 {"resource": "patients", "id": first, "drop": "x"}, {"resource": "nope", "id": first, "set": {}}):
        assert requests.post(f"{sandbox.url}/_admin/raw", json=body, timeout=10).status_code in (400, 404), body


def test_rewrites_replace_the_nth_answer_then_stop(two_patients: tuple[Any, list[str]]) -> None:
    sandbox, _ = two_patients
    sandbox.admin("POST", "responses", {"path": "/v1/patients", "after": 2, "times": 1, "body": "{broken"})
    sandbox.admin("POST", "responses", {"path": "/v1/patients", "after": 3, "times": 1,
                                        "body_base64": base64.b64encode(b"\xff\xfe").decode()})
    sandbox.admin("POST", "responses", {"path": "/v1/patients", "after": 4, "times": 1, "empty": True})
    answers = [sandbox.get("patients", per_page=1) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert answers[1].content == b"{broken" and answers[2].content == b"\xff\xfe"
    assert answers[3].json()["patients"] == [] and "next" in answers[3].json()["links"]
    assert len(answers[0].json()["patients"]) == len(answers[4].json()["patients"]) == 1
    assert [r["served"] for r in sandbox.admin("GET", "responses")["rewrites"]] == [1, 1, 1]


def test_replay_repeats_the_first_answer_for_ever(two_patients: tuple[Any, list[str]]) -> None:
    sandbox, _ = two_patients
    sandbox.admin("POST", "responses", {"path": "/v1/patients", "after": 2, "times": None, "replay": True})
    first = sandbox.get("patients", per_page=1, page=1).content
    assert all(sandbox.get("patients", per_page=1, page=2).content == first for _ in range(3))
    sandbox.admin("DELETE", "responses")
    assert sandbox.get("patients", per_page=1, page=2).content != first


@pytest.mark.parametrize("body", [{}, {"path": "patients", "empty": True}, {"path": "/v1/patients"},
                                  {"path": "/v1/patients", "empty": True, "replay": True},
                                  {"path": "/v1/patients", "after": 0, "empty": True},
                                  {"path": "/v1/patients", "body_base64": "***"}])
def test_rewrites_are_validated(cliniko_sandbox_factory: Any, body: dict[str, Any]) -> None:
    sandbox = cliniko_sandbox_factory(size="none")
    assert requests.post(f"{sandbox.url}/_admin/responses", json=body, timeout=10).status_code == 400


def test_reset_clears_rewrites(two_patients: tuple[Any, list[str]]) -> None:
    sandbox, _ = two_patients
    sandbox.admin("POST", "responses", {"path": "/v1/patients", "times": None, "body": "x"})
    sandbox.admin("POST", "reset", {"size": "none"})
    assert sandbox.admin("GET", "responses")["rewrites"] == []
    assert sandbox.get("patients").json()["patients"] == []
