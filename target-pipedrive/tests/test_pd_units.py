"""Unit tests of the pure parts: settings, contract, payloads, images, sanitizing, pacing."""

from __future__ import annotations

import random

import pytest

from target_pipedrive.errors import BudgetExhausted
from target_pipedrive.input import contract
from target_pipedrive.pipedrive.client import sanitize, token_cost
from target_pipedrive.pipedrive.pacing import BurstPacer, Slot, TokenBudget
from target_pipedrive.settings import Settings, api_root, base_url_problem
from target_pipedrive.write import images, payloads
from target_pipedrive.write.summary import CheckpointTimes


# -- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["http://example.com", "http://api.pipedrive.com/api/v2", "http://10.0.0.5:8080"])
def test_plain_http_is_refused_unless_loopback(url: str) -> None:
    problem = base_url_problem(url)
    assert problem is not None
    assert problem.count(".") >= 1 and "https://" in problem and "\n" not in problem


@pytest.mark.parametrize("url", ["https://acme.pipedrive.com", "http://127.0.0.1:8123", "http://localhost:1",
                                 "http://[::1]:9000"])
def test_https_and_loopback_are_accepted(url: str) -> None:
    assert base_url_problem(url) is None


def test_api_root_tolerates_pasted_version_suffixes() -> None:
    assert api_root("https://acme.pipedrive.com/api/v2/") == "https://acme.pipedrive.com"
    assert api_root("https://acme.pipedrive.com/v1") == "https://acme.pipedrive.com"


def test_plan_tier_sets_burst_and_budget_defaults_and_explicit_values_win() -> None:
    growth = Settings.from_config({"api_token": "t", "plan_tier": "growth", "seats": 3})
    assert (growth.rate_limit_burst, growth.daily_token_budget) == (40, 30_000 * 2 * 3)
    explicit = Settings.from_config({"api_token": "t", "plan_tier": "growth", "rate_limit_burst": 7,
                                     "daily_token_budget": 99})
    assert (explicit.rate_limit_burst, explicit.daily_token_budget) == (7, 99)
    default = Settings.from_config({"api_token": "t"})
    assert (default.base_url, default.mode, default.crosswalk_url) == (
        "https://api.pipedrive.com", "apply", "sqlite:///output/crosswalk.sqlite")
    with pytest.raises(ValueError, match="mode"):
        Settings.from_config({"api_token": "t", "mode": "yolo"})
    with pytest.raises(ValueError, match="api_token"):
        Settings.from_config({})


# -- contract -------------------------------------------------------------------------------------
def test_contract_messages_name_paths_and_rules_but_never_values() -> None:
    record = {"source_key": "k1", "name": "Secret Patient", "emails": [{"value": 42}], "shoe_size": "44",
              "custom_fields": {"0123456789abcdef0123456789abcdef01234567": "Secret value"}}
    problems = contract.validate("persons", record)
    text = " ".join(problems)
    assert "emails[0].value: must be of type string" in text
    assert "unexpected property shoe_size" in text
    assert "labels, not 40-hex" in text
    for secret in ("Secret", "44", "42"):
        assert secret not in text


def test_contract_requires_key_and_parent_references() -> None:
    assert any("missing required property person_source_key" in p
               for p in contract.validate("notes", {"source_key": "n1", "content": "x"}))
    assert contract.validate("notes", {"source_key": "n1", "content": "x", "person_source_key": "p1"}) == []
    assert contract.validate("files", {"source_key": "f", "person_source_key": "p", "local_path": "/x",
                                       "file_name": "a.pdf", "sha256": "nothex"}) == ["sha256: has the wrong format"]


def test_every_stream_has_a_schema_file() -> None:
    for stream in contract.STREAMS:
        assert contract.schema(stream)["title"] == stream


# -- payloads ---------------------------------------------------------------------------------------
def test_person_body_is_v2_shaped_and_add_time_only_on_create() -> None:
    record = {"source_key": "p1", "name": "Ann", "emails": [{"value": "a@x.example"}], "job_title": None,
              "add_time": "2021-03-04T15:06:07+10:00"}
    create = payloads.person_body(record, custom_fields={"k" * 40: "v"}, owner_id=3, create=True)
    assert create == {"name": "Ann", "emails": [{"value": "a@x.example"}], "owner_id": 3,
                      "add_time": "2021-03-04T05:06:07Z", "custom_fields": {"k" * 40: "v"}}
    assert "add_time" not in payloads.person_body(record, custom_fields={}, owner_id=None, create=False)


def test_note_and_activity_bodies_carry_the_recovery_marker() -> None:
    note = payloads.note_body({"source_key": "n:1&2", "content": "<p>Hi</p>", "add_time": "2024-05-01T10:00:00Z",
                               "pinned": True}, person_id=5, user_id=None)
    assert note["add_time"] == "2024-05-01 10:00:00" and note["pinned_to_person_flag"] == 1
    assert payloads.has_marker(note["content"], "n:1&2") and note["content"].startswith("<p>Hi</p>")
    activity = payloads.activity_body({"source_key": "a1", "subject": "S", "due_time": "09:30:00"}, type_key="call",
                                      owner_id=None, participant_ids=[7, 8])
    assert activity["participants"] == [{"person_id": 7, "primary": True}, {"person_id": 8, "primary": False}]
    assert activity["due_time"] == "09:30" and payloads.has_marker(activity["note"], "a1")
    assert not payloads.has_marker(activity["note"], "a")


def test_payload_hash_is_stable_and_sensitive() -> None:
    a = {"source_key": "p1", "name": "Ann", "emails": []}
    assert payloads.payload_hash("persons", a) == payloads.payload_hash("persons", dict(reversed(list(a.items()))))
    assert payloads.payload_hash("persons", a) != payloads.payload_hash("persons", {**a, "name": "Anne"})
    assert payloads.payload_hash("persons", a) != payloads.payload_hash("products", a)


# -- images -------------------------------------------------------------------------------------------
def test_diff_ignores_server_defaults_and_reports_real_changes() -> None:
    stored = {"name": "Ann", "emails": [{"value": "a@x", "primary": True, "label": "work"}], "owner_id": 1,
              "custom_fields": {"k1": {"value": 5, "currency": "AUD"}, "k2": [3, 1], "k3": None},
              "due_time": "09:30:00"}
    body = {"name": "Ann", "emails": [{"value": "a@x"}], "custom_fields": {"k1": {"value": 5}, "k2": [1, 3],
                                                                           "k3": None}, "due_time": "09:30"}
    assert images.diff(body, stored) == {}
    changed = images.diff({**body, "name": "Anne", "custom_fields": {"k1": {"value": 6}, "k3": "x"}}, stored)
    assert changed == {"name": "Anne", "custom_fields": {"k1": {"value": 6}, "k3": "x"}}
    before = images.extract(changed, stored)
    assert before == {"name": "Ann", "custom_fields": {"k1": {"value": 5, "currency": "AUD"}, "k3": None}}


def test_restore_body_turns_read_shapes_into_write_shapes() -> None:
    before = {"emails": [{"value": "a@x", "primary": True, "label": "home", "extra": 1}],
              "custom_fields": {"set": [], "addr": {"value": "1 St", "route": None}, "enum": {"id": 4, "label": "A"}},
              "pinned_to_person_flag": False}
    assert images.restore_body(before) == {
        "emails": [{"value": "a@x", "label": "home", "primary": True}],
        "custom_fields": {"set": None, "addr": {"value": "1 St"}, "enum": 4}, "pinned_to_person_flag": 0}


def test_changed_since_names_the_drifted_fields_only() -> None:
    after = {"name": "Ann", "custom_fields": {"k": "v"}, "_sha256": "abc"}
    assert images.changed_since(after, {"name": "Ann", "custom_fields": {"k": "v"}}) == []
    assert images.changed_since(after, {"name": "Bob", "custom_fields": {"k": "w"}}) == ["name", "custom_fields.k"]


def test_known_is_what_this_runs_writes_left_and_gives_up_on_a_field_a_matched_object_never_had_written() -> None:
    created = {"name": "Ann", "emails": [{"value": "a@x"}], "custom_fields": {"dob": "1990-01-01", "n": None}}
    rolled = {"custom_fields": {"n": 3}}
    writes = [("created", created), ("updated", rolled)]
    merged = {"name": "Ann", "emails": [{"value": "a@x"}], "custom_fields": {"dob": "1990-01-01", "n": 3}}
    assert images.known({"name": "Ann", "custom_fields": {"n": 4}}, writes) == merged
    # created by this run: a field it never wrote is still empty in Pipedrive, so the diff sends it
    body = {"phones": [{"value": "+1"}], "custom_fields": {"other": 1}}
    assert images.diff(body, images.known(body, writes) or {}) == body
    # found already there: only the fields the run wrote are known
    matched = [("matched", created)]
    assert images.known({"name": "B", "add_time": "x", "_entity": "person"}, matched) is not None  # not fields
    assert images.known({"phones": []}, matched) is None
    assert images.known({"custom_fields": {"other": 1}}, matched) is None
    assert images.known({"name": "Ann"}, []) is None


# -- client helpers and pacing -------------------------------------------------------------------------
def test_sanitize_keeps_parameter_names_and_drops_values() -> None:
    message = ("Validation failed: emails[0].value: Parameter 'emails[0].value' must be a string; "
               "name: 'Jane Citizen' is not allowed; contact jane@x.example or +61 400 123 456")
    clean = sanitize(message, {"emails[0].value", "name"})
    assert "'emails[0].value'" in clean
    assert "Jane" not in clean and "jane@x.example" not in clean and "400 123" not in clean


def test_token_costs_follow_the_spec_table() -> None:
    assert token_cost("POST", "v2", "/persons") == 5
    assert token_cost("PATCH", "v2", "/persons/12") == 5
    assert token_cost("GET", "v1", "/persons/12/files") == 20
    assert token_cost("POST", "v1", "/notes") == 10
    assert token_cost("GET", "v2", "/not-a-known-path") == 20


def _clocked_pacer(limit: int, margin_s: float = 0.02) -> tuple[BurstPacer, list[float]]:
    """A pacer on a clock that only its own waits move on (`now[0]`, moved by the test too)."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    return BurstPacer(limit, window_s=2.0, margin_s=margin_s, clock=lambda: now[0], sleep=sleep), now


def test_burst_pacer_never_exceeds_its_window() -> None:
    sent: list[float] = []
    pacer, now = _clocked_pacer(5, margin_s=0.1)
    for _ in range(40):
        slot = pacer.acquire()
        sent.append(now[0])
        pacer.release(slot)  # answered at once
        now[0] += 0.01
    for i, t in enumerate(sent):
        assert len([s for s in sent[: i + 1] if s > t - 2.0]) <= 5
    pacer.observe("3", "0", "1.5")  # a lower limit from the server
    assert pacer.limit == 3


def test_burst_pacer_obeys_the_reset_header_when_someone_else_fills_the_window() -> None:
    pacer, now = _clocked_pacer(4)
    for _ in range(4):
        pacer.release(pacer.acquire())
    now[0] += 2.5  # our four slots have freed (not yet forgotten); the server counts 4 of someone else's
    pacer.observe("4", "0", "2")
    start = now[0]
    pacer.release(pacer.acquire())
    assert now[0] - start >= 2.0


def test_burst_pacer_a_window_full_of_its_own_requests_waits_for_its_first_slot_not_the_rounded_reset() -> None:
    """Pacing at the limit fills the server's window: its reset header (whole seconds, at least 1) would
    idle the writers for up to a second each time, while the first slot to free is the exact moment."""
    pacer, now = _clocked_pacer(4)
    for _ in range(4):
        pacer.release(pacer.acquire())
        now[0] += 0.1
    pacer.observe("4", "0", "2")  # the 4th request was counted: 0 left, "2 s" to reset (rounded up)
    start = now[0]
    pacer.release(pacer.acquire())
    waited = now[0] - start
    assert 1.6 < waited < 1.7  # the first slot frees 2.02 s after its answer at 0.0, it is now 0.4


def test_burst_pacer_holds_a_slot_until_the_answer_so_a_request_counted_late_stays_inside_the_limit() -> None:
    """Eight writers; each request reaches the server's count 0 to 0.9 s after its slot was claimed (our
    queue, the network, the server's queue): in no 2 s of the server's clock more than the limit."""
    rng = random.Random(7)
    now = [0.0]
    out: list[tuple[float, int, Slot]] = []  # (answer arrives at, n, slot)
    counted: list[float] = []

    def until(moment: float) -> None:  # answers are released when they arrive, while a writer sleeps
        for item in sorted(out):
            if item[0] <= moment:
                now[0] = max(now[0], item[0])
                pacer.release(item[2])
                out.remove(item)
        now[0] = moment

    def sleep(seconds: float) -> None:
        until(now[0] + seconds)

    pacer = BurstPacer(10, window_s=2.0, clock=lambda: now[0], sleep=sleep)
    for n in range(400):
        if len(out) >= 8:
            until(min(item[0] for item in out))
        slot = pacer.acquire()
        delay = rng.choice([0.0, 0.01, 0.02, 0.3, 0.9])
        counted.append(now[0] + delay)
        out.append((now[0] + delay + 0.05, n, slot))
        now[0] += 0.001
    counted.sort()
    busiest = max(sum(1 for c in counted if t - 2.0 < c <= t) for t in counted)
    assert busiest <= 10
    assert len(counted) / counted[-1] >= 0.85 * 10 / 2.0  # and close to the limit: 5 a second allowed


def test_token_budget_stops_before_overspending_and_persists() -> None:
    saved: list[tuple[str, int]] = []
    budget = TokenBudget(daily_limit=20, reserve=0, spent=10, save=lambda day, n: saved.append((day, n)))
    budget.check(10)
    budget.charge(10)
    budget.flush()
    with pytest.raises(BudgetExhausted) as info:
        budget.check(1)
    assert "daily_token_budget" in str(info.value) and info.value.retry_after_s
    assert saved[-1][1] == 20
    server = TokenBudget(daily_limit=10**9, reserve=50)
    server.observe("54")
    server.check(4)
    with pytest.raises(BudgetExhausted, match="reports 54"):
        server.check(5)


# -- label resolution and input normalisation -----------------------------------------------------------
class _NoClient:
    def list_all(self, *args: object, **kwargs: object) -> list[dict[str, object]]:
        return [{"id": 1, "key": "a" * 40, "name": "Level", "field_type": "enum", "edit_flag": True,
                 "options": [{"id": 11, "label": "High"}, {"id": 12, "label": "Low"}]},
                {"id": 2, "key": "b" * 40, "name": "Tags", "field_type": "set", "edit_flag": True,
                 "options": [{"id": 21, "label": "A"}, {"id": 22, "label": "B"}]},
                {"id": 3, "key": "c" * 40, "name": "Start", "field_type": "time", "edit_flag": True},
                {"id": 4, "key": "d" * 40, "name": "Home", "field_type": "address", "edit_flag": True},
                {"id": 5, "key": "name", "name": "Name", "field_type": "varchar", "edit_flag": False},
                {"id": 6, "key": "e" * 40, "name": "Dup", "field_type": "varchar", "edit_flag": True},
                {"id": 7, "key": "f" * 40, "name": "dup", "field_type": "varchar", "edit_flag": True}]

    def get(self, *args: object, **kwargs: object) -> dict[str, object]:
        return {"data": [{"id": 9, "email": "Dr.Who@Clinic.example", "active_flag": True},
                         {"id": 10, "email": "gone@clinic.example", "active_flag": False}]}


def test_resolver_converts_labels_to_ids_and_shapes_per_field_type() -> None:
    from target_pipedrive.errors import RecordError
    from target_pipedrive.write.resolve import Resolver

    resolver = Resolver(_NoClient())  # type: ignore[arg-type]
    out = resolver.custom_fields("person", {"Level": "high", "Tags": ["B", "A"], "Start": "09:15",
                                            "Home": "1 Main St", "tags": []})
    assert out == {"a" * 40: 11, "b" * 40: None, "c" * 40: {"value": "09:15:00"}, "d" * 40: {"value": "1 Main St"}}
    assert resolver.custom_fields("person", {"Tags": ["B", "A"]}) == {"b" * 40: [22, 21]}
    assert resolver.user_id("dr.who@clinic.EXAMPLE") == 9 and resolver.user_id("gone@clinic.example") is None
    for values, code in (({"Level": "Medium"}, "unknown_option"), ({"Name": "x"}, "unknown_field"),
                         ({"DUP": "x"}, "ambiguous_field"), ({"Start": 915}, "bad_value")):
        with pytest.raises(RecordError) as info:
            resolver.custom_fields("person", values)
        assert info.value.code == code


def test_sink_input_is_plain_json_without_singer_metadata() -> None:
    from decimal import Decimal

    from target_pipedrive.input.values import plain

    assert plain({"a": Decimal("3"), "b": [Decimal("20.0"), {"c": Decimal("1.5")}]}) == {"a": 3, "b": [20.0,
                                                                                                       {"c": 1.5}]}
    assert isinstance(plain(Decimal("20.0")), float) and isinstance(plain(Decimal("7")), int)


def test_progress_line_shows_counts_usage_rate_and_eta() -> None:
    import io

    from target_pipedrive.run.progress import Progress

    clock = [0.0]
    out = io.StringIO()
    progress = Progress(interval_s=5, stream=out, clock=lambda: clock[0])
    progress.usage = lambda: (12, 60, 600)
    progress.waiting = lambda: 4
    progress.count("persons", "created", 2)
    assert out.getvalue() == ""  # not yet: the interval has not passed
    clock[0] = 10.0
    progress.count("notes", "held")
    line = out.getvalue()
    for part in ("3 records", "notes held=1", "persons created=2", "12 requests, 60 tokens", "0.3 rec/s",
                 "for 4 waiting", "budget left ~20 writes"):
        assert part in line, part


def test_crosswalk_and_reports_are_owner_only(tmp_path):
    """Both hold patient data (source keys, before-images): no group or world access."""
    import os

    from target_pipedrive.crosswalk import Crosswalk
    from target_pipedrive.workflow import report

    old = os.umask(0o022)
    try:
        crosswalk = Crosswalk(f"sqlite:///{tmp_path / 'out' / 'crosswalk.sqlite'}")
        crosswalk.start_run("apply")
        report.write(crosswalk, tmp_path / "report")
        crosswalk.close()
    finally:
        os.umask(old)
    assert (tmp_path / "out" / "crosswalk.sqlite").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o700
    for name in ("audit.csv", "audit.json"):
        assert (tmp_path / "report" / name).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "report").stat().st_mode & 0o777 == 0o700


def test_the_contract_is_checked_without_reference_lookups() -> None:
    """Every `_common.json` reference is inlined once, so validating a record never resolves one."""
    import json as _json

    from target_pipedrive.input import contract

    for stream in contract.STREAMS:
        assert "$ref" in _json.dumps(contract.schema(stream)), stream  # the files keep their references
        assert "$ref" not in _json.dumps(contract._inlined(contract.schema(stream))), stream


def test_checkpoint_times_keep_the_slowest_periodic_the_last_periodic_and_the_final_one() -> None:
    times = CheckpointTimes()
    assert times.as_dict() == {"count": 0, "max_periodic_s": 0.0, "last_periodic_s": None, "final_s": None}
    times.add(0.5)
    assert times.as_dict() == {"count": 1, "max_periodic_s": 0.0, "last_periodic_s": None, "final_s": 0.5}
    for seconds in (2.0, 0.25, 9.0):  # the last one is the final checkpoint (rollups), not a periodic one
        times.add(seconds)
    assert times.as_dict() == {"count": 4, "max_periodic_s": 2.0, "last_periodic_s": 0.25, "final_s": 9.0}
