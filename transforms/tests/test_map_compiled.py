"""The map's rules run as closures compiled at load: these pin what must not change with
that - errors name the failing call's own line, vars stay lazy, fast paths of the hot
functions give what the general code gives, and the dirty-group index follows the list."""

from __future__ import annotations

import html
import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cliniko_map import Map, MapRuntimeError
from cliniko_map.functions.dates import parse_instant, utc_due_time, utc_timestamp
from cliniko_map.functions.html import text_html
from cliniko_map.functions.text import clean
from cliniko_map.state import State

MAP = """\
version: 1
vars:
  broken: {fn: phones, args: [name]}
  first: {fn: clean, args: [first_name]}
streams:
  patients:
    outputs:
      - to: persons
        key: patient
        fields:
          name: {fn: person_name, args: [{var: first}, {fn: clean, args: [{fn: phones, args: [last_name]}]}]}
  contacts:
    outputs:
      - to: persons
        key: contact
        fields:
          name: {fn: person_name, args: [{var: broken}, last_name]}
"""


def line(text: str) -> int:
    return next(i for i, row in enumerate(MAP.splitlines(), 1) if text in row)


def test_an_inner_call_failing_names_its_own_line_and_function_not_the_value() -> None:
    m = Map.from_text(MAP, file="tiny.yaml")
    with pytest.raises(MapRuntimeError) as info:
        m.apply("patients", {"id": "1", "first_name": "Ann", "last_name": "SECRET-NAME"})
    assert str(info.value) == f"tiny.yaml:{line('name: {fn: person_name')}: phones() failed with AttributeError"
    assert "SECRET" not in str(info.value)


def test_a_var_fails_only_the_outputs_that_use_it() -> None:
    m = Map.from_text(MAP, file="tiny.yaml")
    out = m.apply("patients", {"id": "1", "first_name": "  Ann ", "last_name": None})
    assert list(out) == [("persons", {"source_key": "cliniko:patient:1", "name": "Ann"})]
    with pytest.raises(MapRuntimeError, match=rf"^tiny\.yaml:{line('broken:')}: phones\(\) failed with "
                                              r"AttributeError$"):
        m.apply("contacts", {"id": "2", "name": "SECRET", "last_name": "Lee"})


def _clean_reference(value: object) -> str | None:
    """clean() as first written, without its fast path."""
    if value is None or isinstance(value, dict | list | tuple | set | bool):
        return None
    text = re.sub(r"\s+", " ", re.sub(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]", "", unicodedata.normalize("NFC", str(value))))
    return text.strip() or None


@pytest.mark.parametrize("value", ["Anne", "  Anne  Lee ", "a  b   c", "", "   ", "a\tb", "a\nb\r\nc", "x\x00y",
                                   "x\x1fy", "e\u0301", "\u00a0Zoë\u2003Ng\u00a0", "a\x85b", "~!@#$%^&*()", 5, 1.5,
                                   0, True, ["a"], {"a": 1}, None])
def test_clean_fast_path_gives_what_the_general_rule_gives(value: object) -> None:
    assert clean(value) == _clean_reference(value)


@pytest.mark.parametrize("text", ["2024-04-06T16:05:00Z", " 2024-04-06 16:05:00Z ", "2024-04-06T16:05:00+10:00",
                                  "2024-04-06T16:05:00", "2024-04-06", "2024-13-01T00:00:00Z", "not a time", ""])
def test_instants_parse_the_same_every_time(text: str) -> None:
    first = parse_instant(text)
    expected = None
    if text:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "T", 1))
            expected = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except ValueError:
            pass
    assert first == expected and parse_instant(text) == expected
    assert parse_instant(datetime(2024, 4, 6, 16, 5, tzinfo=timezone(timedelta(hours=10)))) == \
        datetime(2024, 4, 6, 6, 5, tzinfo=UTC)


def test_due_time_is_the_utc_wall_time() -> None:
    for minute in range(0, 24 * 60, 37):
        moment = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
        assert utc_due_time(moment.isoformat()) == moment.strftime("%H:%M")
    with pytest.raises(ValueError):
        utc_due_time("yesterday")


def test_dirty_groups_are_a_set_in_key_order_and_version_1_memory_carries_on() -> None:
    state = State.from_dict({"version": 1, "dirty": {"invoices": ["p3", "p1", "p1"]},
                             "waiting": {"patients:7": [["attendees", "1"], ["attendees", "1"]]},
                             "records": {"attendees": {"1": {"id": 1}}}, "artifacts_dirty": ["ref", "ref"]})
    assert state.dirty_groups("invoices") == ["p1", "p3"]  # duplicates of the old list collapse
    assert state.dependants("patients", "7") == [("attendees", {"id": 1})]
    state.mark_dirty("invoices", "p2")
    state.mark_dirty("invoices", "p3")
    assert state.dirty_groups("invoices") == ["p1", "p2", "p3"]
    state.clean("invoices", "p1")
    state.clean("invoices", "p1")
    state.clean("invoices", "nobody")
    state.clean("other", "p2")
    assert state.dirty_groups("invoices") == ["p2", "p3"]
    assert state.artifacts_dirty() == ["ref"]
    again = State.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again.to_dict() == state.to_dict() and again.to_dict()["version"] == 3
    with pytest.raises(ValueError, match="version 4"):
        State.from_dict({"version": 4})


@pytest.mark.parametrize("version", [1, 2])
def test_rollup_parts_kept_one_value_per_group_become_a_row_per_part(version: int) -> None:
    parts = {"invoices": {"10": {"id": "10", "total": "5.00"}, "9": {"id": "9", "total": "7.00"}},
             "items": {"3": {"id": "3"}}}
    old = ({"version": 1, "groups": {"billing": {"p1": parts}}} if version == 1 else
           {"version": 2, "spaces": {"group:billing": {"p1": parts}, "dirty:billing": {"p1": 1}}})
    state = State.from_dict(json.loads(json.dumps(old)))
    spaces = state.to_dict()["spaces"]
    assert "group:billing" not in spaces
    assert spaces["part:billing:p1"] == {"": 1, "invoices/10": parts["invoices"]["10"],
                                         "invoices/9": parts["invoices"]["9"], "items/3": {"id": "3"}}
    # each part in row-id order as text (as version 2 sorted them)
    assert state.group_rows("billing", "p1") == {"invoices": [parts["invoices"]["10"], parts["invoices"]["9"]],
                                                 "items": [{"id": "3"}]}


def test_a_group_whose_parts_were_all_dropped_still_has_figures_and_one_never_seen_has_none() -> None:
    state = State()
    assert state.group_rows("billing", "p1") is None
    state.drop_part("billing", "p1", "invoices", "1")  # nothing to drop: the group stays unseen
    assert state.group_rows("billing", "p1") is None and state.dirty_groups("billing") == []
    assert state.put_part("billing", "p1", "invoices", "1", {"id": "1"})
    assert not state.put_part("billing", "p1", "invoices", "1", {"id": "1"})  # unchanged: not dirty again
    state.clean("billing", "p1")
    assert not state.put_part("billing", "p1", "invoices", "1", {"id": "1"})
    assert state.dirty_groups("billing") == []
    state.drop_part("billing", "p1", "invoices", "1")
    assert state.group_rows("billing", "p1") == {} and state.dirty_groups("billing") == ["p1"]


@pytest.mark.parametrize("text", ["2024-04-06T16:05:09Z", "0999-01-02T03:04:05Z", "0001-01-01T00:00:00Z",
                                  "2024-04-06T16:05:09.999+10:00"])
def test_timestamps_are_written_as_strftime_writes_them(text: str) -> None:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    assert utc_timestamp(text) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("value", ["a & b < c > d", "line\r\nnext\nlast", "&amp;", 'say "hi"', 42, ""])
def test_text_html_escapes_like_the_standard_library(value: object) -> None:
    assert text_html(value) == html.escape(str(value), quote=False).replace("\r\n", "\n").replace("\n", "<br>")
    assert text_html(None) == ""
