"""Unit tests of the tap's pure pieces: shard rule, link ids, paginator plan, pacer, file names."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import requests

from tap_cliniko.attachments import safe_file_name
from tap_cliniko.pacing import RequestPacer
from tap_cliniko.pagination import Cursor, KeysetPaginator, page_body
from tap_cliniko.resources import BY_NAME, RESOURCES
from tap_cliniko.rows import RowShape, add_link_ids, link_id, may_hold_surrogates, valid_text
from tap_cliniko.settings import api_base_url, insecure_base_url, shard_of
from tap_cliniko.streams import STREAM_TYPES, SYNC_ORDER

SCHEMAS = Path(__file__).resolve().parents[1] / "tap_cliniko" / "schemas"


@pytest.mark.parametrize(
    ("key", "shard"),
    [("abc-au2", "au2"), ("MS0xLWFiYw-uk1", "uk1"), ("plainkey", "au1"), ("a-b-ca1", "ca1"), ("key-notashard", "au1")],
)
def test_shard_from_key_suffix(key: str, shard: str) -> None:
    assert shard_of(key) == shard
    assert api_base_url({"api_key": key}) == f"https://api.{shard}.cliniko.com/v1"


def test_base_url_setting_wins_and_plain_http_only_on_loopback() -> None:
    assert api_base_url({"api_key": "k-au2", "base_url": "http://127.0.0.1:9/v1/"}) == "http://127.0.0.1:9/v1"
    assert insecure_base_url({"api_key": "k", "base_url": "http://127.0.0.1:9/v1"}) is None
    assert insecure_base_url({"api_key": "k", "base_url": "http://localhost:9/v1"}) is None
    assert insecure_base_url({"api_key": "k", "base_url": "https://api.au1.cliniko.com/v1"}) is None
    assert insecure_base_url({"api_key": "k", "base_url": "http://cliniko.example.com/v1"}) == "cliniko.example.com"


def test_link_id_parses_one_record_links_only() -> None:
    assert link_id({"links": {"self": "https://api.au1.cliniko.com/v1/patients/514810972972521916"}}) == (
        "514810972972521916"
    )
    assert link_id({"links": {"self": "https://x/v1/attendees?q%5B%5D=patient_id%3A%3D1"}}) is None
    assert link_id({"links": {"self": "https://x/v1/patient_attachments/1/content"}}) is None
    assert link_id(None) is None
    assert link_id({}) is None
    assert link_id({"links": {"self": 42}}) is None
    assert link_id({"links": {"self": "https://x/v1/patients/12/"}}) == "12"
    assert link_id({"links": {"self": "https://x/v1/patients/5#top"}}) == "5"
    assert link_id({"links": {"self": "https://123"}}) is None  # a host, not a record
    assert link_id({"links": {"self": "https://x/v1/patients/\u0663"}}) is None  # a digit, but not ASCII


def test_every_schema_link_gets_an_id_column() -> None:
    props = json.loads((SCHEMAS / "individual_appointments.json").read_text())["properties"]
    row = {
        "id": "1",
        "patient": {"links": {"self": "http://h/v1/patients/77"}},
        "practitioner": {"links": {"self": "http://h/v1/practitioners/5"}},
    }
    add_link_ids(row, tuple((n[:-3], n) for n in props if n.endswith("_id") and n[:-3] in props))
    assert row["patient_id"] == "77"
    assert row["practitioner_id"] == "5"
    assert row["business_id"] is None  # absent relation: present as null, never guessed
    assert "attendees_id" not in row  # to-many links are not foreign keys


def test_the_one_list_of_resources_makes_the_streams_in_its_order() -> None:
    assert SYNC_ORDER == [r.name for r in RESOURCES] and len(set(SYNC_ORDER)) == len(SYNC_ORDER)
    assert [t.name for t in STREAM_TYPES] == SYNC_ORDER
    for resource in RESOURCES:
        assert set(resource.parents) <= set(BY_NAME), resource.name
        # a row sampled by its patient or invoice belongs to that parent (what the map holds it back for)
        owner = {"patient": "patients", "invoice": "invoices"}.get(resource.sample_by or "")
        assert owner is None or owner in resource.parents, resource.name
        # parents come first, but for the price rows of appointment types, read just before them on purpose
        late = [p for p in resource.parents if SYNC_ORDER.index(p) > SYNC_ORDER.index(resource.name)]
        assert late == [] or (resource.name, late) == ("appointment_type_billable_items", ["appointment_types"])


def test_schemas_are_complete_and_keyed() -> None:
    names = sorted(p.stem for p in SCHEMAS.glob("*.json"))
    assert names == sorted(SYNC_ORDER)  # one schema per stream, no stray file
    for name in names:
        schema = json.loads((SCHEMAS / f"{name}.json").read_text())
        assert schema["properties"]["id"]["type"] == "string", name
        if name != "settings":
            assert schema["properties"]["updated_at"]["format"] == "date-time", name
            assert "updated_at" in schema["required"]


URL = "http://h/v1/patients?per_page=2&page=1&q%5B%5D=archived_at%3A%2A"


def _response(rows: list[dict], has_next: bool, url: str = URL) -> requests.Response:
    """A real response, as the SDK hands it to the paginator."""
    links = {"self": url, **({"next": url + "&page=2"} if has_next else {})}
    response = requests.Response()
    response.status_code = 200
    response.raw = io.BytesIO(json.dumps({"patients": rows, "total_entries": 9, "links": links}).encode())
    response.request = requests.Request("GET", url).prepare()
    response.url = url
    return response


def test_paginator_reanchors_on_last_row_instead_of_page_number() -> None:
    pager = KeysetPaginator("patients")
    rows = [{"id": "3", "updated_at": "2024-01-01T00:00:00Z"}, {"id": "9", "updated_at": "2024-01-02T00:00:00Z"}]
    pager.advance(_response(rows, has_next=True))
    url = pager.current_value.geturl()
    assert "page=1" in url
    assert "updated_at%3A%3E%3D2024-01-02T00%3A00%3A00Z" in url
    assert "archived_at%3A%2A" in url  # other filters are kept
    assert pager.cursor == Cursor("2024-01-02T00:00:00Z", 9)
    assert pager.cursor.is_after("2024-01-02T00:00:00Z", 10)
    assert not pager.cursor.is_after("2024-01-02T00:00:00Z", 9)


def test_paginator_switches_to_id_order_when_a_page_shares_one_timestamp() -> None:
    pager = KeysetPaginator("patients")
    same = [{"id": "4", "updated_at": "2024-01-01T00:00:00Z"}, {"id": "8", "updated_at": "2024-01-01T00:00:00Z"}]
    pager.advance(_response(same, has_next=True))
    assert pager.cursor == Cursor("2024-01-01T00:00:00Z", 8, tie=True)
    assert "id%3A%3E8" in pager.current_value.geturl()
    # the tie query runs dry: continue strictly after that timestamp
    pager.advance(_response([{"id": "12", "updated_at": "2024-01-01T00:00:00Z"}], has_next=False))
    assert pager.cursor.strict
    assert "updated_at%3A%3E2024-01-01T00%3A00%3A00Z" in pager.current_value.geturl()
    assert pager.cursor.is_after("2024-01-01T00:00:01Z", 1)
    assert not pager.cursor.is_after("2024-01-01T00:00:00Z", 99)


def test_paginator_stops_without_next_link() -> None:
    pager = KeysetPaginator("patients")
    pager.advance(_response([{"id": "1", "updated_at": "2024-01-01T00:00:00Z"}], has_next=False))
    assert pager.finished


def test_pacer_never_exceeds_the_window() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    pacer = RequestPacer(3, clock=lambda: now[0], sleep=sleep)
    sent = []
    for _ in range(7):
        pacer.acquire()
        sent.append(now[0])
        now[0] += 1
    for i, t in enumerate(sent):  # any 60-s window holds at most 3 requests
        assert sum(1 for u in sent if t <= u < t + 60) <= 3, (i, sent)
    assert sent[3] == pytest.approx(61.0)  # 60-s window plus the arrival-latency margin
    assert pacer.requests == 7


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "7-passwd"),
        ("..\\..\\windows\\system.ini", "7-system.ini"),
        ("scan 2024 (1).pdf", "7-scan 2024 (1).pdf"),
        ("Zoë's röntgen 📷.png", "7-Zoë's röntgen 📷.png"),
        ("..", "7-attachment"),
        ("", "7-attachment"),
        (None, "7-attachment"),
        ("a\x00b\nc.txt", "7-a_b_c.txt"),
    ],
)
def test_safe_file_names(name: str | None, expected: str) -> None:
    assert safe_file_name("7", name) == expected


def test_long_names_are_shortened_keeping_the_extension() -> None:
    out = safe_file_name("7", "x" * 400 + ".pdf")
    assert out.endswith(".pdf")
    assert len(out.encode()) <= 160


def test_row_shape_keeps_only_schema_fields_and_reads_boolean_flags() -> None:
    shape = RowShape.of({"properties": {
        "id": {"type": "string"}, "active": {"type": ["boolean", "null"]}, "label": {"type": ["string", "null"]},
        "patient": {"type": ["object", "null"]}, "patient_id": {"type": ["string", "null"]}}})
    row, unknown = shape.apply({"id": "1", "active": 0, "label": 1, "x_future": {"nested": [1]},
                                "patient": {"links": {"self": "https://h/v1/patients/9"}}})
    assert row == {"id": "1", "active": False, "label": 1, "patient": {"links": {"self": "https://h/v1/patients/9"}},
                   "patient_id": "9"}
    assert unknown == ["x_future"]
    assert shape.apply({"id": "2", "active": None})[0] == {"id": "2", "active": None, "patient": None,
                                                           "patient_id": None}


def test_only_pages_with_a_surrogate_escape_need_the_text_pass() -> None:
    assert may_hold_surrogates(rb'{"patients": [{"notes": "bad \ud800 text"}]}')
    assert may_hold_surrogates(rb'{"notes": "emoji \uD83D\uDE00"}')
    assert not may_hold_surrogates('{"notes": "plain, é and 😀 as UTF-8, \\u00e9"}'.encode())
    assert valid_text({"a": ["x\ud800y"]}) == {"a": ["x\ufffdy"]}
    assert valid_text("😀") == "😀"


def _page(raw: bytes) -> requests.Response:
    response = requests.Response()
    response._content, response.status_code, response.encoding = raw, 200, "utf-8"
    return response


def test_a_page_is_parsed_once_and_what_the_fast_parser_refuses_is_parsed_as_before() -> None:
    page = _page(b'{"patients": [{"id": "1", "first_name": "Zo\\u00eb \xf0\x9f\x98\x80"}]}')
    body = page_body(page)
    assert body == {"patients": [{"id": "1", "first_name": "Zoë 😀"}]}
    assert page_body(page) is body  # the check, the paginator and the rows share one parse
    lone = page_body(_page(b'{"patients": [{"id": "1", "notes": "a\\ud800b"}]}'))  # msgspec refuses, json takes it
    assert valid_text(lone)["patients"][0]["notes"] == "a\ufffdb"
    with pytest.raises(ValueError):
        page_body(_page(b'{"patients": [{"id": "1", "first_na'))
